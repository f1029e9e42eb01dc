--! lib: claims
-- A dealer's heartbeat (POST /ping, the hottest route of dealer streams): in
-- one round trip, the token's checks (lib/claims.lua), then the dealer is
-- alive, so eligible for requests, and its streaming stream's expiry moves
-- forward.
-- KEYS[1]  the dealer's account   KEYS[2] the token's revocation key
-- ARGV[1]  key prefix   ARGV[2] dealer id   ARGV[3] the token's gen
-- ARGV[4]  now (ms)     ARGV[5] ping timeout (ms)
-- Returns {'ok', expiry (ms): the stream's, or when the dealer stops being
-- eligible (the same: now + the timeout)} | {'revoked'} | {'inactive'}
-- | {'forbidden'} (not a dealer)
local P, me, nowms = ARGV[1], ARGV[2], tonumber(ARGV[4])
local refused, a = claims_account(KEYS[1], KEYS[2], ARGV[3], 'type', 'organization', 'streaming')
if refused then return {refused} end
if a[5] ~= 'dealer' then return {'forbidden'} end
local expires = nowms + tonumber(ARGV[5])
redis.call('HSET', KEYS[1], 'pingMs', ARGV[4])
local org = a[6] or ''
if org ~= '' then redis.call('ZADD', P .. '{org:' .. org .. '}:pinged', nowms, me) end
local sid = a[7] or ''
if sid ~= '' then
  local s = P .. '{stream:' .. sid .. '}'
  local f = redis.call('HMGET', s, 'status', 'dealer', 'expiresMs')
  if f[1] == 'streaming' and f[2] == me then
    -- Past its expiry the stream is over, whether or not a reaper has marked
    -- it `expired` yet (it is about to): a late ping does not revive it.
    if (tonumber(f[3]) or 0) > nowms then
      redis.call('HSET', s, 'expiresMs', expires)
      redis.call('ZADD', P .. 'deadlines:stream', expires, sid)
    end
  else
    redis.call('HSET', KEYS[1], 'streaming', '')
  end
end
return {'ok', expires}
