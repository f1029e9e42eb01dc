-- Finds an account by an identity (email, phone or username index).
-- KEYS[1] identity index key   ARGV[1] key prefix
-- Returns the account's fields, or an empty array.
local id = redis.call('GET', KEYS[1])
if not id then return {} end
return redis.call('HGETALL', ARGV[1] .. '{acct:' .. id .. '}')
