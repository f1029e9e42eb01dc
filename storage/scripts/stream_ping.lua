-- A dealer's heartbeat (POST /ping, the hottest route of dealer streams): in
-- one round trip, the token's checks (AUTH_CLAIMS: revoked, password changed,
-- inactive), then the dealer is alive, so eligible for requests, and its
-- streaming stream's expiry moves forward.
-- KEYS[1]  the dealer's account   KEYS[2] the token's revocation key
-- ARGV[1]  key prefix   ARGV[2] dealer id   ARGV[3] the token's gen
-- ARGV[4]  now (ms)     ARGV[5] ping timeout (ms)
-- Returns {'ok', expiry (ms): the stream's, or when the dealer stops being
-- eligible} | {'revoked'} | {'inactive'} | {'forbidden'} (not a dealer)
local P, me, nowms = ARGV[1], ARGV[2], tonumber(ARGV[4])
if redis.call('EXISTS', KEYS[2]) == 1 then return {'revoked'} end
local a = redis.call('HMGET', KEYS[1], 'id', 'gen', 'status', 'archive', 'type', 'organization',
  'streaming')
if not a[1] or tonumber(a[2] or '0') ~= tonumber(ARGV[3]) then return {'revoked'} end
if a[3] ~= 'active' or a[4] == '1' then return {'inactive'} end
if a[5] ~= 'dealer' then return {'forbidden'} end
local expires = nowms + tonumber(ARGV[5])
redis.call('HSET', KEYS[1], 'pingMs', ARGV[4])
local org = a[6] or ''
if org ~= '' then redis.call('ZADD', P .. '{org:' .. org .. '}:pinged', nowms, me) end
local sid = a[7] or ''
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
return {'ok', expires}
