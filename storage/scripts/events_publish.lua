--! lib: events
-- Publishes events (storage/scripts/lib/events.lua) in order.  One call
-- carries the events an instance produced in one turn of its loop.
-- KEYS[i]  the i-th event's recipient log (a Stream), also its Pub/Sub channel
-- ARGV[1]  entries kept per log (at least; trimming is approximate)
-- ARGV[2]  seconds a log lives after its newest event
-- ARGV[1 + 2i], ARGV[2 + 2i]  the i-th event's name and data (JSON)
-- Returns the events' ids.
local ids = {}
for i, key in ipairs(KEYS) do
  ids[i] = publish_event(key, ARGV[1 + 2 * i], ARGV[2 + 2 * i], ARGV[1], ARGV[2])
end
return ids
