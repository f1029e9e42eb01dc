-- Online/offline and location of an account; the location also goes into the
-- GEO set of the account's type (operators and dealers are searched by place).
-- KEYS[1] account hash   KEYS[2] GEO set, or KEYS[1] again when the type has none
-- ARGV[1] online: '1' | '0' | '' (unchanged)   ARGV[2] latitude ('' unchanged)   ARGV[3] longitude
-- ARGV[4] now (ISO)   ARGV[5] now (ms)   ARGV[6] account id
-- Returns {'ok', fields} | {'gone'}
if redis.call('EXISTS', KEYS[1]) == 0 then return {'gone'} end
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'online', ARGV[1]) end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'lat', ARGV[2], 'lon', ARGV[3], 'locAt', ARGV[4], 'locMs', ARGV[5])
  if KEYS[2] ~= KEYS[1] then
    -- Redis GEO indexes latitudes within +-85.05112878 only (Web Mercator):
    -- a point beyond is kept on the account but cannot be searched by place.
    if math.abs(tonumber(ARGV[2])) <= 85.05112878 then
      redis.call('GEOADD', KEYS[2], ARGV[3], ARGV[2], ARGV[6])
    else
      redis.call('ZREM', KEYS[2], ARGV[6])
    end
  end
end
return {'ok', redis.call('HGETALL', KEYS[1])}
