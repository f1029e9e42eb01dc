--! lib: events
-- Replaces a password hash, but only if it is still the one the caller
-- verified against (a concurrent change wins once).  A password change also
-- bumps the token generation, which revokes every earlier token, and tells
-- the account's event streams in the same step: a stream that finds its
-- token revoked finds the event in the log too (handlers/events.c).
-- KEYS[1] account hash   KEYS[2] (a change that revokes) the account's event log
-- ARGV[1] expected current hash   ARGV[2] new hash   ARGV[3] '1': revoke tokens
-- ARGV[4..7] (when revoking) event name, data, entries kept, log lifetime (s)
-- Returns 1 when replaced, 0 when the hash had changed meanwhile.
if redis.call('HGET', KEYS[1], 'pw') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'pw', ARGV[2])
if ARGV[3] == '1' then
  redis.call('HINCRBY', KEYS[1], 'gen', 1)
  publish_event(KEYS[2], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
end
return 1
