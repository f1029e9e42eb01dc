-- Library (see lib/events.lua for how libraries are used): a chat room as
-- one of its two members sees it (docs/chatrooms.md).  A room's messages
-- are kept as "<a|b>" (which member wrote it) followed by the message's JSON
-- without is_readed and without its closing brace; a member has read the
-- other's messages up to its mark (readA, readB), so whether a message is
-- read is worked out by the reader of the view (handlers/chatrooms.c).
local CHATROOM_WINDOW = 5 -- messages in a room's detail, the newest

local function chatroom_key(P, id) return P .. '{room:' .. id .. '}' end
local function chatroom_acct(P, id) return P .. '{acct:' .. id .. '}' end

-- The room's fields a view needs.
local function chatroom_fields(k)
  return redis.call('HMGET', k, 'a', 'b', 'active', 'activity', 'readA', 'readB')
end

-- The view of room `id` (fields r) for member `me`, whose current room is
-- `current`, given the other member's fields o (status, archive, isCamera),
-- less its messages: {id, abonent id, is_current, is_active, is_low_account,
-- activity, is_abonent_camera, my letter (a | b), my mark, the abonent's
-- mark} (flags 0/1).
local function chatroom_view_of(id, me, r, o, current)
  local mine, other, myMark, theirMark = 'a', r[2], r[5], r[6]
  if r[1] ~= me then mine, other, myMark, theirMark = 'b', r[1], r[6], r[5] end
  return {tonumber(id), other, current == id and 1 or 0, r[3] == '1' and 1 or 0,
    (o[1] ~= 'active' or o[2] == '1') and 1 or 0, r[4], o[3] == '1' and 1 or 0, mine,
    tonumber(myMark), tonumber(theirMark)}
end

-- The view of room `id` for member `me`, reading it, with its newest
-- messages as its last element ({stored message, ...}, oldest first); nil
-- when there is no such room.
local function chatroom_view(P, id, me, current)
  local k = chatroom_key(P, id)
  local r = chatroom_fields(k)
  if not r[1] then return nil end
  local other = r[1] == me and r[2] or r[1]
  local o = redis.call('HMGET', chatroom_acct(P, other), 'status', 'archive', 'isCamera')
  local v = chatroom_view_of(id, me, r, o, current)
  v[#v + 1] = redis.call('LRANGE', k .. ':msgs', -CHATROOM_WINDOW, -1)
  return v
end
