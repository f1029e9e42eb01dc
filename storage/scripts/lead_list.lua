-- The leads a caller may read (GET /leads), newest first: every lead for an
-- admin, else those of the organizations it owns and of the one it is a
-- dealer of (deleted organizations' leads are not shown).
-- KEYS[1] all leads (zset)   KEYS[2] the caller's owned organizations (set)
-- ARGV[1] key prefix   ARGV[2] caller is admin   ARGV[3] the caller's organization when it is a dealer, else ''
-- ARGV[4] offset   ARGV[5] limit
-- Returns {count, {lead fields, ...}} | {'forbidden'} (neither a dealer of an organization nor an owner)
local P, off, lim = ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[5])

local function page(ids, count)
  local out = {}
  for _, id in ipairs(ids) do out[#out + 1] = redis.call('HGETALL', P .. '{lead:' .. id .. '}') end
  return {count, out}
end

if ARGV[2] == '1' then
  return page(redis.call('ZREVRANGE', KEYS[1], off, off + lim - 1), redis.call('ZCARD', KEYS[1]))
end
local orgs = redis.call('SMEMBERS', KEYS[2])
if #orgs == 0 and ARGV[3] == '' then return {'forbidden'} end
if ARGV[3] ~= '' then
  local owned = false
  for _, id in ipairs(orgs) do owned = owned or id == ARGV[3] end
  if not owned and redis.call('HGET', P .. '{org:' .. ARGV[3] .. '}', 'deleted') == '0' then
    orgs[#orgs + 1] = ARGV[3]
  end
end
if #orgs == 1 then
  local k = P .. '{org:' .. orgs[1] .. '}:leads'
  return page(redis.call('ZREVRANGE', k, off, off + lim - 1), redis.call('ZCARD', k))
end
-- An owner that is also a dealer elsewhere: merge, in ZREVRANGE's order.
local all = {}
for _, org in ipairs(orgs) do
  local r = redis.call('ZREVRANGE', P .. '{org:' .. org .. '}:leads', 0, -1, 'WITHSCORES')
  for i = 1, #r, 2 do all[#all + 1] = {r[i], tonumber(r[i + 1])} end
end
table.sort(all, function(a, b)
  if a[2] ~= b[2] then return a[2] > b[2] end
  return a[1] > b[1]
end)
local ids = {}
for i = off + 1, math.min(#all, off + lim) do ids[#ids + 1] = all[i][1] end
return page(ids, #all)
