--! lib: claims nearest
-- A customer requests a gig (POST /gigs): offered to the operators the map
-- would list at that point now (lib/nearest.lua), found and written in one
-- step.  The caller's token is checked here too (lib/claims.lua): one round
-- trip.
-- KEYS[1]  the gig (new)   KEYS[2] the customer's account
-- KEYS[3]  its token's revocation key   KEYS[4] the operators' GEO set
-- ARGV[1]  key prefix   ARGV[2] gig id   ARGV[3] customer id   ARGV[4] latitude
-- ARGV[5]  longitude    ARGV[6] deviceId ('' none)   ARGV[7] now (ISO)
-- ARGV[8]  now (ms)     ARGV[9] claim deadline (ms)   ARGV[10] location max age (ms)
-- ARGV[11] the token's gen   ARGV[12] search radius (m)
-- ARGV[13] operators offered, at most   ARGV[14] nearest operators looked at, at most
-- Returns {'ok'} (handlers/gigs.c reads the gig right after, in the same round
-- trip) | {'forbidden'} | {'locked', gigId}
--       | {'conflict'} | {'no-operators'} | {'revoked'} | {'inactive'}
local P = ARGV[1]
local refused, c = claims_account(KEYS[2], KEYS[3], ARGV[11], 'type', 'unrated', 'gig')
if refused then return {refused} end
if c[5] ~= 'user' then return {'forbidden'} end
if (c[6] or '') ~= '' then return {'locked', c[6]} end
if (c[7] or '') ~= '' then return {'conflict'} end
local want = tonumber(ARGV[13])
local _, found = nearest_operators(KEYS[4], P, ARGV[5], ARGV[4], tonumber(ARGV[12]),
  tonumber(ARGV[8]) - tonumber(ARGV[10]), want, tonumber(ARGV[14]), 0)
if #found == 0 then return {'no-operators'} end
local offered = {}
for i = 1, math.min(#found, want) do offered[i] = found[i][1] end
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'status', 'requested', 'lat', ARGV[4], 'lon', ARGV[5],
  'deviceId', ARGV[6], 'customer', ARGV[3], 'operator', '', 'offered', table.concat(offered, ','),
  'rejected', '', 'hsC', '0', 'hsO', '0', 'rateC', '', 'rateO', '', 'createdAt', ARGV[7],
  'updatedAt', ARGV[7], 'createdMs', ARGV[8], 'startedAt', '', 'stoppedAt', '',
  'startedMs', '', 'stoppedMs', '', 'dueMs', ARGV[9])
redis.call('HSET', KEYS[2], 'gig', ARGV[2])
redis.call('ZADD', KEYS[2] .. ':gigs', ARGV[8], ARGV[2])
redis.call('ZADD', P .. 'deadlines:gig', ARGV[9], ARGV[2])
return {'ok'}
