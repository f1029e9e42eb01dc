-- An account's gigs (as customer or assigned operator), newest first.
-- KEYS[1]  the account's gig index (sorted set: createdMs -> gig id)
-- ARGV[1]  key prefix   ARGV[2] statuses wanted as ",a,b," ('' = all)
-- ARGV[3]  offset       ARGV[4] limit
-- Returns {count of matching gigs, {gig fields, ...}}
local off, lim = tonumber(ARGV[3]), tonumber(ARGV[4])
local total, page = 0, {}
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local k = ARGV[1] .. '{gig:' .. id .. '}'
  local st = redis.call('HGET', k, 'status')
  if st and (ARGV[2] == '' or string.find(ARGV[2], ',' .. st .. ',', 1, true)) then
    if total >= off and #page < lim then page[#page + 1] = redis.call('HGETALL', k) end
    total = total + 1
  end
end
return {total, page}
