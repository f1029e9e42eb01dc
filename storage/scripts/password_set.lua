-- Replaces a password hash, but only if it is still the one the caller
-- verified against (a concurrent change wins once).  A password change also
-- bumps the token generation, which revokes every earlier token.
-- KEYS[1] account hash   ARGV[1] expected current hash   ARGV[2] new hash   ARGV[3] '1': revoke tokens
-- Returns 1 when replaced, 0 when the hash had changed meanwhile.
if redis.call('HGET', KEYS[1], 'pw') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'pw', ARGV[2])
if ARGV[3] == '1' then redis.call('HINCRBY', KEYS[1], 'gen', 1) end
return 1
