-- A page of an entity index (gigs of an account, streams of an
-- organization), newest first, filtered by status.
-- KEYS[1]  the index (sorted set: creation ms -> id)
-- ARGV[1]  the entities' key up to their id ("<prefix>{gig:")
-- ARGV[2]  statuses wanted as ",a,b," ('' = all)
-- ARGV[3]  offset       ARGV[4] limit
-- Returns {count of matching entities, {entity fields, ...}}
local off, lim = tonumber(ARGV[3]), tonumber(ARGV[4])
local total, page = 0, {}
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local k = ARGV[1] .. id .. '}'
  local st = redis.call('HGET', k, 'status')
  if st and (ARGV[2] == '' or string.find(ARGV[2], ',' .. st .. ',', 1, true)) then
    if total >= off and #page < lim then page[#page + 1] = redis.call('HGETALL', k) end
    total = total + 1
  end
end
return {total, page}
