-- register records the caps of a process that meters against this budget, for
-- operators, and the SHA-256 of its admin token when none is registered yet.
-- ARGV: session, per call, warn at, daily, monthly, time zone, admin hash ("": none).
-- Reply after the state: the caps registered before (strings), then 1 when the
-- registered admin token is this one, 0 when another, -1 when none.
local before = redis.call('HMGET', STATE, 'cap_session', 'cap_per_call', 'cap_warn_at', 'cap_daily', 'cap_monthly', 'timezone')
redis.call('HSET', STATE, 'cap_session', ARGV[1], 'cap_per_call', ARGV[2], 'cap_warn_at', ARGV[3],
  'cap_daily', ARGV[4], 'cap_monthly', ARGV[5], 'timezone', ARGV[6])
if ARGV[7] ~= '' then redis.call('HSETNX', STATE, 'admin', ARGV[7]) end
local admin = redis.call('HGET', STATE, 'admin')
local match = -1
if admin then match = (admin == ARGV[7]) and 1 or 0 end
return reply(1, before[1] or '', before[2] or '', before[3] or '', before[4] or '', before[5] or '', before[6] or '', match)
