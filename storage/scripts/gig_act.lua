--! lib: claims
-- Every transition of a gig after its request (API.md §4.2, docs/gigs.md),
-- checked and written atomically: concurrent calls on any instances get one
-- winner, and a refused call changes nothing.
-- The caller's token is checked here too (lib/claims.lua): one round trip.
-- KEYS[1]  the gig   KEYS[2] the caller's account   KEYS[3] its token's revocation key
-- ARGV[1]  key prefix   ARGV[2] action: claim confirm reject cancel handshake
--          start stop rate   ARGV[3] caller id   ARGV[4] now (ISO)   ARGV[5] now (ms)
-- ARGV[6]  claim: 'accept' | 'reject'; rate: 1..5 (checked by the caller)
-- ARGV[7]  confirm deadline (ms), for an accepted claim   ARGV[8] the token's gen
-- Returns {'ok', what happened, caller's firstName, lastName}
-- (handlers/gigs.c reads the gig right after, in the same round trip)
--       | {'not-found'} | {'conflict'} | {'locked', gigId} | {'revoked'} | {'inactive'}
local P, action, me, now, nowms, arg = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local refused, who = claims_account(KEYS[2], KEYS[3], ARGV[8], 'unrated', 'firstName',
  'lastName')
if refused then return {refused} end
local g = KEYS[1]
local function acct(id) return P .. '{acct:' .. id .. '}' end
local function listed(list, x) return string.find(',' .. list .. ',', ',' .. x .. ',', 1, true) end

-- Read once: later checks use these (and what this call wrote), not another HGET.
local f = redis.call('HMGET', g, 'id', 'status', 'customer', 'operator', 'offered', 'rejected',
  'hsC', 'hsO', 'rateC', 'rateO', 'createdMs')
local id, status, cust, op = f[1], f[2], f[3], f[4] or ''
if not id then return {'not-found'} end
local role
if me == cust then role = 'customer'
elseif op ~= '' and me == op then role = 'operator'
elseif action == 'claim' and listed(f[5], me) then role = 'offered'
else return {'not-found'} end

if action ~= 'rate' then
  local unrated = who[5]
  if unrated and unrated ~= '' and unrated ~= id then return {'locked', unrated} end
end

local deadlines = P .. 'deadlines:gig'
local function set(...) redis.call('HSET', g, 'updatedAt', now, ...) end
-- Frees a party of this gig: the customer may request again, the operator
-- is no longer busy.
local function release(who, field)
  if who ~= '' and redis.call('HGET', acct(who), field) == id then
    redis.call('HSET', acct(who), field, '')
  end
end
local function ended(new)
  set('status', new)
  redis.call('ZREM', deadlines, id)
  release(cust, 'gig')
  release(op, 'busy')
end
local function done(what) return {'ok', what, who[6] or '', who[7] or ''} end
local conflict = {'conflict'}
local party = role == 'customer' or role == 'operator'

if action == 'claim' then
  if status ~= 'requested' or role == 'customer' or listed(f[6], me) then return conflict end
  if arg == 'accept' then
    if (redis.call('HGET', acct(me), 'busy') or '') ~= '' then return conflict end
    set('status', 'claimed', 'operator', me, 'dueMs', ARGV[7])
    redis.call('HSET', acct(me), 'busy', id)
    redis.call('ZADD', deadlines, ARGV[7], id)
    redis.call('ZADD', acct(me) .. ':gigs', f[11], id)
    return done('claimed')
  end
  local rejected = f[6] == '' and me or f[6] .. ',' .. me
  set('rejected', rejected)
  local offered, nrej = 0, 0
  for _ in string.gmatch(f[5], '[^,]+') do offered = offered + 1 end
  for _ in string.gmatch(rejected, '[^,]+') do nrej = nrej + 1 end
  if nrej < offered then return done('declined') end
  ended('unclaimed')
  return done('unclaimed')
elseif action == 'confirm' or action == 'reject' then
  if role ~= 'customer' or status ~= 'claimed' then return conflict end
  if action == 'reject' then
    ended('rejected')
    return done('rejected')
  end
  set('status', 'confirmed')
  redis.call('ZREM', deadlines, id)
  return done('confirmed')
elseif action == 'cancel' then
  if not party or (status ~= 'confirmed' and status ~= 'handshaked') then return conflict end
  ended('cancelled')
  return done('cancelled')
elseif action == 'handshake' then
  local mine, theirs = 7, 8 -- f's hsC, hsO
  if role == 'operator' then mine, theirs = 8, 7 end
  if not party or status ~= 'confirmed' or f[mine] == '1' then return conflict end
  local field = mine == 7 and 'hsC' or 'hsO'
  if f[theirs] == '1' then
    set(field, '1', 'status', 'handshaked')
    return done('handshaked')
  end
  set(field, '1')
  return done('handshake')
elseif action == 'start' then
  if not party or status ~= 'handshaked' then return conflict end
  set('status', 'started', 'startedAt', now, 'startedMs', nowms)
  return done('started')
elseif action == 'stop' then
  if not party or status ~= 'started' then return conflict end
  set('status', 'stopped', 'stoppedAt', now, 'stoppedMs', nowms)
  release(cust, 'gig')
  -- Both must rate before either takes part in another gig.
  redis.call('HSET', acct(cust), 'unrated', id)
  redis.call('HSET', acct(op), 'unrated', id)
  return done('stopped')
elseif action == 'rate' then
  local mine, theirs = 9, 10 -- f's rateC, rateO
  if role == 'operator' then mine, theirs = 10, 9 end
  if not party or status ~= 'stopped' or f[mine] ~= '' then return conflict end
  local field = mine == 9 and 'rateC' or 'rateO'
  local other = role == 'customer' and op or cust
  redis.call('HINCRBY', acct(other), 'ratingSum', arg)
  redis.call('HINCRBY', acct(other), 'ratingCount', 1)
  release(me, 'unrated')
  if role == 'operator' then release(op, 'busy') end
  if f[theirs] ~= '' then
    set(field, arg, 'status', 'rated')
    return done('rated')
  end
  set(field, arg)
  return done('rated-by-' .. role)
end
return {'not-found'}
