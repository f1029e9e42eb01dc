-- The organizations a caller sees: all for an admin (oldest first), else the
-- ones it owns plus the one it is an active member of.
-- KEYS[1] caller's owned set   KEYS[2] all organizations (zset)
-- ARGV[1] caller is admin   ARGV[2] caller's organization ('' none)   ARGV[3] caller is active
-- ARGV[4] offset   ARGV[5] limit   ARGV[6] key prefix   ARGV[7] caller id
-- Returns {count, role1, fields1, role2, fields2, ...} for the page
local offset, limit = tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {}
if ARGV[1] == '1' then
  out[1] = redis.call('ZCARD', KEYS[2])
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], offset, offset + limit - 1)) do
    out[#out + 1] = 'admin'
    out[#out + 1] = redis.call('HGETALL', ARGV[6] .. '{org:' .. id .. '}')
  end
  return out
end
local ids = redis.call('SMEMBERS', KEYS[1])
local owned = {}
for _, id in ipairs(ids) do owned[id] = true end
if ARGV[2] ~= '' and ARGV[3] == '1' and not owned[ARGV[2]] then
  if redis.call('HGET', ARGV[6] .. '{org:' .. ARGV[2] .. '}', 'deleted') == '0' then
    ids[#ids + 1] = ARGV[2]
  end
end
table.sort(ids)
out[1] = #ids
for i = offset + 1, math.min(#ids, offset + limit) do
  local id = ids[i]
  out[#out + 1] = owned[id] and 'owner' or 'member'
  out[#out + 1] = redis.call('HGETALL', ARGV[6] .. '{org:' .. id .. '}')
end
return out
