--! lib: chatroom
-- GET /room/list and GET /room/select/:id: the caller's rooms (at most
-- ARGV[4], the newest; handlers/chatrooms.c orders them by activity), and
-- its contacts (the other members).
-- Selecting a room makes it the caller's current room and marks every
-- message the other member wrote in it read.
-- KEYS[1] the caller's account   KEYS[2] its rooms (sorted set: activity -> room id)
-- ARGV[1] key prefix   ARGV[2] caller id   ARGV[3] room to select ('' none)
-- ARGV[4] rooms read, at most
-- Returns {'ok', current room id ('' none), {view, ...}, {{id, username, firstName,
--   lastName, online, isCamera}, ...}} | {'not-found'} (selecting another's room)
local P, me = ARGV[1], ARGV[2]
local current = redis.call('HGET', KEYS[1], 'currentRoom') or ''
if ARGV[3] ~= '' then
  local k = chatroom_key(P, ARGV[3])
  local r = redis.call('HMGET', k, 'a', 'b', 'lastMsg')
  if r[1] ~= me and r[2] ~= me then return {'not-found'} end
  current = ARGV[3]
  redis.call('HSET', KEYS[1], 'currentRoom', current)
  redis.call('HSET', k, r[1] == me and 'readA' or 'readB', r[3])
end
local views, contacts, seen, listed = {}, {}, {}, false
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[4]) - 1)) do
  local v = chatroom_view(P, id, me, current)
  if v then
    views[#views + 1] = v
    listed = listed or id == current
    local other = v[2]
    if not seen[other] then
      seen[other] = true
      local u = redis.call('HMGET', chatroom_acct(P, other), 'username', 'firstName', 'lastName',
        'online', 'isCamera')
      contacts[#contacts + 1] = {other, u[1], u[2], u[3], u[4], u[5]}
    end
  end
end
return {'ok', listed and current or '', views, contacts}
