-- Library (see lib/events.lua for how libraries are used): a chat room as
-- one of its two members sees it (docs/chatrooms.md).  A room's messages
-- are kept as "<a|b>" (which member wrote it) followed by the message's JSON
-- without is_readed and without its closing brace; a member has read the
-- other's messages up to its mark (readA, readB).
local CHATROOM_WINDOW = 5 -- messages in a room's detail, the newest

local function chatroom_key(P, id) return P .. '{room:' .. id .. '}' end
local function chatroom_acct(P, id) return P .. '{acct:' .. id .. '}' end

-- The room `id` as member `me` sees it, whose current room is `current`:
-- {id, abonent id, is_current, is_active, is_low_account, activity,
--  is_abonent_camera, {"<0|1 read><message JSON less its closing brace>", ...}}
-- (flags 0/1, oldest message first); nil when there is no such room.
local function chatroom_view(P, id, me, current)
  local k = chatroom_key(P, id)
  local r = redis.call('HMGET', k, 'a', 'b', 'active', 'activity', 'readA', 'readB')
  if not r[1] then return nil end
  local mine, other, readMine, readOther = 'a', r[2], tonumber(r[5]), tonumber(r[6])
  if r[1] ~= me then mine, other, readMine, readOther = 'b', r[1], readOther, readMine end
  local o = redis.call('HMGET', chatroom_acct(P, other), 'status', 'archive', 'isCamera')
  local low = (o[1] ~= 'active' or o[2] == '1') and 1 or 0
  local msgs = {}
  for i, m in ipairs(redis.call('LRANGE', k .. ':msgs', -CHATROOM_WINDOW, -1)) do
    local mid = tonumber(string.match(m, '^.{"id":(%d+)'))
    local read
    if string.sub(m, 1, 1) == mine then read = mid <= readOther else read = mid <= readMine end
    msgs[i] = (read and '1' or '0') .. string.sub(m, 2)
  end
  return {tonumber(id), other, current == id and 1 or 0, r[3] == '1' and 1 or 0, low, r[4],
    o[3] == '1' and 1 or 0, msgs}
end
