-- Library: what every telemetry script (tm_*.lua) shares.  Key schema and
-- field names: docs/telemetry.md.  Every telemetry script is called as
--   KEYS[1] the client IP's limiter
--   ARGV[1] now (ms)  ARGV[2] the limiter's emission interval (ms)
--   ARGV[3] key prefix  ARGV[4] retention (s)  ARGV[5] now (ISO 8601)
-- and its own arguments from ARGV[6] on.  It answers {'rate', ms to wait},
-- {'err', error_code} (nothing written) or {'ok', ...}.
local tm_now, tm_prefix, tm_ttl, tm_iso = tonumber(ARGV[1]), ARGV[3], tonumber(ARGV[4]), ARGV[5]

-- Charges the client IP's limiter; the refusal to return, or nil.
local function tm_admit()
  local wait, tat = gcra_look(KEYS[1], tm_now, tonumber(ARGV[2]))
  if wait > 0 then return {'rate', wait} end
  gcra_charge(KEYS[1], tm_now, tat)
  return nil
end

-- Every key of an app's telemetry shares its hash tag (one slot).
local function tm_base(app)
  return tm_prefix .. '{tm:' .. app .. '}'
end

local function tm_touch(key)
  redis.call('EXPIRE', key, tm_ttl)
end

-- Records an issue found on ingest in the conference's issue log.
local function tm_issue(base, conf, code, ts, session, participant, connection)
  local key = base .. ':conf:' .. conf .. ':issues'
  redis.call('XADD', key, '*', 'code', code, 'at', ts, 'session', session or '',
             'participant', participant or '', 'connection', connection or '')
  tm_touch(key)
end

-- Makes `text` findable by case-insensitive prefix (ZRANGEBYLEX over
-- "lowercased text \0 type \0 id").
local function tm_searchable(base, text, kind, id)
  if text == nil or text == '' then return end
  local key = base .. ':search'
  redis.call('ZADD', key, 0, string.lower(text) .. '\0' .. kind .. '\0' .. id)
  tm_touch(key)
end

-- Gets or creates an app's participant by the client's userId; sets its
-- name when given.  Returns the participant's id.
local function tm_participant(base, app, user_id, name, new_id)
  local idx = base .. ':parid:' .. user_id
  local id = redis.call('GET', idx)
  if not id then
    id = new_id
    redis.call('SET', idx, id, 'EX', tm_ttl)
    redis.call('HSET', base .. ':par:' .. id, 'id', id, 'app', app, 'participantId', user_id,
               'createdAt', tm_iso, 'createdMs', tm_now)
    redis.call('ZADD', base .. ':pars', tm_now, id)
    tm_touch(base .. ':pars')
    tm_searchable(base, user_id, 'participant', id)
  else
    tm_touch(idx)
  end
  local key = base .. ':par:' .. id
  if name ~= nil and name ~= '' then
    local old = redis.call('HGET', key, 'name')
    if old ~= name then
      if old then redis.call('ZREM', base .. ':search', string.lower(old) .. '\0participant\0' .. id) end
      redis.call('HSET', key, 'name', name)
      tm_searchable(base, name, 'participant', id)
    end
  end
  tm_touch(key)
  return id
end

-- Adds a participant to a conference (both directions of the index).
local function tm_join(base, conf, participant, created_ms)
  redis.call('ZADD', base .. ':conf:' .. conf .. ':pars', 'NX', tm_now, participant)
  redis.call('ZADD', base .. ':par:' .. participant .. ':confs', created_ms, conf)
  tm_touch(base .. ':conf:' .. conf .. ':pars')
  tm_touch(base .. ':par:' .. participant .. ':confs')
end
