-- Appends events to their recipients' logs and publishes each to every
-- instance, atomically and in order: the order of a log is the order of
-- publication.  One call carries the events an instance produced in one
-- turn of its loop.
-- KEYS[i]  the i-th event's recipient log (a Stream), also its Pub/Sub channel
-- ARGV[1]  entries kept per log (at least; trimming is approximate)
-- ARGV[2]  seconds a log lives after its newest event
-- ARGV[1 + 2i], ARGV[2 + 2i]  the i-th event's name and data (JSON)
-- Returns the events' ids.  A message is "<id>\n<event>\n<data>".
local ids = {}
for i, key in ipairs(KEYS) do
  local event, data = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
  local id = redis.call('XADD', key, 'MAXLEN', '~', ARGV[1], '*', 'e', event, 'd', data)
  redis.call('EXPIRE', key, ARGV[2])
  redis.call('PUBLISH', key, id .. '\n' .. event .. '\n' .. data)
  ids[i] = id
end
return ids
