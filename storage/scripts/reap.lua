-- Claims due deadlines so that exactly one instance fires each.
-- KEYS[1] deadlines sorted set (score: due time, unix ms)
-- ARGV[1] now (unix ms)   ARGV[2] lease (ms)   ARGV[3] how many at most
-- Returns the claimed members.  A claimed member is not removed but pushed to
-- now + lease: the kind's own script removes it when it acts, and if the
-- claiming instance dies first, another one claims it again after the lease.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
if #due > 0 then
  local lease = tonumber(ARGV[1]) + tonumber(ARGV[2])
  local args = {}
  for _, member in ipairs(due) do
    args[#args + 1] = lease
    args[#args + 1] = member
  end
  redis.call('ZADD', KEYS[1], 'XX', unpack(args))
end
return due
