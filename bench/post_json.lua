-- POST a fixed JSON body: `wrk -s bench/post_json.lua URL -- '<json>'`.
function init(args)
  wrk.method = "POST"
  wrk.body = args[1] or "{}"
  wrk.headers["Content-Type"] = "application/json"
end
