--! lib: events chatroom
-- GET /room/stop/:id: a member makes its room inactive; its idle deadline
-- is cancelled and, if it was active, the other member is told (event
-- `room`, action `stopped`).  Stopping an inactive room changes nothing.
-- KEYS[1] the room
-- ARGV[1] key prefix   ARGV[2] caller id   ARGV[3] room id   ARGV[4] event log entries
-- kept   ARGV[5] event log lifetime (s)
-- Returns {'ok'} | {'not-found'} (no such room, or not the caller's)
local P, me, id = ARGV[1], ARGV[2], ARGV[3]
local r = redis.call('HMGET', KEYS[1], 'a', 'b', 'active')
local other
if r[1] == me then other = r[2] elseif r[2] == me then other = r[1] else return {'not-found'} end
if r[3] == '1' then
  redis.call('HSET', KEYS[1], 'active', '0', 'idleMs', '')
  redis.call('ZREM', P .. 'deadlines:room', id)
  publish_event(chatroom_acct(P, other) .. ':events', 'room',
    '{"action":"stopped","room_id":' .. id .. '}', ARGV[4], ARGV[5])
end
return {'ok'}
