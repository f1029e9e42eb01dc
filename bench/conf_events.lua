-- GET /conferences/:id/events pages of 50 at offsets spread over the whole
-- conference, with an account token:
--   wrk -s bench/conf_events.lua URL -- TOKEN CONFERENCE_ID EVENTS
-- The requests (one per offset step) are built once, in init, and cycled, so
-- that the client spends nothing per request; each thread starts at its own
-- place.
local reqs = {}
local n, i = 0, 0
local threads = 0
local STEPS = 997 -- a prime: the offsets visit the stream out of order

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  local token, conf, events = args[1] or "none", args[2] or "none", tonumber(args[3] or "100000")
  local headers = {["Authorization"] = "Bearer " .. token}
  for k = 0, STEPS - 1 do
    local offset = (k * 7919) % STEPS * math.floor((events - 50) / (STEPS - 1))
    reqs[k + 1] = wrk.format("GET", "/conferences/" .. conf .. "/events?limit=50&offset=" .. offset,
                             headers)
  end
  n = #reqs
  i = math.floor((id or 0) * n / 2) % n
end

function request()
  i = i % n + 1
  return reqs[i]
end
