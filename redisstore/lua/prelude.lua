-- Shared by every script. The keys of one budget share a hash tag, so that they live
-- in one slot of a Redis Cluster:
--   KEYS[1] state   hash: spent, reserved, calls, refused, violations, violation_amount,
--                   locked, reason, lockseq (locks so far), warned, epoch (resets so
--                   far), reclaimed, registered caps, admin
--   KEYS[2] holds   hash: reservation id -> "amount tokens"
--   KEYS[3] leases  sorted set: reservation id -> end of its lease (ms, server clock)
--   KEYS[4] ids     hash: id -> outcome: "s<held> <actual>" settled, "r" released,
--                   "g<amount>" reclaimed when its lease ran out
--   KEYS[5] expiry  sorted set: id -> when its outcome is forgotten (ms)
--   KEYS[6..]       the spend of the current daily and monthly windows
-- Money is integer nano-dollars; every amount stays below 2^53, where Lua's numbers
-- are exact, and is written back with string.format('%.0f').
local STATE, HOLDS, LEASES, IDS, EXPIRY = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local CHANNEL = string.sub(STATE, 1, -6) .. 'events'

local function int(v)
  if not v then return 0 end
  return tonumber(v) or 0
end

local function str(n)
  return string.format('%.0f', n)
end

local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- add adds n to a field of the state, skipping zero (a negative zero would print "-0").
local function add(field, n)
  if n ~= 0 then redis.call('HINCRBY', STATE, field, str(n)) end
end

-- idiv is floor(x / d) for non-negative integers below 2^53, corrected for the
-- rounding of the float division.
local function idiv(x, d)
  local q = math.floor(x / d)
  if q * d > x then q = q - 1 end
  if (q + 1) * d <= x then q = q + 1 end
  return q
end

-- held is the amount of a hold's "amount tokens" value.
local function held(hold)
  return tonumber(string.match(hold, '^(%d+)'))
end

-- housekeep returns the holds whose lease ran out to the budget and forgets old
-- outcomes, a bounded number of each per call.
local function housekeep(now, remember)
  local gone = redis.call('ZRANGEBYSCORE', LEASES, '-inf', now, 'LIMIT', 0, 64)
  for _, id in ipairs(gone) do
    local hold = redis.call('HGET', HOLDS, id)
    if hold then
      local amount = held(hold)
      redis.call('HDEL', HOLDS, id)
      add('reserved', -amount)
      redis.call('HINCRBY', STATE, 'reclaimed', 1)
      redis.call('HSET', IDS, id, 'g' .. str(amount))
      redis.call('ZADD', EXPIRY, str(now + remember), id)
    end
    redis.call('ZREM', LEASES, id)
  end
  local old = redis.call('ZRANGEBYSCORE', EXPIRY, '-inf', now, 'LIMIT', 0, 64)
  for _, id in ipairs(old) do
    redis.call('HDEL', IDS, id)
    redis.call('ZREM', EXPIRY, id)
  end
end

-- reply is {code, spent, reserved, locked, warned, reason, lockseq, epoch, ...}: the
-- state after the operation, then what the operation adds.
local function reply(code, ...)
  local s = redis.call('HMGET', STATE, 'spent', 'reserved', 'locked', 'warned', 'reason', 'lockseq', 'epoch')
  local out = {code, int(s[1]), int(s[2]), s[3] == '1' and 1 or 0, s[4] == '1' and 1 or 0, s[5] or '',
    int(s[6]), int(s[7])}
  for _, v in ipairs({...}) do out[#out + 1] = v end
  return out
end

-- lock locks the budget for every process and tells them.
local function lock(reason)
  redis.call('HSET', STATE, 'locked', '1', 'reason', reason)
  redis.call('HINCRBY', STATE, 'lockseq', 1)
  redis.call('PUBLISH', CHANNEL, 'lock')
end
