--! lib: prosody
-- An occupant joined a room (POST /api/v1/occupants): the live room holding
-- roomJid gains it, unless a live occupant anywhere has its jid.  Checked
-- and written at once, so a room that ends meanwhile gets no occupant.
-- KEYS[1] the room-jid index entry   KEYS[2] the occupant-jid index entry
-- ARGV[1] key prefix   ARGV[2..] the occupant's fields and values
-- Returns 'ok' | 'no-room' | 'duplicate'
local P = ARGV[1]
local session = redis.call('GET', KEYS[1])
if not session then return 'no-room' end
local room = prosody_room_key(P, session)
if redis.call('HGET', room, 'endedAt') ~= '' then return 'no-room' end
if prosody_live_occupant(P, KEYS[2]) then return 'duplicate' end
local now = prosody_now()
local n = tostring(redis.call('HINCRBY', room, 'occupantSeq', 1))
local occ = room .. ':occupant:' .. n
redis.call('HSET', occ, 'joinedAt', now, 'leftAt', '', 'updatedAt', now, unpack(ARGV, 2))
redis.call('RPUSH', room .. ':occupants', n)
redis.call('SADD', room .. ':live', n)
redis.call('HSET', KEYS[2], 'room', session, 'occupant', n)
return 'ok'
