-- reserve holds the worst case of one call under every limit, or refuses it.
-- ARGV: id, lease ms, remember ms, session cap, per-call cap, input, output rate,
-- want (0: none), floor, needed, the lock reason when the spend leaves too little,
-- then the request's windows (count, then cap and
-- spent of each), then the shared windows (count, then the cap of each; their spend
-- is KEYS[6..]).
-- Reply after the state: granted {tokens, amount}; refused {limit, cap, spent,
-- reserved, locked now (1) or not (0)}. Codes: 1 granted, 0 refused.
local id = ARGV[1]
local lease, remember = tonumber(ARGV[2]), tonumber(ARGV[3])
local cap, percall = tonumber(ARGV[4]), tonumber(ARGV[5])
local input, rate = tonumber(ARGV[6]), tonumber(ARGV[7])
local want, floor, needed = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local spentReason = ARGV[11]
local now = clock()
housekeep(now, remember)

local hold = redis.call('HGET', HOLDS, id)
if hold then -- a retry of a reservation already held
  local amount, tokens = string.match(hold, '^(%d+) (%d+)$')
  return reply(1, tonumber(tokens), tonumber(amount))
end

local s = redis.call('HMGET', STATE, 'spent', 'reserved', 'locked')
local spent, reserved = int(s[1]), int(s[2])
if s[3] == '1' then
  redis.call('HINCRBY', STATE, 'refused', 1)
  return reply(0, 'locked', cap, spent, 0, 0)
end

-- The binding limit: the one with the least money left, in the order session,
-- per call, the request's windows, the shared windows.
local limit, lcap, lspent, lreserved = 'session', cap, spent, reserved
local left = math.max(cap - spent - reserved, 0)
if percall > 0 and percall < left then
  limit, lcap, lspent, lreserved, left = 'per_call', percall, 0, 0, percall
end
local i = 12
for j = 1, tonumber(ARGV[i]) do
  local wcap, wspent = tonumber(ARGV[i + 2 * j - 1]), tonumber(ARGV[i + 2 * j])
  local wleft = math.max(wcap - wspent - reserved, 0)
  if wleft < left then
    limit, lcap, lspent, lreserved, left = 'r' .. j, wcap, wspent, reserved, wleft
  end
end
i = i + 1 + 2 * tonumber(ARGV[i])
for j = 1, tonumber(ARGV[i]) do
  local wcap, wspent = tonumber(ARGV[i + j]), int(redis.call('GET', KEYS[5 + j]))
  local wleft = math.max(wcap - wspent - reserved, 0)
  if wleft < left then
    limit, lcap, lspent, lreserved, left = 's' .. j, wcap, wspent, reserved, wleft
  end
end

-- cost is ceil(tokens * rate / 1e6), exact: both factors are split at a million.
local function cost(tokens)
  if rate == 0 or tokens == 0 then return 0 end
  local th, rh = idiv(tokens, 1e6), idiv(rate, 1e6)
  local tl, rl = tokens - th * 1e6, rate - rh * 1e6
  local low = tl * rl
  local c = th * rate + tl * rh + idiv(low, 1e6)
  if low - idiv(low, 1e6) * 1e6 > 0 then c = c + 1 end
  return c
end

-- grant is core.DecideGrant: the output tokens that fit in avail, up to want.
local function grant(avail)
  local afford = avail - input
  if afford < 0 then return nil end
  local fit = want
  if rate > 0 then -- floor(afford * 1e6 / rate), one decimal digit at a time
    local q = idiv(afford, rate)
    local r = afford - q * rate
    for _ = 1, 6 do
      r = r * 10
      local d = idiv(r, rate)
      r = r - d * rate
      q = q * 10 + d
    end
    fit = q
  end
  local tokens = math.min(want, fit)
  if tokens < floor then return nil end
  return tokens, input + cost(tokens)
end

local tokens, amount = grant(left)
if not tokens then
  redis.call('HINCRBY', STATE, 'refused', 1)
  local locked = 0
  if limit == 'session' and cap - spent < needed then
    -- Even with every call in flight released, the session cannot pay: it is spent.
    lock(spentReason)
    locked = 1
  end
  return reply(0, limit, lcap, lspent, lreserved, locked)
end
redis.call('HSET', HOLDS, id, str(amount) .. ' ' .. str(tokens))
add('reserved', amount)
redis.call('ZADD', LEASES, str(now + lease), id)
return reply(1, tokens, amount)
