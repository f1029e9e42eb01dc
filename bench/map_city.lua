-- GET /map at uniformly random points of a square city, as many customers
-- looking around would: `wrk -s bench/map_city.lua URL -- TOKEN LAT LONG METRES`
-- (the square reaches METRES from LAT,LONG each way; the URL's path is ignored).
local lat0, lon0, dlat, dlon

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. (args[1] or "none")
  lat0, lon0 = tonumber(args[2] or "0"), tonumber(args[3] or "0")
  local m = tonumber(args[4] or "5000")
  dlat = m / 111320
  dlon = m / (111320 * math.cos(math.rad(lat0)))
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  local lat = lat0 + (math.random() * 2 - 1) * dlat
  local lon = lon0 + (math.random() * 2 - 1) * dlon
  return wrk.format("GET", string.format("/map/%.6f/%.6f", lat, lon))
end
