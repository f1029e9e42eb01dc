-- Library (see lib/events.lua for how libraries are used): the keys of
-- Prosody rooms and occupants (docs/prosody.md, "Storage") and what more
-- than one of their scripts does.
local function prosody_room_key(P, session) return P .. '{prosody-room:' .. session .. '}' end
local function prosody_room_jid_key(P, jid) return P .. '{prosody-roomjid:' .. jid .. '}' end

-- The live occupant an occupant-jid index entry names: its room's key and
-- session, its number and its key; nil when there is none.
local function prosody_live_occupant(P, index)
  local e = redis.call('HMGET', index, 'room', 'occupant')
  if not e[1] then return nil end
  local room = prosody_room_key(P, e[1])
  local occ = room .. ':occupant:' .. e[2]
  if redis.call('HGET', occ, 'leftAt') ~= '' then return nil end
  return room, e[1], e[2], occ
end

-- An occupant leaves at `now`: off its room's live set and the jid index.
local function prosody_leave(P, room, n, occ, now)
  local jid = redis.call('HGET', occ, 'jid')
  redis.call('HSET', occ, 'leftAt', now, 'updatedAt', now)
  redis.call('SREM', room .. ':live', n)
  local index = P .. '{prosody-occupant:' .. jid .. '}'
  if redis.call('HGET', index, 'occupant') == n and
     prosody_room_key(P, redis.call('HGET', index, 'room')) == room then
    redis.call('DEL', index)
  end
end

-- Ends the live room of `session` at `now`: its live occupants leave and its
-- jid is free again.  False when there is no such live room.
local function prosody_end_room(P, session, now)
  local room = prosody_room_key(P, session)
  local f = redis.call('HMGET', room, 'jid', 'endedAt')
  if not f[1] or f[2] ~= '' then return false end
  redis.call('HSET', room, 'endedAt', now)
  local jidkey = prosody_room_jid_key(P, f[1])
  if redis.call('GET', jidkey) == session then redis.call('DEL', jidkey) end
  for _, n in ipairs(redis.call('SMEMBERS', room .. ':live')) do
    prosody_leave(P, room, n, room .. ':occupant:' .. n, now)
  end
  return true
end
