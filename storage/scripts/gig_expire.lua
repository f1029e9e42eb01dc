-- A gig's deadline fired (the reaper claimed it): a gig still requested or
-- claimed past its due time expires.
-- KEYS[1]  the gig   ARGV[1] key prefix   ARGV[2] gig id   ARGV[3] now (ISO)
-- ARGV[4]  now (ms)
-- Returns {'expired', status it had, gig fields} | {'none'}
local P, id = ARGV[1], ARGV[2]
local deadlines = P .. 'deadlines:gig'
local f = redis.call('HMGET', KEYS[1], 'status', 'dueMs', 'customer', 'operator')
if f[1] ~= 'requested' and f[1] ~= 'claimed' then
  redis.call('ZREM', deadlines, id)
  return {'none'}
end
-- Moved to a later deadline meanwhile (claimed): that one will fire.
if tonumber(f[2]) > tonumber(ARGV[4]) then return {'none'} end
redis.call('HSET', KEYS[1], 'status', 'expired', 'updatedAt', ARGV[3])
redis.call('ZREM', deadlines, id)
for _, p in ipairs({{f[3], 'gig'}, {f[4] or '', 'busy'}}) do
  local k = P .. '{acct:' .. p[1] .. '}'
  if p[1] ~= '' and redis.call('HGET', k, p[2]) == id then redis.call('HSET', k, p[2], '') end
end
return {'expired', f[1], redis.call('HGETALL', KEYS[1])}
