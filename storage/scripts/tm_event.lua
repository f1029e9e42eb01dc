--! lib: gcra telemetry rtcstats
-- The SDK's events (/events/*, /connection, /connection/batch, /stats,
-- /tracks): each appended to the conference's event stream with its raw JSON
-- slice, and its effect on the model applied.  Every event is checked before
-- any is written, so a refused request stores nothing.
-- ARGV[6] app  [7] conference  [8] participant  [9] session  [10] the events' data: the
--   request body from the first event's data to the end of the last's
-- [11] the events: per event 12 netstrings ("<len>:<bytes>"):
--   category, type, connectionId, peerId, time (ms), data offset (0-based, in [10]), data length
--   ('' when no data), effect, a, b, c, d
-- Effects (handlers/telemetry_ingest.c computes them):
--   'A' addConnection: a new connection id, b new participant id for the peer,
--       c connectionState, d peerName
--   'R' removeConnection          'S' state change: a the state, b an issue or ''
--   'I' an issue a                'X' stats: a candidate type, b and c issues or ''
--   'E' the session ends (with its connections, and the conference when it was
--       the last ongoing session)
--   'T' ontrack: a trackId, b kind, c direction, d label
--   'M' a track changes: a trackId, b mute | unmute | ended | overconstrained
-- [12..] the quality aggregate updates of the 'X' event (field, op, value: lib/rtcstats.lua),
--   applied to its connection's hash
-- Returns {'ok'}, {'ok', peer id, connection id} after an addConnection, or
-- {'ok', HGETALL track} after a track event; or a refusal.
local refused = tm_admit()
if refused then return refused end
local app, conf, par, ses, span, desc = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local base = tm_base(app)
local ckey, skey = base .. ':conf:' .. conf, base .. ':ses:' .. ses

