-- release returns a reservation for a call that was never billed.
-- ARGV: id, remember ms. Codes: 1 released, 2 released before, -1 unknown, -2 settled.
local id, remember = ARGV[1], tonumber(ARGV[2])
local now = clock()
housekeep(now, remember)
local hold = redis.call('HGET', HOLDS, id)
if hold then
  redis.call('HDEL', HOLDS, id)
  redis.call('ZREM', LEASES, id)
  add('reserved', -held(hold))
  redis.call('HSET', IDS, id, 'r')
  redis.call('ZADD', EXPIRY, str(now + remember), id)
  return reply(1)
end
local done = redis.call('HGET', IDS, id)
if done == 'r' then return reply(2) end
if done and string.sub(done, 1, 1) == 'g' then
  redis.call('HSET', IDS, id, 'r')
  return reply(1)
end
if done then return reply(-2) end
return reply(-1)
