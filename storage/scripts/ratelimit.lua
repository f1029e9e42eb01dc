--! lib: gcra
-- Generic cell rate algorithm over several limiters at once: either every one
-- admits the request and each is charged, or none is charged.
-- KEYS[i] a limiter   ARGV[1] now (ms)   ARGV[1 + i] emission interval of KEYS[i] (us: lib/gcra.lua)
-- Returns 0 when admitted, else the ms to wait.
local now = tonumber(ARGV[1])
local retry = 0
local tats = {}
for i, key in ipairs(KEYS) do
  local wait
  wait, tats[i] = gcra_look(key, now, tonumber(ARGV[i + 1]))
  retry = math.max(retry, wait)
end
if retry > 0 then return retry end
for i, key in ipairs(KEYS) do gcra_charge(key, now, tats[i]) end
return 0
