-- Checks a token against revocation and returns its account.
-- KEYS[1] account hash   KEYS[2] the token's revocation key   ARGV[1] the token's generation
-- Returns {'ok', account fields} | {'revoked'} | {'gone'}
if redis.call('EXISTS', KEYS[2]) == 1 then return {'revoked'} end
local acct = redis.call('HGETALL', KEYS[1])
if #acct == 0 then return {'gone'} end
local gen = redis.call('HGET', KEYS[1], 'gen') or '0'
if gen ~= ARGV[1] then return {'revoked'} end
return {'ok', acct}
