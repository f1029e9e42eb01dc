--! lib: nearest
-- The operators a map shows around a point (lib/nearest.lua).
-- KEYS[1]  the operators' GEO set
-- ARGV[1]  key prefix     ARGV[2] longitude   ARGV[3] latitude
-- ARGV[4]  the farthest (m) the answer need reach
-- ARGV[5]  now (ms)       ARGV[6] location max age (ms)
-- ARGV[7]  how many the answer needs   ARGV[8] nearest operators looked at, at most
-- ARGV[9]  margin (m), as lib/nearest.lua says
-- Returns {reach, id, distance, geo longitude, geo latitude, latitude,
-- longitude, firstName, lastName, ratingSum, ratingCount, ...}: every
-- available operator nearer than `reach` metres, nearest first.
local reach, found = nearest_operators(KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]),
  tonumber(ARGV[5]) - tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]),
  tonumber(ARGV[9]), 'lat', 'lon', 'firstName', 'lastName', 'ratingSum', 'ratingCount')
local out = {reach}
for _, o in ipairs(found) do
  local f = o[4]
  for _, v in ipairs({o[1], o[2], o[3][1], o[3][2], f[1], f[2], f[3], f[4], f[5] or '0',
                      f[6] or '0'}) do
    out[#out + 1] = v
  end
end
return out
