-- The shared token-signing secret: the first instance to get here stores its
-- candidate; every instance gets the stored one back.
-- KEYS[1] secret key   ARGV[1] candidate (hex)
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
