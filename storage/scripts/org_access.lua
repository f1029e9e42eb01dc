-- Reads, renames, soft-deletes an organization or changes its plan, for
-- whoever may.  Admins and the owner may do all four; active members may
-- read; anyone else is told it does not exist.
-- KEYS[1] organization hash
-- ARGV[1] action: get | rename | delete | plan   ARGV[2] caller id   ARGV[3] caller is admin
-- ARGV[4] caller's organization ('' none)   ARGV[5] caller is active   ARGV[6] key prefix
-- ARGV[7] new name (rename) or plan (plan)   ARGV[8] this month, YYYYMM
-- Returns {role, fields, conferences created this month} with role admin |
-- owner | member, or {'not-found'} | {'forbidden'}
local o = redis.call('HMGET', KEYS[1], 'id', 'owner', 'deleted', 'code', 'token')
if not o[1] or o[3] == '1' then return {'not-found'} end
local role
if ARGV[3] == '1' then role = 'admin'
elseif o[2] == ARGV[2] then role = 'owner'
elseif ARGV[4] == o[1] and ARGV[5] == '1' then role = 'member'
else return {'not-found'} end
if ARGV[1] ~= 'get' and role == 'member' then return {'forbidden'} end
if ARGV[1] == 'rename' then redis.call('HSET', KEYS[1], 'name', ARGV[7]) end
if ARGV[1] == 'plan' then redis.call('HSET', KEYS[1], 'plan', ARGV[7]) end
if ARGV[1] == 'delete' then
  redis.call('HSET', KEYS[1], 'deleted', '1')
  redis.call('DEL', ARGV[6] .. 'idx:orgcode:' .. o[4])
  redis.call('DEL', ARGV[6] .. 'idx:orgtoken:' .. o[5])
  redis.call('SREM', ARGV[6] .. '{acct:' .. o[2] .. '}:orgs', o[1])
  redis.call('ZREM', ARGV[6] .. 'orgs:all', o[1])
end
local usage = KEYS[1] .. ':usage:' .. (ARGV[8] or '')
return {role, redis.call('HGETALL', KEYS[1]), tonumber(redis.call('HGET', usage, 'conferences') or '0')}
