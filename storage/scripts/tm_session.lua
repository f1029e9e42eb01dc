--! lib: gcra telemetry
-- POST /sessions (a participant joins: a new session) and PUT /sessions (its
-- details change).  Field values are the request's raw JSON slices.
-- ARGV[6] 'create' | 'update'  [7] app  [8] conference  [9] participant  [10] session
-- [11] sessions in one conference that make multiple_rejoins  [12] the session's start
-- (create: ms, now less the request's delta)  [13..] field, value, ...
-- Returns {'ok'} (create) or {'ok', HGETALL session} (update), or a refusal.
local refused = tm_admit()
if refused then return refused end
local base, conf, par, ses = tm_base(ARGV[7]), ARGV[8], ARGV[9], ARGV[10]
local ckey, skey = base .. ':conf:' .. conf, base .. ':ses:' .. ses
if ARGV[6] == 'update' then
  if redis.call('EXISTS', skey) == 0 then return {'err', 'session_not_found'} end
  if #ARGV > 12 then redis.call('HSET', skey, unpack(ARGV, 13)) end
  tm_touch(skey)
  return {'ok', redis.call('HGETALL', skey)}
end
if redis.call('EXISTS', ckey) == 0 then return {'err', 'conference_not_found'} end
local start = tonumber(ARGV[12])
redis.call('HSET', skey, 'id', ses, 'conference', conf, 'participant', par, 'app', ARGV[7],
           'startMs', start, 'ongoing', '1')
if #ARGV > 12 then redis.call('HSET', skey, unpack(ARGV, 13)) end
for _, index in ipairs({ckey .. ':sessions', base .. ':par:' .. par .. ':sessions',
                        base .. ':sessions'}) do
  redis.call('ZADD', index, start, ses)
  tm_touch(index)
end
tm_owned(ses, ARGV[7])
redis.call('SADD', ckey .. ':live', ses)
redis.call('HSETNX', ckey, 'startMs', start)
redis.call('HSET', ckey, 'ongoing', '1')
redis.call('HDEL', ckey, 'endMs', 'duration')
local joins = redis.call('HINCRBY', ckey .. ':joins', par, 1)
if joins == tonumber(ARGV[11]) then tm_issue(base, conf, 'multiple_rejoins', start, ses, par, '') end
for _, key in ipairs({skey, ckey, ckey .. ':live', ckey .. ':joins'}) do tm_touch(key) end
return {'ok'}
