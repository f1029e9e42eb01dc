-- POST JSON bodies in turn, as many SDK clients would, the way
-- @peermetrics/sdk sends them (Content-Type text/plain, no CORS preflight):
-- `wrk -s bench/telemetry_post.lua URL -- BODIES_FILE` (one body a line, each
-- holding its client's token; bench/telemetry_setup.py writes them). A
-- missing or empty file: one placeholder body. Each thread starts at its own
-- place in the list; the requests are built once, in init, so that the
-- client spends nothing per request.
local reqs = {}
local n, i = 0, 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  local headers = {["Content-Type"] = "text/plain;charset=UTF-8"}
  local f = args[1] and io.open(args[1], "r")
  if f then
    for line in f:lines() do
      if #line > 0 then
        reqs[#reqs + 1] = wrk.format("POST", wrk.path, headers, line)
      end
    end
    f:close()
  end
  if #reqs == 0 then
    reqs[1] = wrk.format("POST", wrk.path, headers, "{}")
  end
  n = #reqs
  i = math.floor((id or 0) * n / 2) % n
end

function request()
  i = i % n + 1
  return reqs[i]
end
