-- Reads, changes, deletes an app or resets its key, for members of its
-- organization (its owner and its active accounts) and admins; anyone else
-- is told it does not exist.
-- KEYS[1] app hash
-- ARGV[1] action: get | update | delete | reset  [2] caller id  [3] caller is admin
-- [4] caller's organization ('' none)  [5] caller is active  [6] key prefix
-- [7] new api_key (reset)  [8..] fields and values (update)
-- Returns {'ok', HGETALL app} | {'not-found'} | {'key-taken'}
local a = redis.call('HMGET', KEYS[1], 'id', 'organization', 'deleted', 'api_key')
if not a[1] or a[3] == '1' then return {'not-found'} end
local org = ARGV[6] .. '{org:' .. a[2] .. '}'
local o = redis.call('HMGET', org, 'owner', 'deleted')
if o[2] == '1' then return {'not-found'} end
if not (ARGV[3] == '1' or o[1] == ARGV[2] or (ARGV[4] == a[2] and ARGV[5] == '1')) then
  return {'not-found'}
end
local index = ARGV[6] .. 'idx:appkey:'
if ARGV[1] == 'update' and #ARGV >= 9 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 8))
elseif ARGV[1] == 'reset' then
  if redis.call('EXISTS', index .. ARGV[7]) == 1 then return {'key-taken'} end
  redis.call('DEL', index .. a[4])
  redis.call('SET', index .. ARGV[7], a[1])
  redis.call('HSET', KEYS[1], 'api_key', ARGV[7])
elseif ARGV[1] == 'delete' then
  redis.call('HSET', KEYS[1], 'deleted', '1')
  redis.call('DEL', index .. a[4])
  redis.call('SREM', org .. ':apps', a[1])
end
return {'ok', redis.call('HGETALL', KEYS[1])}
