-- beat renews the leases of this process's calls in flight and reads the whole state.
-- ARGV: lease ms, remember ms, then the ids to renew.
-- Reply after the state: calls, refused, violations, violation amount, in flight,
-- reclaimed, the registered caps (session, per call, warn at, daily, monthly, time
-- zone; strings, "" when none), then the spend of each window in KEYS[6..].
local lease, remember = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = clock()
housekeep(now, remember)
local until_ = str(now + lease)
for i = 3, #ARGV do
  redis.call('ZADD', LEASES, 'XX', until_, ARGV[i])
end
local s = redis.call('HMGET', STATE, 'calls', 'refused', 'violations', 'violation_amount', 'reclaimed',
  'cap_session', 'cap_per_call', 'cap_warn_at', 'cap_daily', 'cap_monthly', 'timezone')
local out = {int(s[1]), int(s[2]), int(s[3]), int(s[4]), redis.call('HLEN', HOLDS), int(s[5]),
  s[6] or '', s[7] or '', s[8] or '', s[9] or '', s[10] or '', s[11] or ''}
for j = 6, #KEYS do out[#out + 1] = int(redis.call('GET', KEYS[j])) end
return reply(1, unpack(out))
