-- POST with a token per request, cycling through many accounts' tokens, as
-- thousands of dealers pinging would: `wrk -s bench/ping.lua URL -- FILE`,
-- one request a line: a token (an empty body), or a token, a tab and a JSON
-- body (bench/room_setup.py's chat messages); a missing file or none: a
-- placeholder token, for nginx.
-- With `-- BODIES_FILE body` each line is instead a JSON body that holds its
-- client's token, posted as the peermetrics SDK posts (Content-Type
-- text/plain, no CORS preflight): the telemetry scenarios
-- (bench/telemetry_setup.py writes the bodies).  With `-- PATHS_FILE get
-- TOKEN` each line is a path to GET with that account token (conf_events).
-- Each thread starts at its own place in the list; the requests are built
-- once, in init, so that the client spends nothing per request.
local reqs = {}
local n, i = 0, 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  local lines = {}
  local f = args[1] and io.open(args[1], "r")
  if f then
    for line in f:lines() do
      if #line > 0 then
        lines[#lines + 1] = line
      end
    end
    f:close()
  end
  if #lines == 0 then
    lines[1] = "none"
  end
  local path = wrk.path
  for k, line in ipairs(lines) do
    if args[2] == "body" then
      reqs[k] = wrk.format("POST", path, {["Content-Type"] = "text/plain;charset=UTF-8"},
                           line == "none" and "{}" or line)
    elseif args[2] == "get" then
      reqs[k] = wrk.format("GET", line == "none" and path or line,
                           {["Authorization"] = "Bearer " .. (args[3] or "none")})
    else
      local tok, body = line:match("^([^\t]+)\t(.*)$")
      -- an empty body: wrk.format then sends Content-Length: 0
      local headers = {["Authorization"] = "Bearer " .. (tok or line)}
      if body then
        headers["Content-Type"] = "application/json"
      end
      reqs[k] = wrk.format("POST", path, headers, body or "")
    end
  end
  n = #reqs
  -- `id` is this thread's number (setup); with -t2 they start half a list apart
  i = math.floor((id or 0) * n / 2) % n
end

function request()
  i = i % n + 1
  return reqs[i]
end
