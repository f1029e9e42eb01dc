-- A shopper requests a stream from an organization (docs/streams.md): offered
-- to every eligible dealer of it, or `missed-offline` when there is none.
-- KEYS[1]  the stream (new)   KEYS[2] the organization code's index entry
-- ARGV[1]  key prefix   ARGV[2] stream id   ARGV[3] guest id   ARGV[4] vin
-- ARGV[5]  sessionId ('' none)   ARGV[6] now (ISO)   ARGV[7] now (ms)
-- ARGV[8]  accept deadline (ms)   ARGV[9] ping timeout (ms)
-- Returns {'ok', stream fields} | {'not-found'}
local P, id, nowms = ARGV[1], ARGV[2], tonumber(ARGV[7])
local org = redis.call('GET', KEYS[2])
if not org then return {'not-found'} end
local o = redis.call('HMGET', P .. '{org:' .. org .. '}', 'id', 'deleted')
if not o[1] or o[2] == '1' then return {'not-found'} end
-- Dealers that pinged within the timeout; the rest are dropped (a ping adds
-- them back).
local pinged = P .. '{org:' .. org .. '}:pinged'
redis.call('ZREMRANGEBYSCORE', pinged, '-inf', '(' .. (nowms - tonumber(ARGV[9])))
local offered = {}
for _, d in ipairs(redis.call('ZRANGE', pinged, 0, -1)) do
  local a = redis.call('HMGET', P .. '{acct:' .. d .. '}', 'type', 'organization', 'status',
    'archive', 'online', 'streaming')
  if a[1] ~= 'dealer' or a[2] ~= org then
    redis.call('ZREM', pinged, d)
  elseif a[3] == 'active' and a[4] ~= '1' and a[5] == '1' and (a[6] or '') == '' then
    offered[#offered + 1] = d
  end
end
local status = #offered > 0 and 'requested' or 'missed-offline'
redis.call('HSET', KEYS[1], 'id', id, 'status', status, 'org', org, 'vin', ARGV[4],
  'sessionId', ARGV[5], 'guest', ARGV[3], 'dealer', '', 'offered', table.concat(offered, ','),
  'note', '', 'createdAt', ARGV[6], 'createdMs', ARGV[7], 'updatedAt', ARGV[6],
  'acceptByMs', #offered > 0 and ARGV[8] or '', 'acceptedAt', '', 'expiresMs', '',
  'stoppedAt', '', 'stoppedBy', '', 'endedAt', #offered > 0 and '' or ARGV[6], 'chatSeq', '0')
redis.call('ZADD', P .. '{org:' .. org .. '}:streams', ARGV[7], id)
redis.call('ZADD', P .. 'streams:all', ARGV[7], id)
if #offered > 0 then redis.call('ZADD', P .. 'deadlines:stream', ARGV[8], id) end
return {'ok', redis.call('HGETALL', KEYS[1])}
