-- Opens an event stream: takes a lease against the account's cap of open
-- streams (counted across instances), then reads where the stream starts.
-- KEYS[1]  the account's stream leases (sorted set: member -> expiry, ms)
-- KEYS[2]  the account's event log
-- ARGV[1]  this stream's lease member
-- ARGV[2]  now (ms)
-- ARGV[3]  lease duration (ms)
-- ARGV[4]  streams allowed
-- ARGV[5]  resume after this id, or '' to start after the newest event
-- ARGV[6]  page size
-- Returns {0} at the cap; else {1, start, entries}: start is the newest id
-- ('0-0' for an empty log) when ARGV[5] is '', and entries the first page
-- after ARGV[5] otherwise.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return {0}
end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[5] == '' then
  local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
  return {1, newest[1] and newest[1][1] or '0-0', {}}
end
return {1, '', redis.call('XRANGE', KEYS[2], '(' .. ARGV[5], '+', 'COUNT', ARGV[6])}
