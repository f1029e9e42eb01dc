-- Creates a telemetry app in an organization, for its members and admins.
-- KEYS[1] organization hash  KEYS[2] the api_key index  KEYS[3] the organization's apps (set)
-- ARGV[1] caller id  [2] caller is admin  [3] caller's organization ('' none)
-- [4] caller is active  [5] app hash key  [6..] app fields and values
-- Returns {'ok', HGETALL app} | {'not-found'} | {'key-taken'}
local o = redis.call('HMGET', KEYS[1], 'id', 'owner', 'deleted')
if not o[1] or o[3] == '1' then return {'not-found'} end
if not (ARGV[2] == '1' or o[2] == ARGV[1] or (ARGV[3] == o[1] and ARGV[4] == '1')) then
  return {'not-found'}
end
if redis.call('EXISTS', KEYS[2]) == 1 then return {'key-taken'} end
redis.call('HSET', ARGV[5], unpack(ARGV, 6))
local id = redis.call('HGET', ARGV[5], 'id')
redis.call('SET', KEYS[2], id)
redis.call('SADD', KEYS[3], id)
return {'ok', redis.call('HGETALL', ARGV[5])}
