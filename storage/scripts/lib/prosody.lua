-- Library (see lib/events.lua for how libraries are used): the keys of
-- Prosody rooms and occupants (docs/prosody.md, "Storage") and what more
-- than one of their scripts does.
-- Now by the store's clock, as ISO 8601 UTC with milliseconds: one clock for
-- every instance, so that no room ends before it began and no occupant
-- leaves before it joined, whichever instances wrote them.
local function prosody_now()
  local t = redis.call('TIME')
  local s, ms = tonumber(t[1]), math.floor(tonumber(t[2]) / 1000)
  local rem = s % 86400
  -- the civil date of a day count from 1970-01-01 (H. Hinnant's days_from_civil, inverted)
  local z = (s - rem) / 86400 + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d, math.floor(rem / 3600),
    math.floor(rem % 3600 / 60), rem % 60, ms)
end

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
