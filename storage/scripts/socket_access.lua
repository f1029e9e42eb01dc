-- Whether a caller may subscribe to the Pusher channel of one gig, stream or
-- organization (POST /socket/auth, docs/streams.md).  Reads only.
-- KEYS[1] the hash the channel is about: the gig, the stream, or the caller's organization
-- ARGV[1] kind: gig | stream | org
-- ARGV[2] gig: the caller's account id; stream: the caller's guest id ('' for a dealer)
-- ARGV[3] stream: the dealer's organization id ('' for a guest); org: the code the channel names
-- Returns 1 when allowed, 0 when not (a hash that does not exist allows nothing)
local kind = ARGV[1]
if kind == 'gig' then
  local g = redis.call('HMGET', KEYS[1], 'customer', 'operator')
  if ARGV[2] ~= '' and (g[1] == ARGV[2] or g[2] == ARGV[2]) then return 1 end
elseif kind == 'stream' then
  local s = redis.call('HMGET', KEYS[1], 'guest', 'org')
  if ARGV[2] ~= '' and s[1] == ARGV[2] then return 1 end
  if ARGV[3] ~= '' and s[2] == ARGV[3] then return 1 end
elseif kind == 'org' then
  local o = redis.call('HMGET', KEYS[1], 'code', 'deleted')
  if ARGV[3] ~= '' and o[1] == ARGV[3] and o[2] ~= '1' then return 1 end
end
return 0
