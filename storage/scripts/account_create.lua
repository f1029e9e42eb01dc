-- Creates an account and claims its identities (email, phone, username): all
-- of them or none, so concurrent registrations on any number of instances
-- give one winner per identity.
-- KEYS[1] account hash
-- KEYS[2] organization hash (rules any, owner:*) or organization-code index (rule code); unused for none
-- KEYS[3..] identity index keys
-- ARGV[1] account id   ARGV[2] organization rule: none | any | owner:<callerId> | code
-- ARGV[3] n, the number of identity keys   ARGV[4..3+n] their labels (for the conflict answer)
-- ARGV[4+n..] account hash fields and values
-- Returns {'ok', fields} | {'conflict', label...} | {'no-org'} | {'not-owner'}
local n = tonumber(ARGV[3])
local taken = {}
for i = 1, n do
  if redis.call('EXISTS', KEYS[2 + i]) == 1 then taken[#taken + 1] = ARGV[3 + i] end
end
if #taken > 0 then
  table.insert(taken, 1, 'conflict')
  return taken
end
local rule = ARGV[2]
local org = nil
if rule == 'code' then
  org = redis.call('GET', KEYS[2])
  if not org then return {'no-org'} end
elseif rule ~= 'none' then
  local o = redis.call('HMGET', KEYS[2], 'id', 'owner', 'deleted')
  if not o[1] or o[3] == '1' then return {'no-org'} end
  if rule ~= 'any' and rule ~= ('owner:' .. o[2]) then return {'not-owner'} end
end
for i = 1, n do redis.call('SET', KEYS[2 + i], ARGV[1]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 4 + n))
if org then redis.call('HSET', KEYS[1], 'organization', org) end
return {'ok', redis.call('HGETALL', KEYS[1])}
