-- A chat room's idle deadline fired (the reaper claimed it): an active room
-- without a message for ONAIR_CHAT_IDLE_MS becomes inactive, once.  Messages
-- move the room's idleMs, not its deadline (chatroom_message.lua): a
-- deadline that comes before idleMs is moved there.
-- KEYS[1] the room   ARGV[1] key prefix   ARGV[2] room id   ARGV[3] now (ISO)
-- ARGV[4] now (ms)
-- Returns {'expired', 'idle', room fields} | {'none'}
local deadlines = ARGV[1] .. 'deadlines:room'
local f = redis.call('HMGET', KEYS[1], 'active', 'idleMs')
if f[1] ~= '1' then
  redis.call('ZREM', deadlines, ARGV[2])
  return {'none'}
end
if tonumber(f[2]) > tonumber(ARGV[4]) then
  redis.call('ZADD', deadlines, f[2], ARGV[2])
  return {'none'}
end
redis.call('HSET', KEYS[1], 'active', '0', 'idleMs', '', 'idleAt', ARGV[3])
redis.call('ZREM', deadlines, ARGV[2])
return {'expired', 'idle', redis.call('HGETALL', KEYS[1])}
