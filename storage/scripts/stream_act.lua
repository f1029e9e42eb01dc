-- Every transition of a dealer stream after its request (docs/streams.md),
-- checked and written atomically: one winner across instances, and a refused
-- call changes nothing.
-- KEYS[1]  the stream
-- ARGV[1]  key prefix   ARGV[2] action: accept stop note
-- ARGV[3]  caller id (account or guest)   ARGV[4] caller: 'dealer' | 'guest' | 'other'
-- ARGV[5]  the caller's organization ('' none)   ARGV[6] now (ISO)   ARGV[7] now (ms)
-- ARGV[8]  accept: the first ping deadline (ms); note: the note
-- Returns {'ok', what happened, stream fields} | {'not-found'} | {'forbidden'}
--       | {'conflict'} | {'occupied'} | {'busy'}
local P, action, me, role, now, nowms = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[6], ARGV[7]
local s = KEYS[1]
local f = redis.call('HMGET', s, 'id', 'status', 'org', 'guest', 'dealer', 'acceptByMs')
local id, status, org, guest, dealer = f[1], f[2], f[3], f[4], f[5] or ''
if not id then return {'not-found'} end
local isGuest = role == 'guest' and me == guest
local isDealer = role == 'dealer' and ARGV[5] == org
if not isGuest and not isDealer then return {'not-found'} end
local function acct(a) return P .. '{acct:' .. a .. '}' end
local function set(...) redis.call('HSET', s, 'updatedAt', now, ...) end
local function done(what) return {'ok', what, redis.call('HGETALL', s)} end
local deadlines = P .. 'deadlines:stream'

if action == 'accept' then
  if not isDealer then return {'forbidden'} end
  if status == 'streaming' and dealer ~= me then return {'occupied'} end
  if status ~= 'requested' or tonumber(nowms) >= tonumber(f[6]) then return {'conflict'} end
  -- Streaming elsewhere (a stale mark of an ended stream does not count).
  local busy = redis.call('HGET', acct(me), 'streaming') or ''
  if busy ~= '' and redis.call('HGET', P .. '{stream:' .. busy .. '}', 'status') == 'streaming' then
    return {'busy'}
  end
  set('status', 'streaming', 'dealer', me, 'acceptedAt', now, 'acceptByMs', '',
    'expiresMs', ARGV[8])
  redis.call('HSET', acct(me), 'streaming', id)
  redis.call('ZADD', deadlines, ARGV[8], id)
  return done('accepted')
elseif action == 'stop' then
  if isDealer and not isGuest and dealer ~= me then return {'forbidden'} end
  if status ~= 'requested' and status ~= 'streaming' then return {'conflict'} end
  set('status', 'stopped', 'stoppedAt', now, 'stoppedBy', isGuest and 'guest' or 'dealer',
    'endedAt', now, 'acceptByMs', '', 'expiresMs', '')
  redis.call('ZREM', deadlines, id)
  if dealer ~= '' and redis.call('HGET', acct(dealer), 'streaming') == id then
    redis.call('HSET', acct(dealer), 'streaming', '')
  end
  return done('stopped')
elseif action == 'note' then
  if not isDealer then return {'forbidden'} end
  if status == 'stopped' then
    set('status', 'completed', 'note', ARGV[8])
    return done('completed')
  elseif status == 'completed' then
    set('note', ARGV[8])
    return done('noted')
  end
  return {'conflict'}
end
return {'not-found'}
