--! lib: prosody
-- Prosody destroyed a room (DELETE /api/v1/rooms/:session): it ends, with
-- its live occupants.  The body's jid must be the room's.
-- KEYS[1] the room   ARGV[1] key prefix   ARGV[2] session   ARGV[3] jid
-- Returns 'ok' | 'no-room' (no such session, or another jid) | 'duplicate' (already ended)
local f = redis.call('HMGET', KEYS[1], 'jid', 'endedAt')
if not f[1] or f[1] ~= ARGV[3] then return 'no-room' end
if f[2] ~= '' then return 'duplicate' end
prosody_end_room(ARGV[1], ARGV[2], prosody_now())
return 'ok'
