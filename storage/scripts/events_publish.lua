-- Appends an event to a recipient's log and publishes it to every instance,
-- atomically: the order of the log is the order of publication.
-- KEYS[1]  the recipient's event log (a Stream), also the Pub/Sub channel
-- ARGV[1]  event name
-- ARGV[2]  data (JSON)
-- ARGV[3]  entries kept (at least; trimming is approximate)
-- ARGV[4]  seconds the log lives after its newest event
-- Returns the event's id.  The message is "<id>\n<event>\n<data>".
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[1], 'd', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', KEYS[1], id .. '\n' .. ARGV[1] .. '\n' .. ARGV[2])
return id
