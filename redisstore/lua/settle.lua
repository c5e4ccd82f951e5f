-- settle replaces a reservation with the actual cost.
-- ARGV: id, actual, remember ms, session cap, warn threshold (0: none), adopt (the
-- amount held elsewhere for a call this store never held, or -1), the lock reason
-- when the cap is reached, then the shared
-- windows (count, then the unix time each one ends; their spend is KEYS[6..]).
-- Reply after the state: {held, actual, events} with events a bit set: 1 warn,
-- 2 lock, 4 violation. Codes: 1 settled, 2 settled before (the first settlement),
-- -1 unknown, -2 released.
local id, actual = ARGV[1], tonumber(ARGV[2])
local remember, cap = tonumber(ARGV[3]), tonumber(ARGV[4])
local warnat, adopt, capReason = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local now = clock()
housekeep(now, remember)

local done = redis.call('HGET', IDS, id)
if done and string.sub(done, 1, 1) == 's' then
  local h, a = string.match(done, '^s(%d+) (%d+)$')
  return reply(2, tonumber(h), tonumber(a), 0)
end
if done == 'r' then return reply(-2, 0, 0, 0) end

local amount
local hold = redis.call('HGET', HOLDS, id)
if hold then
  amount = held(hold)
  redis.call('HDEL', HOLDS, id)
  redis.call('ZREM', LEASES, id)
  add('reserved', -amount)
elseif done then -- reclaimed: its hold was already returned
  amount = tonumber(string.sub(done, 2))
elseif adopt >= 0 then
  amount = adopt
else
  return reply(-1, 0, 0, 0)
end

local spent = redis.call('HINCRBY', STATE, 'spent', ARGV[2])
redis.call('HINCRBY', STATE, 'calls', 1)
local events = 0
if actual > amount then
  redis.call('HINCRBY', STATE, 'violations', 1)
  add('violation_amount', actual - amount)
  events = events + 4
end
local n = tonumber(ARGV[8])
for j = 1, n do
  redis.call('INCRBY', KEYS[5 + j], ARGV[2])
  redis.call('EXPIREAT', KEYS[5 + j], ARGV[8 + j])
end
local s = redis.call('HMGET', STATE, 'warned', 'locked')
if warnat > 0 and s[1] ~= '1' and spent >= warnat then
  redis.call('HSET', STATE, 'warned', '1')
  events = events + 1
end
if s[2] ~= '1' and spent >= cap then
  lock(capReason)
  events = events + 2
end
redis.call('HSET', IDS, id, 's' .. str(amount) .. ' ' .. ARGV[2])
redis.call('ZADD', EXPIRY, str(now + remember), id)
return reply(1, amount, actual, events)
