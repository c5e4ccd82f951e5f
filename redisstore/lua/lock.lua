-- lock refuses every later call until a reset. ARGV: reason.
-- Codes: 1 locked now, 0 locked before.
if redis.call('HGET', STATE, 'locked') == '1' then return reply(0) end
lock(ARGV[1])
return reply(1)
