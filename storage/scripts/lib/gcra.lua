-- Library: the generic cell rate algorithm, shared by ratelimit.lua (the
-- route pipeline's limiters) and the telemetry scripts, which fold their
-- client-IP limit into the route's own script (one round trip).
-- A limiter of R per minute has emission interval 60 000 000 / R
-- microseconds and admits a burst of R.  The theoretical arrival time is kept
-- in microseconds, so that every rate up to 60 000 000 a minute keeps an
-- exact interval (in whole milliseconds, any rate above 60 000 a minute was
-- 60 000).  now is in ms, interval in us.  The limiters' keys are named
-- gcra:* since that change (they were rl:*), so that while a deployment's
-- instances are upgraded one at a time, none reads a time in the other unit.
-- gcra_look returns the ms to wait (0: admitted) and the limiter's new
-- theoretical arrival time; gcra_charge stores that time.
local function gcra_look(key, now, interval)
  now = now * 1000
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local wait = tat - now - (60000000 - interval)
  if wait < 0 then wait = 0 end
  return math.ceil(wait / 1000), tat + interval
end
local function gcra_charge(key, now, tat)
  redis.call('SET', key, string.format('%d', tat), 'PX', math.max(1, math.ceil(tat / 1000 - now)))
end
