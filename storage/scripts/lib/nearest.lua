-- Library: the operators a customer may be offered around a point (API.md
-- §4.1, docs/gigs.md): online, active, not archived, not busy, not locked
-- out, with a fresh location; nearest first.  Used by the map (gig_map.lua)
-- and by a gig's request (gig_create.lua), so both list the same operators.
--
-- nearest_operators(geo, P, lon, lat, limit, oldest, want, scan, margin, ...)
--   geo    the operators' GEO set        P      the key prefix
--   limit  the farthest (m) the answer need reach
--   oldest the oldest location time (ms) still fresh
--   want   how many the answer needs     scan   nearest operators looked at, at most
--   margin (m): the answer needs `want` operators nearer than its reach less
--          the margin (0 for a point; more to serve every point of a cell
--          around this one, docs/gigs.md)
--   ...    account fields to read besides those the filter needs
-- Returns reach (a string, metres) and the available operators nearer than
-- it, nearest first, each {id, distance, {geo longitude, geo latitude},
-- {the extra fields' values}}.
-- Redis GEO indexes latitudes within +-85.05112878 only: nobody is there.
local function nearest_operators(geo, P, lon, lat, limit, oldest, want, scan, margin, ...)
  if math.abs(tonumber(lat)) > 85.05112878 then return tostring(limit), {} end
  local extra = select('#', ...)
  -- Nearest first within a small circle, doubled until it holds enough
  -- operators: whoever is outside a circle is farther than everyone in it, so
  -- the answer is the same as one search over the whole radius, at the cost
  -- of the operators near the point rather than of every one in the radius (a
  -- busy city holds thousands).  Candidates are fetched a few more than
  -- wanted at a time (busy or stale operators are skipped), more when too
  -- many were skipped.
  local r, count, seen = math.min(200, limit), want * 2, {}
  while true do
    local found = redis.call('GEOSEARCH', geo, 'FROMLONLAT', lon, lat,
      'BYRADIUS', r, 'm', 'ASC', 'COUNT', count, 'WITHDIST', 'WITHCOORD')
    local out, dist, inner = {}, {}, 0
    for _, hit in ipairs(found) do
      local id, d = hit[1], tonumber(hit[2])
      local a = seen[id]
      if not a then
        a = redis.call('HMGET', P .. '{acct:' .. id .. '}', 'type', 'online', 'status',
          'archive', 'busy', 'unrated', 'locMs', ...)
        seen[id] = a
      end
      if a[1] == 'operator' and a[2] == '1' and a[3] == 'active' and a[4] ~= '1'
          and (a[5] or '') == '' and (a[6] or '') == '' and tonumber(a[7] or 0) >= oldest then
        out[#out + 1] = {id, hit[2], hit[3], {unpack(a, 8, 7 + extra)}}
        dist[#dist + 1] = d
      end
      -- Everyone nearer than this hit has been looked at.
      while inner < #dist and dist[inner + 1] <= d - margin do inner = inner + 1 end
      if inner >= want then return hit[2], out end
    end
    if #found < count then
      -- The whole circle has been looked at.
      while inner < #dist and dist[inner + 1] <= r - margin do inner = inner + 1 end
      if r >= limit or inner >= want then return tostring(r), out end
      r = math.min(r * 2, limit)
    elseif count >= scan then
      -- Too many unavailable operators around: answer with the nearest.
      return found[#found][2], out
    else
      count = math.min(count * 4, scan)
    end
  end
end
