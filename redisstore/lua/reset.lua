-- reset forgets what was spent, unlocks and re-arms the warning; calls in flight
-- keep their reservations and the windows keep their spend.
-- ARGV: the SHA-256 of the admin token, or "" when the caller checked it itself.
-- Codes: 1 reset, -3 the token does not match the one registered.
if ARGV[1] ~= '' then
  local known = redis.call('HGET', STATE, 'admin')
  if known and known ~= ARGV[1] then return reply(-3) end
  if not known then redis.call('HSET', STATE, 'admin', ARGV[1]) end
end
redis.call('HSET', STATE, 'spent', '0', 'calls', '0', 'refused', '0', 'violations', '0',
  'violation_amount', '0', 'locked', '0', 'reason', '', 'warned', '0')
redis.call('HINCRBY', STATE, 'epoch', 1)
redis.call('PUBLISH', CHANNEL, 'reset')
return reply(1)
