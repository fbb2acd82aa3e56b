-- A running job's periodic check-in: is it still ours, was a cancel requested? Optionally renews the lease
-- (resets the delivery's idle time) and the record's TTL.
-- KEYS: job hash, stream, inflight hash
-- ARGV: run id, renew ('1'/'0'), group, consumer, entry id, ttl
-- Returns {state, cancel_requested}: state 'ok', 'lost' (another run owns the job or the delivery was
-- reclaimed) or the job's status when it is no longer running.
local values = redis.call('HMGET', KEYS[1], 'status', 'cancel_requested', 'run_id')
if not values[1] then return {'lost', ''} end
if values[1] ~= 'running' then return {values[1], values[2] or ''} end
if values[3] ~= ARGV[1] then return {'lost', ''} end
if ARGV[2] == '1' then
  local claimed = redis.call('XCLAIM', KEYS[2], ARGV[3], ARGV[4], 0, ARGV[5], 'JUSTID')
  if #claimed == 0 then return {'lost', ''} end
  redis.call('EXPIRE', KEYS[1], ARGV[6])
  redis.call('EXPIRE', KEYS[3], ARGV[6])
end
return {'ok', values[2] or ''}
