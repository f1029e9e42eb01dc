-- A party of a stream's chat writes a message (POST /chat/:streamId): the
-- stream's guest, or the dealer that accepted it.  The message is numbered by
-- the stream's chatSeq and kept as its JSON; the chat keeps the newest ARGV[4].
-- KEYS[1] the stream   KEYS[2] its chat (list, oldest first)
-- ARGV[1] the caller: guest | account   ARGV[2] its id
-- ARGV[3] the message's JSON after its id: ',"from":...}'   ARGV[4] how many messages are kept
-- Returns {'ok', message JSON, the other party's kind (acct | guest), its id ('' none)}
--   | {'not-found'} (no such stream, or the caller is not a party)
local s = redis.call('HMGET', KEYS[1], 'id', 'guest', 'dealer')
if not s[1] then return {'not-found'} end
local guest, dealer = s[2] or '', s[3] or ''
local kind, other
if ARGV[1] == 'guest' and guest ~= '' and guest == ARGV[2] then
  kind, other = 'acct', dealer
elseif ARGV[1] == 'account' and dealer ~= '' and dealer == ARGV[2] then
  kind, other = 'guest', guest
else
  return {'not-found'}
end
local msg = '{"id":' .. redis.call('HINCRBY', KEYS[1], 'chatSeq', 1) .. ARGV[3]
redis.call('RPUSH', KEYS[2], msg)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[4]), -1)
return {'ok', msg, kind, other}
