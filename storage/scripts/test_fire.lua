-- Fires a deadline of the "test" kind (test hooks only): records the member on
-- a list, then removes the deadline, in that order, so that a member claimed
-- twice would show up twice on the list.
-- KEYS[1] deadlines sorted set   KEYS[2] list of fired members   ARGV[1] member
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
