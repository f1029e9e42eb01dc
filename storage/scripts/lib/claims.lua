-- Library (see lib/events.lua for how libraries are used): the store's side
-- of an AUTH_CLAIMS route's token check, done inside the route's own script
-- so that the route makes one round trip.  Refuses as the request pipeline
-- does: a revoked token (logout), a token from before a password change or
-- of an account that is gone -> 'revoked'; an inactive or archived account
-- -> 'inactive' (handlers/auth.c, auth_refused).
-- Returns nil and the account's fields id, gen, status, archive, then the
-- extra ones asked for; or the refusal.
local function claims_account(account, revoked, gen, ...)
  if redis.call('EXISTS', revoked) == 1 then return 'revoked' end
  local a = redis.call('HMGET', account, 'id', 'gen', 'status', 'archive', ...)
  if not a[1] or tonumber(a[2] or '0') ~= tonumber(gen) then return 'revoked' end
  if a[3] ~= 'active' or a[4] == '1' then return 'inactive' end
  return nil, a
end
