-- POST /room/message as many chat room members in turn, as a busy chat
-- would: `wrk -s bench/room_message.lua URL -- REQUESTS_FILE`, one request a
-- line, "<token>\t<JSON body>" (bench/room_setup.py; a missing file: one
-- placeholder request, for nginx).  Each thread starts at its own place in
-- the list; the requests are built once, in init.
local reqs = {}
local n, i = 0, 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  local f = args[1] and io.open(args[1], "r")
  if f then
    for line in f:lines() do
      local tok, body = line:match("^([^\t]+)\t(.+)$")
      if tok then
        reqs[#reqs + 1] = wrk.format("POST", wrk.path, {["Authorization"] = "Bearer " .. tok,
          ["Content-Type"] = "application/json"}, body)
      end
    end
    f:close()
  end
  if #reqs == 0 then
    reqs[1] = wrk.format("POST", wrk.path, {["Content-Type"] = "application/json"}, "{}")
  end
  n = #reqs
  -- `id` is this thread's number (setup); with -t2 they start half a list apart
  i = math.floor((id or 0) * n / 2) % n
end

function request()
  i = i % n + 1
  return reqs[i]
end
