-- A customer requests a gig (POST /gigs): offered to the candidates that are
-- still available now (the map's filters, rechecked atomically).
-- KEYS[1]  the gig (new)   KEYS[2] the customer's account
-- ARGV[1]  key prefix   ARGV[2] gig id   ARGV[3] customer id   ARGV[4] latitude
-- ARGV[5]  longitude    ARGV[6] deviceId ('' none)   ARGV[7] now (ISO)
-- ARGV[8]  now (ms)     ARGV[9] claim deadline (ms)   ARGV[10] location max age (ms)
-- ARGV[11..] candidate operator ids, nearest first
-- Returns {'ok', gig fields} | {'locked', gigId} | {'conflict'} | {'no-operators'}
local P = ARGV[1]
local c = redis.call('HMGET', KEYS[2], 'unrated', 'gig')
if (c[1] or '') ~= '' then return {'locked', c[1]} end
if (c[2] or '') ~= '' then return {'conflict'} end
local oldest = tonumber(ARGV[8]) - tonumber(ARGV[10])
local offered = {}
for i = 11, #ARGV do
  local a = redis.call('HMGET', P .. '{acct:' .. ARGV[i] .. '}', 'type', 'online', 'status',
    'archive', 'busy', 'unrated', 'locMs')
  if a[1] == 'operator' and a[2] == '1' and a[3] == 'active' and a[4] ~= '1'
      and (a[5] or '') == '' and (a[6] or '') == '' and tonumber(a[7] or 0) >= oldest then
    offered[#offered + 1] = ARGV[i]
  end
end
if #offered == 0 then return {'no-operators'} end
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'status', 'requested', 'lat', ARGV[4], 'lon', ARGV[5],
  'deviceId', ARGV[6], 'customer', ARGV[3], 'operator', '', 'offered', table.concat(offered, ','),
  'rejected', '', 'hsC', '0', 'hsO', '0', 'rateC', '', 'rateO', '', 'createdAt', ARGV[7],
  'updatedAt', ARGV[7], 'createdMs', ARGV[8], 'startedAt', '', 'stoppedAt', '',
  'startedMs', '', 'stoppedMs', '', 'dueMs', ARGV[9])
redis.call('HSET', KEYS[2], 'gig', ARGV[2])
redis.call('ZADD', KEYS[2] .. ':gigs', ARGV[8], ARGV[2])
redis.call('ZADD', P .. 'deadlines:gig', ARGV[9], ARGV[2])
return {'ok', redis.call('HGETALL', KEYS[1])}
