--! lib: telemetry
-- The dashboard's telemetry queries (API.md §6.3, docs/telemetry.md
-- "Queries"): lists, single objects, a conference's events, issues and
-- quality summary, and search, each answered as the response's JSON.  Every
-- list is read from an index (zset or stream ranges), never from a scan of
-- the keyspace.  The caller sees the apps of the organizations it belongs
-- to (as owner, or as an active account of it); an admin sees all.
-- ARGV[6] caller id  [7] caller is admin  [8] caller's organization ('' none)
-- [9] caller is active  [10] action  [11..] the action's parameters (below)
-- Returns {'ok', JSON body} | {'not-found', what} | {'err', error_code}, or
-- for events (whose JSON the handler writes): {'events', count, {stream
-- entry, ...}, limit} | {'range', stream key, start, skip, count, limit}: the
-- page is XRANGE start + COUNT skip+limit, less its first `skip` entries.
local me, admin, my_org, active = ARGV[6], ARGV[7] == '1', ARGV[8], ARGV[9] == '1'
local action = ARGV[10]
local P = tm_prefix
local enc, null = cjson.encode, cjson.null

-- Whether the caller may see the app's telemetry.
local function visible(app)
  if app == nil or app == '' then return false end
  local a = redis.call('HMGET', P .. '{app:' .. app .. '}', 'organization', 'deleted')
  if not a[1] or a[2] == '1' then return false end
  if admin then return true end
  local o = redis.call('HMGET', P .. '{org:' .. a[1] .. '}', 'owner', 'deleted')
  if not o[1] or o[2] == '1' then return false end
  return o[1] == me or (a[1] == my_org and active)
end

-- The app of a conference, participant or session (by its server id) when
-- the caller may see it and the entity still exists; else nil.
local function owner_app(id, kind)
  local app = redis.call('GET', P .. 'idx:tm:' .. id)
  if not app or not visible(app) then return nil end
  if redis.call('EXISTS', tm_base(app) .. ':' .. kind .. ':' .. id) == 0 then return nil end
  return app
end

