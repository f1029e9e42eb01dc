--! lib: gcra telemetry
-- POST /initialize: the store's checks of API.md §6.1 in their order (the
-- app behind the key and its organization, recording, Origin, quota), then
-- the conference (claimed by its client id: concurrent calls make one) and
-- the participant.
-- ARGV[6] apiKey  [7] Origin's host ('' none)  [8] conferenceId  [9] conferenceName
-- [10] userId  [11] userName  [12] id for a new conference  [13] id for a new participant
-- [14] conference limits " plan=N ... " (default plan first)  [15] month YYYYMM
-- [16] a new conference's creation (ms, now less the request's delta)
-- Returns {'ok', app id, conference id, participant id, interval} or a refusal.
local refused = tm_admit()
if refused then return refused end
local app = redis.call('GET', tm_prefix .. 'idx:appkey:' .. ARGV[6])
if not app then return {'err', 'invalid_api_key'} end
local a = redis.call('HMGET', tm_prefix .. '{app:' .. app .. '}', 'organization', 'recording',
                     'domain', 'interval', 'deleted')
if not a[1] or a[5] == '1' then return {'err', 'invalid_api_key'} end
-- An app of a deleted organization is not active either (its app routes
-- answer 404): its key names no app.
local org = tm_prefix .. '{org:' .. a[1] .. '}'
local o = redis.call('HMGET', org, 'id', 'deleted', 'plan')
if not o[1] or o[2] == '1' then return {'err', 'invalid_api_key'} end
if a[2] ~= '1' then return {'err', 'app_not_recording'} end
if a[3] and a[3] ~= '' and a[3] ~= ARGV[7] then return {'err', 'domain_not_allowed'} end

local base = tm_base(app)
local idx = base .. ':confid:' .. ARGV[8]
local conf = redis.call('GET', idx)
local created
if conf and redis.call('EXISTS', base .. ':conf:' .. conf) == 1 then
  created = tonumber(redis.call('HGET', base .. ':conf:' .. conf, 'createdMs'))
  if ARGV[9] ~= '' and redis.call('HSETNX', base .. ':conf:' .. conf, 'name', ARGV[9]) == 1 then
    tm_searchable(base, ARGV[9], 'conference', conf)
  end
else
  -- A new conference counts against the organization's plan this month.
  local plan = o[3] or ''
  local limits = ARGV[14]
  local s, e = string.find(limits, ' ' .. plan .. '=', 1, true)
  local limit = tonumber(s and string.match(limits, '^(%d+)', e + 1) or
                         string.match(limits, '^ [^=]+=(%d+)'))
  local usage = org .. ':usage:' .. ARGV[15]
  if limit > 0 and tonumber(redis.call('HGET', usage, 'conferences') or '0') >= limit then
    return {'err', 'quota_exceeded'}
  end
  redis.call('HINCRBY', usage, 'conferences', 1)
  redis.call('EXPIRE', usage, 400 * 86400)
  conf, created = ARGV[12], tonumber(ARGV[16])
  redis.call('SET', idx, conf)
  local ckey = base .. ':conf:' .. conf
  redis.call('HSET', ckey, 'id', conf, 'conferenceId', ARGV[8], 'app', app,
             'organization', a[1], 'createdMs', created, 'ongoing', '0')
  if ARGV[9] ~= '' then redis.call('HSET', ckey, 'name', ARGV[9]) end
  redis.call('ZADD', base .. ':confs', created, conf)
  tm_searchable(base, ARGV[8], 'conference', conf)
  tm_searchable(base, ARGV[9], 'conference', conf)
end
tm_owned(conf, app)
tm_touch(idx)
tm_touch(base .. ':conf:' .. conf)
tm_touch(base .. ':confs')
local par = tm_participant(base, app, ARGV[10], ARGV[11], ARGV[13])
tm_join(base, conf, par, created)
return {'ok', app, conf, par, a[4] or '10000'}
