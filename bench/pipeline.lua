-- HTTP/1.1 pipelining for wrk: every write carries `depth` requests
-- (default 16), built once with wrk.format, so wrk counts each response and
-- records one latency per batch.
--   wrk -s bench/pipeline.lua http://127.0.0.1:8080/health -- 16

local batch

function init(args)
  local depth = tonumber(args[1]) or 16
  batch = string.rep(wrk.format(wrk.method, wrk.path, wrk.headers, wrk.body), depth)
end

function request()
  return batch
end
