-- A stream's deadline fired (the reaper claimed it): a requested stream
-- nobody accepted in time is `missed`; a streaming one whose dealer stopped
-- pinging is `expired`, and the dealer is free again.
-- KEYS[1]  the stream   ARGV[1] key prefix   ARGV[2] stream id   ARGV[3] now (ISO)
-- ARGV[4]  now (ms)
-- Returns {'expired', new status, stream fields} | {'none'}
local P, id, nowms = ARGV[1], ARGV[2], tonumber(ARGV[4])
local deadlines = P .. 'deadlines:stream'
local f = redis.call('HMGET', KEYS[1], 'status', 'acceptByMs', 'expiresMs', 'dealer')
local new, due
if f[1] == 'requested' then new, due = 'missed', f[2]
elseif f[1] == 'streaming' then new, due = 'expired', f[3]
else
  redis.call('ZREM', deadlines, id)
  return {'none'}
end
-- Moved to a later deadline meanwhile (a ping): that one will fire.
if tonumber(due) > nowms then return {'none'} end
redis.call('HSET', KEYS[1], 'status', new, 'updatedAt', ARGV[3], 'endedAt', ARGV[3],
  'acceptByMs', '', 'expiresMs', '')
redis.call('ZREM', deadlines, id)
local d = f[4] or ''
if d ~= '' and redis.call('HGET', P .. '{acct:' .. d .. '}', 'streaming') == id then
  redis.call('HSET', P .. '{acct:' .. d .. '}', 'streaming', '')
end
return {'expired', new, redis.call('HGETALL', KEYS[1])}
