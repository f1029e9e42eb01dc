-- Generic cell rate algorithm over several limiters at once: either every one
-- admits the request and each is charged, or none is charged.
-- KEYS[i] a limiter   ARGV[1] now (ms)   ARGV[1 + i] emission interval of KEYS[i] (ms)
-- A limiter of R per minute has interval 60000 / R and admits a burst of R.
-- Returns 0 when admitted, else the ms to wait.
local now = tonumber(ARGV[1])
local retry = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[i + 1])
  local tolerance = 60000 - interval
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  if tat - now > tolerance then
    retry = math.max(retry, tat - now - tolerance)
  end
  tats[i] = tat + interval
end
if retry > 0 then return retry end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, tats[i], 'PX', math.max(1, tats[i] - now))
end
return 0
