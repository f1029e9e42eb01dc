-- A page of a stream's chat, oldest first (GET /chat/:streamId), for its
-- guest, the dealer that accepted it, or an admin.
-- KEYS[1] the stream   KEYS[2] its chat (list, oldest first)
-- ARGV[1] the caller: guest | account | admin   ARGV[2] its id   ARGV[3] start   ARGV[4] limit
-- Returns {'ok', number of messages kept, {message JSON, ...}}
--   | {'not-found'} (no such stream, or the caller may not read it)
local s = redis.call('HMGET', KEYS[1], 'id', 'guest', 'dealer')
if not s[1] then return {'not-found'} end
local guest, dealer = s[2] or '', s[3] or ''
local allowed = ARGV[1] == 'admin'
  or (ARGV[1] == 'guest' and guest ~= '' and guest == ARGV[2])
  or (ARGV[1] == 'account' and dealer ~= '' and dealer == ARGV[2])
if not allowed then return {'not-found'} end
local start = tonumber(ARGV[3])
return {'ok', redis.call('LLEN', KEYS[2]),
  redis.call('LRANGE', KEYS[2], start, start + tonumber(ARGV[4]) - 1)}
