-- Create a job record and index it, unless the id is taken, the client's idempotency key already made a job,
-- or the same work (duplicate guard) is already queued or running.
-- KEYS: job hash, job index, idempotency key ('' slot unused), duplicate guard key ('' slot unused)
-- ARGV: ttl, score, task_id, index_ttl, idempotency ttl, use idempotency ('1'/'0'), use guard ('1'/'0'),
--       job key prefix, field, value, ...
-- Returns {REPLY_APPLIED} created; {REPLY_REFUSED} id taken; {REPLY_IDEMPOTENT, task id} idempotent replay;
-- {REPLY_DUPLICATE, task id} duplicate of a live job.
if ARGV[6] == '1' then
  local previous = redis.call('GET', KEYS[3])
  if previous and redis.call('EXISTS', ARGV[8] .. previous) == 1 then return {REPLY_IDEMPOTENT, previous} end
end
if ARGV[7] == '1' then
  local live = redis.call('GET', KEYS[4])
  if live and redis.call('EXISTS', ARGV[8] .. live) == 1 then return {REPLY_DUPLICATE, live} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  -- the same creation retried after a lost reply (same id, same creation time) succeeded the first time
  local created_at = nil
  for i = 9, #ARGV, 2 do if ARGV[i] == 'created_at' then created_at = ARGV[i + 1] end end
  if created_at and redis.call('HGET', KEYS[1], 'created_at') == created_at then return {REPLY_APPLIED} end
  return {REPLY_REFUSED}
end
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
if redis.call('TTL', KEYS[2]) < tonumber(ARGV[4]) then
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
if ARGV[6] == '1' then redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[5]) end
if ARGV[7] == '1' then
  redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[1])
  redis.call('HSET', KEYS[1], 'dedupe_key', KEYS[4])
end
return {REPLY_APPLIED}
