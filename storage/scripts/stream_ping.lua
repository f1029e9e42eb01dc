-- A dealer's heartbeat (POST /ping): it is alive, so eligible for requests,
-- and its streaming stream's expiry moves forward.
-- KEYS[1]  the dealer's account
-- ARGV[1]  key prefix   ARGV[2] dealer id   ARGV[3] its organization ('' none)
-- ARGV[4]  now (ms)     ARGV[5] ping timeout (ms)
-- Returns the expiry (ms): the stream's, or when the dealer stops being eligible.
local P, me, nowms = ARGV[1], ARGV[2], tonumber(ARGV[4])
local expires = nowms + tonumber(ARGV[5])
redis.call('HSET', KEYS[1], 'pingMs', ARGV[4])
if ARGV[3] ~= '' then redis.call('ZADD', P .. '{org:' .. ARGV[3] .. '}:pinged', nowms, me) end
local sid = redis.call('HGET', KEYS[1], 'streaming') or ''
if sid ~= '' then
  local s = P .. '{stream:' .. sid .. '}'
  local f = redis.call('HMGET', s, 'status', 'dealer')
  if f[1] == 'streaming' and f[2] == me then
    redis.call('HSET', s, 'expiresMs', expires)
    redis.call('ZADD', P .. 'deadlines:stream', expires, sid)
  else
    redis.call('HSET', KEYS[1], 'streaming', '')
  end
end
return expires
