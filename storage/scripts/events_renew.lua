-- Renews an open stream's lease (see events_open.lua).
-- KEYS[1]  the account's stream leases
-- ARGV[1]  the lease member
-- ARGV[2]  its new expiry (ms)
-- ARGV[3]  lease duration (ms)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
