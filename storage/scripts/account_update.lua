-- Changes an account for an admin or the owner of the account's organization.
-- KEYS[1] target account hash
-- ARGV[1] caller id   ARGV[2] caller is admin ('1'|'0')   ARGV[3] key prefix
-- ARGV[4] '1' when admin-only fields (type, organization) are among the changes
-- ARGV[5..] fields and values to set
-- Returns {'ok', fields} | {'not-found'} (absent, or not the caller's to change) | {'forbidden'}
--   | {'no-org'} (an organization that does not exist)
local t = redis.call('HMGET', KEYS[1], 'id', 'organization')
if not t[1] then return {'not-found'} end
if ARGV[2] ~= '1' then
  if not t[2] or t[2] == '' then return {'not-found'} end
  local owner = redis.call('HMGET', ARGV[3] .. '{org:' .. t[2] .. '}', 'owner', 'deleted')
  if owner[1] ~= ARGV[1] or owner[2] == '1' then return {'not-found'} end
end
if ARGV[4] == '1' and ARGV[2] ~= '1' then return {'forbidden'} end
for i = 5, #ARGV - 1, 2 do
  if ARGV[i] == 'organization' and ARGV[i + 1] ~= '' then
    local o = redis.call('HMGET', ARGV[3] .. '{org:' .. ARGV[i + 1] .. '}', 'id', 'deleted')
    if not o[1] or o[2] == '1' then return {'no-org'} end
  end
end
if #ARGV >= 6 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
return {'ok', redis.call('HGETALL', KEYS[1])}
