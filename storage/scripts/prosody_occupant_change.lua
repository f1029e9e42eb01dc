--! lib: prosody
-- A live occupant of the room holding roomJid changes (PUT
-- /api/v1/occupants/:jid) or leaves (DELETE).
-- KEYS[1] the occupant-jid index entry
-- ARGV[1] key prefix   ARGV[2] action: update | leave   ARGV[3] roomJid
-- ARGV[4..] update: the fields to set and their values
-- Returns 'ok' | 'no-occupant'
local P = ARGV[1]
local room, _, n, occ = prosody_live_occupant(P, KEYS[1])
if not room or redis.call('HGET', occ, 'roomJid') ~= ARGV[3] then return 'no-occupant' end
if ARGV[2] == 'leave' then
  prosody_leave(P, room, n, occ, prosody_now())
else
  redis.call('HSET', occ, 'updatedAt', prosody_now(), unpack(ARGV, 4))
end
return 'ok'
