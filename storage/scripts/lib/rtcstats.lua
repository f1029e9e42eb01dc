-- Library (see lib/events.lua for how libraries are used): folds one /stats
-- sample into a connection's quality aggregates, a hash.  argv[first..last]
-- are the (field, op, value) triples of protocol/rtcstats.h's rtc_updates;
-- docs/telemetry.md ("Quality aggregates") names the fields.  Per field:
--   "=" the value; "+" an integer sum; "f" a real sum; ">" the larger of the
--   stored and the new value; "<" the smaller (the earliest time); "^" the
--   new value when the latest "<" before it took its new value.
-- One HMGET and one HSET whatever the number of fields: a sample writes
-- about fifty, and every /stats request runs this.
local function rtcstats_apply(key, argv, first, last)
  last = last or #argv
  local fields = {}
  for i = first, last - 2, 3 do fields[#fields + 1] = argv[i] end
  if #fields == 0 then return end
  local cur = redis.call('HMGET', key, unpack(fields))
  local out, j, earlier = {}, 0, false
  for i = first, last - 2, 3 do
    j = j + 1
    local op, v, c = argv[i + 1], argv[i + 2], tonumber(cur[j])
    local new
    if op == '=' then
      new = v
    elseif op == '+' then
      new = string.format('%d', (c or 0) + tonumber(v))
    elseif op == 'f' then
      new = string.format('%.15g', (c or 0) + tonumber(v))
    elseif op == '>' then
      if not c or tonumber(v) > c then new = v end
    elseif op == '<' then
      earlier = not c or tonumber(v) < c
      if earlier then new = v end
    elseif op == '^' then
      if earlier then new = v end
    end
    if new then
      out[#out + 1] = argv[i]
      out[#out + 1] = new
    end
  end
  if #out > 0 then redis.call('HSET', key, unpack(out)) end
end
