-- Creates an organization owned by the caller.  A non-admin may own one.
-- KEYS[1] organization hash   KEYS[2] code index   KEYS[3] caller's owned set   KEYS[4] all organizations (zset)
-- KEYS[5] token index (the lead form's organizationToken -> id)
-- ARGV[1] caller is admin   ARGV[2] created (ms)   ARGV[3] id   ARGV[4..] hash fields and values
-- Returns {'ok', fields} | {'max'} | {'code-taken'}
if ARGV[1] ~= '1' and redis.call('SCARD', KEYS[3]) >= 1 then return {'max'} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'code-taken'} end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('SET', KEYS[2], ARGV[3])
redis.call('SET', KEYS[5], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[3])
return {'ok', redis.call('HGETALL', KEYS[1])}