-- Every app the caller sees: its organizations' apps (all, for an admin).
local function my_apps()
  local orgs = {}
  if admin then
    orgs = redis.call('ZRANGE', P .. 'orgs:all', 0, -1)
  else
    orgs = redis.call('SMEMBERS', P .. '{acct:' .. me .. '}:orgs')
    if my_org ~= '' and active then orgs[#orgs + 1] = my_org end
  end
  local apps, seen = {}, {}
  for _, org in ipairs(orgs) do
    for _, app in ipairs(redis.call('SMEMBERS', P .. '{org:' .. org .. '}:apps')) do
      if not seen[app] and visible(app) then
        seen[app] = true
        apps[#apps + 1] = app
      end
    end
  end
  return apps
end

-- A hash (HGETALL reply) as a JSON object: fields named in `nums` as
-- numbers, in `bools` as true/false ('1'), in `raws` as their stored JSON;
-- '' as null.  The ingest's once-only marks (issue:<code>) are not part of the
-- entity and are left out.
local NUMS = {createdMs = true, startMs = true, endMs = true, duration = true, at = true}
local BOOLS = {ongoing = true, muted = true, ended = true}
local RAWS = {platform = true, constraints = true, devices = true, appVersion = true,
              meta = true, webrtcSdk = true}
local function object(flat)
  local out = {}
  for i = 1, #flat, 2 do
    local k, v = flat[i], flat[i + 1]
    local j
    if v == '' then j = 'null'
    elseif NUMS[k] then j = enc(tonumber(v) or null)
    elseif BOOLS[k] then j = v == '1' and 'true' or 'false'
    elseif RAWS[k] then j = v
    else j = enc(v) end
    if string.sub(k, 1, 6) ~= 'issue:' then out[#out + 1] = enc(k) .. ':' .. j end
  end
  return '{' .. table.concat(out, ',') .. '}'
end

local function list_json(items, count)
  return '{"data":[' .. table.concat(items, ',') .. '],"count":' .. count .. '}'
end

-- A page of ids from sorted-set indexes ({key, base} each), newest first
-- (score descending, then id descending), scores within [min, max]:
-- {{id, base}, ...} and the count of all in range.
local function page_of(indexes, min, max, off, lim)
  local count, rows = 0, {}
  for _, ix in ipairs(indexes) do
    count = count + redis.call('ZCOUNT', ix[1], min, max)
    local from, n = off, lim
    if #indexes > 1 then from, n = 0, off + lim end
    local r = redis.call('ZREVRANGEBYSCORE', ix[1], max, min, 'WITHSCORES', 'LIMIT', from, n)
    for i = 1, #r, 2 do rows[#rows + 1] = {r[i], tonumber(r[i + 1]), ix[2]} end
  end
  if #indexes > 1 then
    table.sort(rows, function(x, y)
      if x[2] ~= y[2] then return x[2] > y[2] end
      return x[1] > y[1]
    end)
    local sliced = {}
    for i = off + 1, math.min(#rows, off + lim) do sliced[#sliced + 1] = rows[i] end
    rows = sliced
  end
  return rows, count
end

-- The JSON of each row's entity of `kind`; entities whose hash is gone are
-- left out.
local function entities(rows, kind)
  local items = {}
  for _, row in ipairs(rows) do
    local flat = redis.call('HGETALL', row[3] .. ':' .. kind .. ':' .. row[1])
    if #flat > 0 then items[#items + 1] = object(flat) end
  end
  return items
end

local function issue_json(entry)
  local f = entry[2]
  local out = {'"id":' .. enc(entry[1])}
  for i = 1, #f, 2 do
    local v = f[i + 1]
    if f[i] == 'at' then v = enc(tonumber(v)) elseif v == '' then v = 'null' else v = enc(v) end
    out[#out + 1] = enc(f[i]) .. ':' .. v
  end
  return '{' .. table.concat(out, ',') .. '}'
end

---------------------------------------------------------------------------
-- Lists

-- [11] appId  [12] participantId  [13] min score  [14] max score  [15] offset  [16] limit
local function conferences()
  local app, pid, min, max = ARGV[11], ARGV[12], ARGV[13], ARGV[14]
  local off, lim = tonumber(ARGV[15]), tonumber(ARGV[16])
  local indexes = {}
  if pid ~= '' then
    local papp = owner_app(pid, 'par')
    if not papp then return {'not-found', 'participant'} end
    if app == '' or app == papp then
      indexes[1] = {tm_base(papp) .. ':par:' .. pid .. ':confs', tm_base(papp)}
    end
  elseif app ~= '' then
    if not visible(app) then return {'not-found', 'app'} end
    indexes[1] = {tm_base(app) .. ':confs', tm_base(app)}
  else
    for _, a in ipairs(my_apps()) do indexes[#indexes + 1] = {tm_base(a) .. ':confs', tm_base(a)} end
  end
  local rows, count = page_of(indexes, min, max, off, lim)
  return {'ok', list_json(entities(rows, 'conf'), count)}
end

-- [11] appId  [12] conferenceId  [13] offset  [14] limit
local function participants()
  local app, cid = ARGV[11], ARGV[12]
  local off, lim = tonumber(ARGV[13]), tonumber(ARGV[14])
  local indexes = {}
  if cid ~= '' then
    local capp = owner_app(cid, 'conf')
    if not capp then return {'not-found', 'conference'} end
    if app == '' or app == capp then
      indexes[1] = {tm_base(capp) .. ':conf:' .. cid .. ':pars', tm_base(capp)}
    end
  else
    if not visible(app) then return {'not-found', 'app'} end
    indexes[1] = {tm_base(app) .. ':pars', tm_base(app)}
  end
  local rows, count = page_of(indexes, '-inf', '+inf', off, lim)
  return {'ok', list_json(entities(rows, 'par'), count)}
end

-- [11] appId  [12] conferenceId  [13] participantId  [14] offset  [15] limit
-- Served from the narrowest index named (the conference's sessions, the
-- participant's, the app's); when more than one filter is given the other
-- ones are checked on each session of that index.
local function sessions()
  local want = {app = ARGV[11], conference = ARGV[12], participant = ARGV[13]}
  local off, lim = tonumber(ARGV[14]), tonumber(ARGV[15])
  local app, index
  if want.conference ~= '' then
    app = owner_app(want.conference, 'conf')
    if not app then return {'not-found', 'conference'} end
    index = tm_base(app) .. ':conf:' .. want.conference .. ':sessions'
  elseif want.participant ~= '' then
    app = owner_app(want.participant, 'par')
    if not app then return {'not-found', 'participant'} end
    index = tm_base(app) .. ':par:' .. want.participant .. ':sessions'
  else
    app = want.app
    if not visible(app) then return {'not-found', 'app'} end
    index = tm_base(app) .. ':sessions'
  end
  local base = tm_base(app)
  local filtered = (want.conference ~= '' and 1 or 0) + (want.participant ~= '' and 1 or 0) +
                   (want.app ~= '' and 1 or 0) > 1
  if not filtered then
    local rows, count = page_of({{index, base}}, '-inf', '+inf', off, lim)
    return {'ok', list_json(entities(rows, 'ses'), count)}
  end
  local items, count = {}, 0
  if want.app == '' or want.app == app then
    for _, id in ipairs(redis.call('ZREVRANGE', index, 0, -1)) do
      local flat = redis.call('HGETALL', base .. ':ses:' .. id)
      local h = {}
      for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
      if #flat > 0 and (want.participant == '' or h.participant == want.participant) then
        count = count + 1
        if count > off and #items < lim then items[#items + 1] = object(flat) end
      end
    end
  end
  return {'ok', list_json(items, count)}
end

---------------------------------------------------------------------------
-- Single objects

local function single(kind, what)
  local id = ARGV[11]
  local app = owner_app(id, kind)
  if not app then return {'not-found', what} end
  return {'ok', '{"data":' .. object(redis.call('HGETALL', tm_base(app) .. ':' .. kind .. ':' .. id)) .. '}'}
end

-- The conference the request names (ARGV[11]) when the caller sees it: its
-- id, app and key; else nil.
local NO_CONFERENCE = {'not-found', 'conference'}
local function asked_conference()
  local id = ARGV[11]
  local app = owner_app(id, 'conf')
  if not app then return nil end
  return id, app, tm_base(app) .. ':conf:' .. id
end

-- At most this many participants and issues are inlined in a conference.
local INLINE_MAX = 200

local function conference()
  local _, app, ckey = asked_conference()
  if not app then return NO_CONFERENCE end
  local conf = object(redis.call('HGETALL', ckey))
  local rows = page_of({{ckey .. ':pars', tm_base(app)}}, '-inf', '+inf', 0, INLINE_MAX)
  local issues = {}
  for _, e in ipairs(redis.call('XRANGE', ckey .. ':issues', '-', '+', 'COUNT', INLINE_MAX)) do
    issues[#issues + 1] = issue_json(e)
  end
  return {'ok', '{"data":' .. string.sub(conf, 1, -2) .. ',"participants":[' ..
    table.concat(entities(rows, 'par'), ',') .. '],"issues":[' .. table.concat(issues, ',') .. ']}}'}
end

-- [12] offset  [13] limit.  Issues oldest first.
local function issues()
  local _, app, ckey = asked_conference()
  if not app then return NO_CONFERENCE end
  local key = ckey .. ':issues'
  local off, lim = tonumber(ARGV[12]), tonumber(ARGV[13])
  local items = {}
  local page = redis.call('XRANGE', key, '-', '+', 'COUNT', off + lim)
  for i = off + 1, #page do items[#items + 1] = issue_json(page[i]) end
  return {'ok', list_json(items, redis.call('XLEN', key))}
end

-- [12] type filter: '' none, '+name' only that type, '-name' all but it
-- [13] offset  [14] limit  [15] after: a stream id ('' none)
-- Oldest first.  `after` continues after that entry (then offset counts
-- from there).  Unfiltered pages start at the mark nearest the offset;
-- filtered ones are read forward from the start (or `after`) in chunks.
local SCAN_CHUNK = 500
local function events()
  local _, app, ckey = asked_conference()
  if not app then return NO_CONFERENCE end
  local stream = ckey .. ':events'
  local filter, off, lim, after = ARGV[12], tonumber(ARGV[13]), tonumber(ARGV[14]), ARGV[15]
  local mode, typ = string.sub(filter, 1, 1), string.sub(filter, 2)
  local total = redis.call('XLEN', stream)
  local count = total
  if mode ~= '' then
    local typed = tonumber(redis.call('HGET', stream .. ':types', typ) or '0')
    count = mode == '+' and typed or total - typed
  end
  local start = after ~= '' and '(' .. after or '-'
  if mode == '' then
    -- The handler reads the page itself (XRANGE start + COUNT skip+limit):
    -- entries passed through Lua cost the store several times more.
    local skip = off
    if after == '' then
      if off >= total then return {'events', count, {}, lim} end
      local mark = redis.call('LINDEX', stream .. ':marks', math.floor(off / TM_MARK_EVERY))
      if mark and redis.call('LLEN', stream .. ':marks') == math.ceil(total / TM_MARK_EVERY) then
        start, skip = mark, off % TM_MARK_EVERY
      end
    end
    return {'range', stream, start, skip, count, lim}
  end
  local items, skipped = {}, 0
  while #items < lim do
    local chunk = redis.call('XRANGE', stream, start, '+', 'COUNT', SCAN_CHUNK)
    for _, e in ipairs(chunk) do
      local t
      for i = 1, #e[2], 2 do if e[2][i] == 't' then t = e[2][i + 1] break end end
      if (mode == '+') == (t == typ) then
        if skipped < off then skipped = skipped + 1
        elseif #items < lim then items[#items + 1] = e end
      end
    end
    if #chunk < SCAN_CHUNK then break end
    start = '(' .. chunk[#chunk][1]
  end
  return {'events', count, items, lim}
end

---------------------------------------------------------------------------
-- The quality summary (docs/telemetry.md "Deriving the summary")

-- Sums a group of connections' aggregates (hashes as tables) and derives
-- its figures: counters, sums and counts add, maxima take the largest,
-- spans run from the earliest first time to the latest last time.
local function figures(group)
  local sum, max, first, last = {}, {}, {}, {}
  local function add(k, v) sum[k] = (sum[k] or 0) + v end
  local function top(k, v) if v and (max[k] == nil or v > max[k]) then max[k] = v end end
  local function span(name, h, f, l)
    local a, b = tonumber(h[f]), tonumber(h[l])
    if a and b then
      if first[name] == nil or a < first[name] then first[name] = a end
      if last[name] == nil or b > last[name] then last[name] = b end
    end
  end
  local function delta(k, h, total, base)
    local t, b = tonumber(h[total]), tonumber(h[base])
    if t and b then add(k, t - b) end
  end
  for _, h in ipairs(group) do
    for _, k in ipairs({'a_pkts_in', 'v_pkts_in', 'a_pkts_out', 'v_pkts_out', 'rtt_sum', 'rtt_n',
                        'a_jitter_sum', 'a_jitter_n', 'v_jitter_sum', 'v_jitter_n', 'a_rtt_sum',
                        'a_rtt_n', 'v_rtt_sum', 'v_rtt_n', 'avail_out_sum', 'avail_out_n',
                        'avail_in_sum', 'avail_in_n', 'samples'}) do
      add(k, tonumber(h[k]) or 0)
    end
    for _, k in ipairs({'a_lost_in', 'v_lost_in', 'a_lost_out', 'v_lost_out'}) do
      add(k, math.max(0, tonumber(h[k]) or 0))
    end
    for _, k in ipairs({'rtt_max', 'a_jitter_max', 'v_jitter_max', 'a_rtt_max', 'v_rtt_max',
                        'avail_out_max', 'avail_in_max'}) do
      top(k, tonumber(h[k]))
    end
    span('t', h, 't_first', 't_last')
    span('pair', h, 'pair_t_first', 'pair_t_last')
    delta('bytes_in', h, 'bytes_in', 'bytes_in_first')
    delta('bytes_out', h, 'bytes_out', 'bytes_out_first')
    for _, k in ipairs({'a', 'v'}) do
      for _, dir in ipairs({'in', 'out'}) do
        span(k .. dir, h, k .. '_t_' .. dir .. '_first', k .. '_t_' .. dir .. '_last')
        delta(k .. '_bytes_' .. dir, h, k .. '_bytes_' .. dir, k .. '_bytes_' .. dir .. '_first')
      end
    end
  end
  local function ratio(a, b) if b and b > 0 then return (a or 0) / b end return null end
  local function mean(k) return ratio(sum[k .. '_sum'], sum[k .. '_n']) end
  local function rate(bytes, name)
    if sum[bytes] == nil or first[name] == nil or last[name] <= first[name] then return null end
    return sum[bytes] * 8000 / (last[name] - first[name])
  end
  local function loss_in(kinds)
    local lost, got = 0, 0
    for _, k in ipairs(kinds) do lost, got = lost + sum[k .. '_lost_in'], got + sum[k .. '_pkts_in'] end
    return ratio(lost, lost + got)
  end
  local function loss_out(kinds)
    local lost, sent = 0, 0
    for _, k in ipairs(kinds) do lost, sent = lost + sum[k .. '_lost_out'], sent + sum[k .. '_pkts_out'] end
    return ratio(lost, sent)
  end
  local function worst(k) if max[k] == nil then return null end return max[k] end
  local function kind(k)
    return {packetLoss = {['in'] = loss_in({k}), out = loss_out({k})},
            jitter = {mean = mean(k .. '_jitter'), max = worst(k .. '_jitter_max')},
            rtt = {mean = mean(k .. '_rtt'), max = worst(k .. '_rtt_max')},
            bitrate = {['in'] = rate(k .. '_bytes_in', k .. 'in'), out = rate(k .. '_bytes_out', k .. 'out')}}
  end
  local duration = null
  if first.t then duration = (last.t - first.t) / 1000 end
  return {
    samples = sum.samples or 0,
    duration = duration,
    packetLoss = {['in'] = loss_in({'a', 'v'}), out = loss_out({'a', 'v'})},
    rtt = {mean = mean('rtt'), max = worst('rtt_max')},
    bitrate = {['in'] = rate('bytes_in', 'pair'), out = rate('bytes_out', 'pair')},
    availableBandwidth = {out = {mean = mean('avail_out'), max = worst('avail_out_max')},
                          ['in'] = {mean = mean('avail_in'), max = worst('avail_in_max')}},
    audio = kind('a'),
    video = kind('v'),
  }
end

local CONN_FIELDS = {'id', 'session', 'participant', 'peer', 'peerId', 'state', 'type',
                     'local_type', 'remote_type', 'protocol'}
local function summary()
  local id, app, ckey = asked_conference()
  if not app then return NO_CONFERENCE end
  local base = tm_base(app)
  local conns, by_par, order = {}, {}, {}
  for _, cid in ipairs(redis.call('ZRANGE', ckey .. ':conns', 0, -1)) do
    local flat = redis.call('HGETALL', base .. ':conn:' .. cid)
    if #flat > 0 then
      local h = {}
      for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
      local c = figures({h})
      for _, k in ipairs(CONN_FIELDS) do c[k] = (h[k] and h[k] ~= '') and h[k] or null end
      conns[#conns + 1] = c
      local p = h.participant or ''
      if not by_par[p] then
        by_par[p] = {}
        order[#order + 1] = p
      end
      table.insert(by_par[p], h)
    end
  end
  local pars = {}
  for _, p in ipairs(order) do
    local f = figures(by_par[p])
    f.participant = p
    f.connections = #by_par[p]
    pars[#pars + 1] = f
  end
  local doc = {conference = id, connections = conns, participants = pars}
  local body = enc(doc)
  -- cjson writes an empty table as {}: these two are lists.
  if #conns == 0 then body = string.gsub(body, '"connections":{}', '"connections":[]') end
  if #pars == 0 then body = string.gsub(body, '"participants":{}', '"participants":[]') end
  return {'ok', '{"data":' .. body .. '}'}
end

---------------------------------------------------------------------------
-- Search

-- [11] the query, lowercased.  At most 5 matches over the caller's apps, in
-- the order of their indexed text; a conference or participant once.
local SEARCH_MAX = 5
local function search()
  local q = ARGV[11]
  local hits = {}
  for _, app in ipairs(my_apps()) do
    local base = tm_base(app)
    for _, m in ipairs(redis.call('ZRANGEBYLEX', base .. ':search', '[' .. q, '(' .. q .. '\255',
                                  'LIMIT', 0, 2 * SEARCH_MAX)) do
      hits[#hits + 1] = {m, base}
    end
  end
  table.sort(hits, function(x, y) return x[1] < y[1] end)
  local out, seen = {}, {}
  for _, hit in ipairs(hits) do
    if #out >= SEARCH_MAX then break end
    local kind, eid = string.match(hit[1], '%z(%a+)%z(.+)$')
    if eid and not seen[eid] then
      seen[eid] = true
      local short = kind == 'conference' and 'conf' or 'par'
      local client = kind == 'conference' and 'conferenceId' or 'participantId'
      local h = redis.call('HMGET', hit[2] .. ':' .. short .. ':' .. eid, 'name', client)
      if h[2] then
        out[#out + 1] = enc({name = (h[1] and h[1] ~= '') and h[1] or h[2], id = eid, type = kind,
                             url = '/' .. kind .. 's/' .. eid})
      end
    end
  end
  return {'ok', '{"matches":[' .. table.concat(out, ',') .. ']}'}
end

local actions = {
  conferences = conferences,
  conference = conference,
  events = events,
  issues = issues,
  summary = summary,
  participants = participants,
  participant = function() return single('par', 'participant') end,
  sessions = sessions,
  session = function() return single('ses', 'session') end,
  search = search,
}
return actions[action]()
