--! lib: chatroom
-- POST /room/add: the pair's one room, made on first use (an id from the
-- deployment's counter), becomes the caller's current room.  Both members'
-- room sets are capped, so a list reads a bounded number of rooms.
-- KEYS[1] the caller's account   KEYS[2] the abonent's account
-- KEYS[3] the pair's index (the unordered pair of ids -> room id); an account's
-- rooms are a sorted set, creation time (unix seconds) -> room id
-- ARGV[1] key prefix   ARGV[2] caller id   ARGV[3] abonent id
-- ARGV[4] now (unix seconds, float)   ARGV[5] now (ISO)   ARGV[6] rooms per account, at most
-- Returns {'ok', view (lib/chatroom.lua)} | {'not-found'} (no abonent) | {'full'}
local P, me, ab = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', KEYS[2]) == 0 then return {'not-found'} end
local id = redis.call('GET', KEYS[3])
if not id then
  local mine, theirs = chatroom_acct(P, me) .. ':rooms', chatroom_acct(P, ab) .. ':rooms'
  local max = tonumber(ARGV[6])
  if redis.call('ZCARD', mine) >= max or redis.call('ZCARD', theirs) >= max then
    return {'full'}
  end
  id = tostring(redis.call('INCR', P .. 'rooms:seq'))
  redis.call('HSET', chatroom_key(P, id), 'id', id, 'a', me, 'b', ab, 'active', '0',
    'activity', ARGV[4], 'readA', '0', 'readB', '0', 'lastMsg', '0', 'createdAt', ARGV[5])
  redis.call('ZADD', mine, ARGV[4], id)
  redis.call('ZADD', theirs, ARGV[4], id)
  redis.call('SET', KEYS[3], id)
end
redis.call('HSET', KEYS[1], 'currentRoom', id)
return {'ok', chatroom_view(P, id, me, id)}
