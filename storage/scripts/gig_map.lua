-- The operators a customer may be offered around a point (API.md §4.1,
-- docs/gigs.md): online, active, not archived, not busy, not locked out, with
-- a fresh location; nearest first.
-- KEYS[1]  the operators' GEO set
-- ARGV[1]  key prefix     ARGV[2] longitude   ARGV[3] latitude
-- ARGV[4]  the farthest (m) the answer need reach
-- ARGV[5]  now (ms)       ARGV[6] location max age (ms)
-- ARGV[7]  how many the answer needs   ARGV[8] nearest operators looked at, at most
-- ARGV[9]  margin (m): the answer needs ARGV[7] operators nearer than its
--          reach less the margin (0 for a point; more to serve every point of
--          a cell around this one, docs/gigs.md)
-- Returns {reach, id, distance, geo longitude, geo latitude, latitude,
-- longitude, firstName, lastName, ratingSum, ratingCount, ...}: every
-- available operator nearer than `reach` metres, nearest first.
-- Redis GEO indexes latitudes within +-85.05112878 only: nobody is there.
if math.abs(tonumber(ARGV[3])) > 85.05112878 then return {ARGV[4]} end
local P, limit, oldest = ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[5]) - tonumber(ARGV[6])
local want, scan, margin = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
-- Nearest first within a small circle, doubled until it holds enough
-- operators: whoever is outside a circle is farther than everyone in it, so
-- the answer is the same as one search over the whole radius, at the cost of
-- the operators near the point rather than of every one in the radius (a busy
-- city holds thousands).  Candidates are fetched a few more than wanted at a
-- time (busy or stale operators are skipped), more when too many were skipped.
local r, count, seen = math.min(200, limit), want * 2, {}
while true do
  local found = redis.call('GEOSEARCH', KEYS[1], 'FROMLONLAT', ARGV[2], ARGV[3],
    'BYRADIUS', r, 'm', 'ASC', 'COUNT', count, 'WITHDIST', 'WITHCOORD')
  local out, dist, inner = {''}, {}, 0
  for _, hit in ipairs(found) do
    local id, d = hit[1], tonumber(hit[2])
    local a = seen[id]
    if not a then
      a = redis.call('HMGET', P .. '{acct:' .. id .. '}', 'type', 'online', 'status', 'archive',
        'busy', 'unrated', 'locMs', 'lat', 'lon', 'firstName', 'lastName', 'ratingSum',
        'ratingCount')
      seen[id] = a
    end
    if a[1] == 'operator' and a[2] == '1' and a[3] == 'active' and a[4] ~= '1'
        and (a[5] or '') == '' and (a[6] or '') == '' and tonumber(a[7] or 0) >= oldest then
      for _, v in ipairs({id, hit[2], hit[3][1], hit[3][2], a[8], a[9], a[10], a[11],
                          a[12] or '0', a[13] or '0'}) do
        out[#out + 1] = v
      end
      dist[#dist + 1] = d
    end
    -- Everyone nearer than this hit has been looked at.
    while inner < #dist and dist[inner + 1] <= d - margin do inner = inner + 1 end
    if inner >= want then
      out[1] = hit[2]
      return out
    end
  end
  if #found < count then
    -- The whole circle has been looked at.
    while inner < #dist and dist[inner + 1] <= r - margin do inner = inner + 1 end
    if r >= limit or inner >= want then
      out[1] = tostring(r)
      return out
    end
    r = math.min(r * 2, limit)
  elseif count >= scan then
    -- Too many unavailable operators around: answer with the nearest.
    out[1] = found[#found][2]
    return out
  else
    count = math.min(count * 4, scan)
  end
end
