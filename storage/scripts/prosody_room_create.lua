--! lib: prosody
-- Prosody created a room (POST /api/v1/rooms).  A session names one room
-- forever; a live room that still holds the jid is one whose destroy Prosody
-- never sent, and is ended first (docs/prosody.md).
-- KEYS[1] the room (new)   KEYS[2] the room-jid index entry
-- ARGV[1] key prefix   ARGV[2] name   ARGV[3] session   ARGV[4] jid
-- Returns 'ok' | 'duplicate'
local P = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 1 then return 'duplicate' end
local now = prosody_now()
local stale = redis.call('GET', KEYS[2])
if stale then prosody_end_room(P, stale, now) end
redis.call('HSET', KEYS[1], 'name', ARGV[2], 'session', ARGV[3], 'jid', ARGV[4],
  'createdAt', now, 'endedAt', '', 'occupantSeq', '0')
redis.call('SET', KEYS[2], ARGV[3])
return 'ok'
