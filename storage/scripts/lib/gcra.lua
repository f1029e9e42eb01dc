-- Library: the generic cell rate algorithm, shared by ratelimit.lua (the
-- route pipeline's limiters) and the telemetry scripts, which fold their
-- client-IP limit into the route's own script (one round trip).
-- A limiter of R per minute has emission interval 60000 / R ms and admits a
-- burst of R.  gcra_look returns the ms to wait (0: admitted) and the
-- limiter's new theoretical arrival time; gcra_charge stores that time.
local function gcra_look(key, now, interval)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local wait = tat - now - (60000 - interval)
  if wait < 0 then wait = 0 end
  return wait, tat + interval
end
local function gcra_charge(key, now, tat)
  redis.call('SET', key, tat, 'PX', math.max(1, tat - now))
end
