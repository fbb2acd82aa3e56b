-- A running job's periodic check-in: renew its record's TTL while it runs and report whether a cancel was
-- requested.
-- KEYS: job hash
-- ARGV: ttl
-- Returns {status or '', cancel_requested or ''}.
local values = redis.call('HMGET', KEYS[1], 'status', 'cancel_requested')
if values[1] == 'running' then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {values[1] or '', values[2] or ''}