local events, pos = {}, 1
while pos <= #desc do
  local e = {}
  for i = 1, 12 do
    local colon = string.find(desc, ':', pos, true)
    local n = tonumber(string.sub(desc, pos, colon - 1))
    e[i] = string.sub(desc, colon + 1, colon + n)
    pos = colon + n + 1
  end
  events[#events + 1] = e
end

-- Check: every named connection is this conference's; stats need one that
-- has not ended; a changed track must exist.
local created, known = {}, {}
for _, e in ipairs(events) do
  local conn, eff = e[3], e[8]
  if conn ~= '' and not created[conn] then
    local c = known[conn]
    if not c then
      c = redis.call('HMGET', base .. ':conn:' .. conn, 'conference', 'endMs')
      known[conn] = c
    end
    if c[1] ~= conf then return {'err', 'connection_not_found'} end
    if eff == 'X' and c[2] then return {'err', 'connection_ended'} end
  elseif (eff == 'X' or eff == 'R' or eff == 'T') and conn == '' then
    return {'err', 'connection_not_found'}
  end
  if eff == 'A' then created[e[9]] = true end
  if eff == 'M' and redis.call('EXISTS', skey .. ':trk:' .. e[9]) == 0 then
    return {'err', 'track_not_found'}
  end
end

-- Ends a connection once.  One whose hash has expired (its last event is
-- older than the retention, while the session's connection set lived on) is
-- left gone: writing endMs would make a hash of no conference and no TTL, an
-- entity that never was.
local function end_connection(id, at)
  local key = base .. ':conn:' .. id
  if redis.call('EXISTS', key) == 0 then return end
  if redis.call('HSETNX', key, 'endMs', at) == 1 then
    local start = tonumber(redis.call('HGET', key, 'startMs') or at)
    redis.call('HSET', key, 'duration', math.max(0, at - start))
  end
end

local function end_session(at)
  if redis.call('HGET', skey, 'ongoing') == '1' then
    local start = tonumber(redis.call('HGET', skey, 'startMs') or at)
    redis.call('HSET', skey, 'ongoing', '0', 'endMs', at, 'duration', math.max(0, at - start))
  end
  for _, id in ipairs(redis.call('SMEMBERS', skey .. ':conns')) do end_connection(id, at) end
  redis.call('SREM', ckey .. ':live', ses)
  if redis.call('SCARD', ckey .. ':live') == 0 and redis.call('HGET', ckey, 'ongoing') == '1' then
    local start = tonumber(redis.call('HGET', ckey, 'startMs') or at)
    redis.call('HSET', ckey, 'ongoing', '0', 'endMs', at, 'duration', math.max(0, at - start))
  end
end

-- Records an issue once per connection, or per session for one that names no
-- connection (getusermedia_error): the mark issue:<code> in that hash says it
-- has been.  The connection is this conference's (checked above).
local function issue_once(code, at, conn)
  local key = conn ~= '' and base .. ':conn:' .. conn or skey
  if redis.call('HSETNX', key, 'issue:' .. code, '1') == 1 then
    tm_issue(base, conf, code, at, ses, par, conn)
  end
end

local stream = ckey .. ':events'
local marks, types = stream .. ':marks', stream .. ':types'
local answer, touched = {'ok'}, {}
for _, e in ipairs(events) do
  local cat, typ, conn, peer, at, eff = e[1], e[2], e[3], e[4], tonumber(e[5]), e[8]
  local a, b, c, d = e[9], e[10], e[11], e[12]
  if eff == 'A' then
    local peer_id = ''
    if peer ~= '' then
      peer_id = tm_participant(base, app, peer, d, b)
      tm_join(base, conf, peer_id, tonumber(redis.call('HGET', ckey, 'createdMs') or tm_now))
    end
    conn = a
    redis.call('HSET', base .. ':conn:' .. conn, 'id', conn, 'conference', conf, 'session', ses,
               'participant', par, 'peer', peer_id, 'peerId', peer,
               'state', c ~= '' and c or 'new', 'startMs', at)
    redis.call('SADD', skey .. ':conns', conn)
    redis.call('ZADD', ckey .. ':conns', at, conn)
    tm_touch(skey .. ':conns')
    tm_touch(ckey .. ':conns')
    answer = {'ok', peer_id, conn}
  elseif eff == 'R' then
    end_connection(conn, at)
  elseif eff == 'S' then
    if conn ~= '' then
      redis.call('HSET', base .. ':conn:' .. conn, 'state', a)
      if a == 'closed' then end_connection(conn, at) end
    end
    if b ~= '' then issue_once(b, at, conn) end
  elseif eff == 'I' then
    issue_once(a, at, conn)
  elseif eff == 'X' then
    local key = base .. ':conn:' .. conn
    if a ~= '' then redis.call('HSET', key, 'type', a) end
    rtcstats_apply(key, ARGV, 12)
    for _, issue in ipairs({b, c}) do
      if issue ~= '' then issue_once(issue, at, conn) end
    end
  elseif eff == 'E' then
    end_session(at)
  elseif eff == 'T' then
    local key = skey .. ':trk:' .. a
    if redis.call('EXISTS', key) == 0 then
      redis.call('HSET', key, 'trackId', a, 'kind', b, 'direction', c, 'label', d,
                 'connection', conn, 'session', ses, 'participant', par, 'muted', '0',
                 'ended', '0', 'createdMs', at)
    end
    tm_touch(key)
    answer = {'ok', redis.call('HGETALL', key)}
  elseif eff == 'M' then
    local key = skey .. ':trk:' .. a
    if b == 'mute' or b == 'unmute' then
      redis.call('HSET', key, 'muted', b == 'mute' and '1' or '0')
    elseif b == 'ended' then
      redis.call('HSET', key, 'ended', '1')
    end
    if conn == '' then conn = redis.call('HGET', key, 'connection') or '' end
    tm_touch(key)
    answer = {'ok', redis.call('HGETALL', key)}
  end
  local fields = {'c', cat, 't', typ, 's', ses, 'p', par, 'at', at}
  if conn ~= '' then
    fields[#fields + 1] = 'n'
    fields[#fields + 1] = conn
    touched[conn] = true
  end
  if peer ~= '' then
    fields[#fields + 1] = 'r'
    fields[#fields + 1] = peer
  end
  if e[7] ~= '' then
    local off, len = tonumber(e[6]), tonumber(e[7])
    fields[#fields + 1] = 'd'
    -- A one-event request's data is the whole span: no second copy to hash.
    fields[#fields + 1] = len == #span and span or string.sub(span, off + 1, off + len)
  end
  -- Every TM_MARK_EVERY-th entry's id is marked and each type counted, so a page at
  -- any offset and the count of a type are read without a scan.
  local id = redis.call('XADD', stream, '*', unpack(fields))
  if redis.call('XLEN', stream) % TM_MARK_EVERY == 1 then redis.call('RPUSH', marks, id) end
  redis.call('HINCRBY', types, typ, 1)
end
for _, key in ipairs({stream, marks, types, ckey, skey, ckey .. ':live', skey .. ':conns'}) do
  tm_touch(key)
end
for conn in pairs(touched) do tm_touch(base .. ':conn:' .. conn) end
return answer
