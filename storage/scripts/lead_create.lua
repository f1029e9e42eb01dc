-- A shopper leaves a lead (POST /leads) for the organization of a stream, or
-- for the organization an organization token names.  An unknown stream or
-- token, or a deleted organization, writes nothing.
-- KEYS[1] the lead (new)   KEYS[2] the stream (form 'stream') or the token's index (form 'token')
-- ARGV[1] key prefix   ARGV[2] form: stream | token   ARGV[3] lead id   ARGV[4] now (ms)
-- ARGV[5] the VIN as given (form 'token')   ARGV[6..] the lead's other fields and values
-- Returns {'ok', lead fields, the organization's owner} | {'not-found'}
local P = ARGV[1]
local org, vin, stream
if ARGV[2] == 'stream' then
  local s = redis.call('HMGET', KEYS[2], 'id', 'org', 'vin')
  if not s[1] then return {'not-found'} end
  stream, org, vin = s[1], s[2] or '', s[3] or ''
else
  org = redis.call('GET', KEYS[2])
  if not org then return {'not-found'} end
  stream, vin = '', ARGV[5]
end
local o = redis.call('HMGET', P .. '{org:' .. org .. '}', 'id', 'owner', 'deleted')
if not o[1] or o[3] == '1' then return {'not-found'} end
redis.call('HSET', KEYS[1], 'id', ARGV[3], 'organization', org, 'streamId', stream, 'vin', vin,
  'createdMs', ARGV[4], unpack(ARGV, 6))
redis.call('ZADD', P .. '{org:' .. org .. '}:leads', ARGV[4], ARGV[3])
redis.call('ZADD', P .. 'leads:all', ARGV[4], ARGV[3])
return {'ok', redis.call('HGETALL', KEYS[1]), o[2] or ''}
