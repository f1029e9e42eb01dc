--! lib: events chatroom
-- GET /webrtc/cameraOn and cameraOff: the caller's camera state (its
-- account's isCamera); when it changes, every contact (the other member of
-- each of its rooms) is told (event `camera`).
-- KEYS[1] the caller's account   KEYS[2] its rooms (sorted set)
-- ARGV[1] key prefix   ARGV[2] '1' on | '0' off   ARGV[3] the event's data
-- ARGV[4] event log entries kept   ARGV[5] event log lifetime (s)   ARGV[6] rooms, at most
-- Returns the number of contacts told.
local P = ARGV[1]
if redis.call('HGET', KEYS[1], 'isCamera') == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'isCamera', ARGV[2])
local me = redis.call('HGET', KEYS[1], 'id')
local seen, n = {}, 0
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[2], 0, tonumber(ARGV[6]) - 1)) do
  local r = redis.call('HMGET', chatroom_key(P, id), 'a', 'b')
  local other = r[1] == me and r[2] or r[1]
  if other and not seen[other] then
    seen[other] = true
    n = n + 1
    publish_event(chatroom_acct(P, other) .. ':events', 'camera', ARGV[3], ARGV[4], ARGV[5])
  end
end
return n
