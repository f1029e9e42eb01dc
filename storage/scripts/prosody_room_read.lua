-- A Prosody room with every occupant it had, in the order they joined
-- (GET /api/v1/rooms/:session).
-- KEYS[1] the room
-- Returns {room fields, {occupant fields, ...}} | {} (no such room)
local room = redis.call('HGETALL', KEYS[1])
if #room == 0 then return {} end
local occupants = {}
for _, n in ipairs(redis.call('LRANGE', KEYS[1] .. ':occupants', 0, -1)) do
  occupants[#occupants + 1] = redis.call('HGETALL', KEYS[1] .. ':occupant:' .. n)
end
return {room, occupants}
