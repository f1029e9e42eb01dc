--! lib: claims events chatroom
-- POST /room/message (the hot route of chat rooms): in one round trip, the
-- token's checks (lib/claims.lua), then a member writes to its room: the
-- message gets an id from the deployment's counter, the room becomes active
-- (with an idle deadline if it had none: chatroom_idle.lua moves a deadline
-- that comes too early), the other member has read it at once if this room
-- is its current room, and is told (event `room`, action `message`).
-- KEYS[1] the caller's account   KEYS[2] the token's revocation key   KEYS[3] the room
-- ARGV[1] key prefix   ARGV[2] caller id   ARGV[3] the token's gen   ARGV[4] room id
-- ARGV[5] the message, JSON-escaped   ARGV[6] now (unix seconds, float)   ARGV[7] now (ISO)
-- ARGV[8] idle deadline (ms)   ARGV[9] messages kept per room   ARGV[10] event log entries
-- kept   ARGV[11] event log lifetime (s)
-- Returns {'ok', view less its messages (lib/chatroom.lua; handlers/chatrooms.c reads them
-- right after)} | {'revoked'} | {'inactive'} | {'not-found'}
local P, me, id = ARGV[1], ARGV[2], ARGV[4]
local refused, acc = claims_account(KEYS[1], KEYS[2], ARGV[3], 'currentRoom')
if refused then return {refused} end
local r = chatroom_fields(KEYS[3])
local role, other
if r[1] == me then role, other = 'a', r[2]
elseif r[2] == me then role, other = 'b', r[1]
else return {'not-found'} end
local oacct = chatroom_acct(P, other)
local o = redis.call('HMGET', oacct, 'status', 'archive', 'isCamera', 'currentRoom')
-- A string once: each use of a number where a string is wanted formats it again.
local mid = tostring(redis.call('INCR', P .. 'messages:seq'))
local msg = '{"id":' .. mid .. ',"message":"' .. ARGV[5] .. '","author_id":"' .. me ..
  '","created":"' .. ARGV[7] .. '"'
-- Trimmed back to the number kept once it is a quarter over, not on every message.
local kept = tonumber(ARGV[9])
if redis.call('RPUSH', KEYS[3] .. ':msgs', role .. msg) > kept + kept / 4 then
  redis.call('LTRIM', KEYS[3] .. ':msgs', -kept, -1)
end
local read = o[4] == id
local mark = role == 'a' and 'readB' or 'readA'
if read then
  redis.call('HSET', KEYS[3], 'active', '1', 'activity', ARGV[6], 'idleMs', ARGV[8],
    'lastMsg', mid, mark, mid)
  r[role == 'a' and 6 or 5] = mid
else
  redis.call('HSET', KEYS[3], 'active', '1', 'activity', ARGV[6], 'idleMs', ARGV[8],
    'lastMsg', mid)
end
if r[3] ~= '1' then redis.call('ZADD', P .. 'deadlines:room', ARGV[8], id) end
r[3], r[4] = '1', ARGV[6]
publish_event(oacct .. ':events', 'room',
  '{"action":"message","room_id":' .. id .. ',"message":' .. msg .. ',"is_readed":' ..
  tostring(read) .. '}}', ARGV[10], ARGV[11])
return {'ok', chatroom_view_of(id, me, r, o, acc[5])}
