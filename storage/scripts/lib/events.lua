-- Library (prepended by cmake/embed_scripts.cmake to scripts whose first line
-- is "--! lib: events", or names it among others: "--! lib: claims events"):
-- appends an event to a recipient's log and publishes it, so that the log's
-- order is the order of publication, and so that a script can report a
-- change atomically with making it.
-- key: the recipient's log (a Stream), also its channel.  A message is
-- "<id>\n<event>\n<data>".  Returns the event's id.
local function publish_event(key, event, data, keep, ttl)
  local id = redis.call('XADD', key, 'MAXLEN', '~', keep, '*', 'e', event, 'd', data)
  redis.call('EXPIRE', key, ttl)
  redis.call('PUBLISH', key, id .. '\n' .. event .. '\n' .. data)
  return id
end
