-- Operators a customer may be offered at a point (API.md §4.1, docs/gigs.md):
-- online, active, not archived, not busy, not locked out, with a fresh
-- location, within the radius, nearest first.
-- KEYS[1]  the operators' GEO set
-- ARGV[1]  key prefix     ARGV[2] longitude   ARGV[3] latitude   ARGV[4] radius (m)
-- ARGV[5]  now (ms)       ARGV[6] location max age (ms)
-- ARGV[7]  how many at most   ARGV[8] how many nearest candidates to look at, at most
-- Returns {id, distance, latitude, longitude, firstName, lastName, ratingSum,
-- ratingCount, ...} flat, nearest first.
local oldest = tonumber(ARGV[5]) - tonumber(ARGV[6])
local want, radius = tonumber(ARGV[7]), tonumber(ARGV[4])
-- Nearest first within a small circle, doubled until it holds
-- enough operators: whoever is outside a circle is farther than everyone in
-- it, so the answer is the same as one search over the whole radius, at the
-- cost of the few operators near the point rather than of every one in the
-- radius (a busy city holds thousands).
-- Candidates are fetched a few more than wanted at a time (busy or stale
-- operators are skipped), more when too many were skipped.
local r, count, scan = math.min(200, radius), want * 2, tonumber(ARGV[8])
while true do
  local found = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[2], ARGV[3],
    'BYRADIUS', r, 'm', 'ASC', 'COUNT', count, 'WITHDIST')
  local out, n = {}, 0
  for _, hit in ipairs(found) do
    local a = redis.call('HMGET', ARGV[1] .. '{acct:' .. hit[1] .. '}', 'type', 'online',
      'status', 'archive', 'busy', 'unrated', 'locMs', 'lat', 'lon', 'firstName', 'lastName',
      'ratingSum', 'ratingCount')
    if a[1] == 'operator' and a[2] == '1' and a[3] == 'active' and a[4] ~= '1'
        and (a[5] or '') == '' and (a[6] or '') == '' and tonumber(a[7] or 0) >= oldest then
      for _, v in ipairs({hit[1], hit[2], a[8], a[9], a[10], a[11], a[12] or '0',
                          a[13] or '0'}) do
        out[#out + 1] = v
      end
      n = n + 1
      if n == want then break end
    end
  end
  if n == want then return out end
  if #found == count then
    -- The circle holds more candidates than were looked at.
    if count >= scan then return out end
    count = math.min(count * 4, scan)
  elseif r >= radius then
    return out
  else
    r = math.min(r * 2, radius)
  end
end
