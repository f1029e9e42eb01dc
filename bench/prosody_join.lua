-- POST /api/v1/occupants with the service token, every request another
-- occupant (a new jid) of the room bench/run.sh's set-up made:
-- `wrk -s bench/prosody_join.lua URL -- <service token>`.
local counter = 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. (args[1] or "none")
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  -- `id` is this thread's number (setup), so threads never share a jid
  local body = string.format('{"jid":"u%d-%d@bench.test/web","roomJid":' ..
    '"bench-room@conference.bench.test","nick":"User %d","role":"participant",' ..
    '"email":"u%d@bench.test","userAgent":"wrk","ip":"192.0.2.1"}',
    id or 0, counter, counter, counter)
  return wrk.format(nil, nil, nil, body)
end
