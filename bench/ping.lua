-- POST with a token per request, cycling through many accounts' tokens, as
-- thousands of dealers pinging would: `wrk -s bench/ping.lua URL -- FILE`,
-- one request a line: a token (an empty body), or a token, a tab and a JSON
-- body (bench/room_setup.py's chat messages); a missing file or none: a
-- placeholder token, for nginx.
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
    local tok, body = line:match("^([^\t]+)\t(.*)$")
    -- an empty body: wrk.format then sends Content-Length: 0
    local headers = {["Authorization"] = "Bearer " .. (tok or line)}
    if body then
      headers["Content-Type"] = "application/json"
    end
    reqs[k] = wrk.format("POST", path, headers, body or "")
  end
  n = #reqs
  -- `id` is this thread's number (setup); with -t2 they start half a list apart
  i = math.floor((id or 0) * n / 2) % n
end

function request()
  i = i % n + 1
  return reqs[i]
end
