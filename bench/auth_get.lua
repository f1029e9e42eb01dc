-- GET with an account token: `wrk -s bench/auth_get.lua URL -- <token>`.
function init(args)
  wrk.headers["Authorization"] = "Bearer " .. (args[1] or "none")
end
