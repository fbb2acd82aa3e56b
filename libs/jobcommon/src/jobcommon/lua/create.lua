-- Create a job record and index it (globally and in its owner's index and active set), unless the id is
-- taken, the client's idempotency key already made a job, or the same work (duplicate guard) is already
-- queued or running.
-- KEYS: job hash, job index, idempotency key, duplicate guard key, owner's index, owner's active set, the
--       stream its message goes onto (a slot not in use holds the job key)
-- ARGV: ttl, score, task_id, index_ttl, idempotency ttl, use idempotency ('1'/'0'), use guard ('1'/'0'),
--       job key prefix, use owner ('1'/'0'), request fingerprint (binds the idempotency key), index facets
--       (JSON list), search tokens (JSON list), the message (the stream entry's one field value; '' none),
--       the record's fields (JSON object of strings)
-- Returns {REPLY_APPLIED} created; {REPLY_REFUSED} id taken; {REPLY_IDEMPOTENT, task id} idempotent replay;
-- {REPLY_MISMATCH, task id} the idempotency key made a job from another request; {REPLY_DUPLICATE, task id}
-- duplicate of a live job.
local fields = cjson.decode(ARGV[14])
if ARGV[6] == '1' then
  local previous = redis.call('GET', KEYS[3])
  if previous then
    local task, fingerprint = string.match(previous, '^(%S+) (%S*)$')
    if task and redis.call('EXISTS', ARGV[8] .. task) == 1 then
      if fingerprint ~= ARGV[10] then return {REPLY_MISMATCH, task} end
      return {REPLY_IDEMPOTENT, task}
    end
  end
end
if ARGV[7] == '1' then
  local live = redis.call('GET', KEYS[4])
  if live and redis.call('EXISTS', ARGV[8] .. live) == 1 then return {REPLY_DUPLICATE, live} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  -- the same creation retried after a lost reply (same id, same creation time) succeeded the first time
  local created_at = fields['created_at']
  if created_at and redis.call('HGET', KEYS[1], 'created_at') == created_at then return {REPLY_APPLIED} end
  return {REPLY_REFUSED}
end
-- the message first: if it cannot be added (a script error does not roll back), nothing was written
if ARGV[13] ~= '' then redis.call('XADD', KEYS[7], '*', MESSAGE_FIELD, ARGV[13]) end
local flat = {'queued_ts', ARGV[2]}
for name, value in pairs(fields) do flat[#flat + 1] = name; flat[#flat + 1] = value end
redis.call('HSET', KEYS[1], unpack(flat))
redis.call('EXPIRE', KEYS[1], ARGV[1])
ix_create(ARGV[3], ARGV[2], ARGV[11], ARGV[12], 'queued', ARGV[4], fields['queue'])  -- facets: KEYS[2], KEYS[5]
if ARGV[9] == '1' then
  redis.call('SADD', KEYS[6], ARGV[3])
  redis.call('EXPIRE', KEYS[6], ARGV[4])
  redis.call('HSET', KEYS[1], 'active_key', KEYS[6])
end
if ARGV[6] == '1' then redis.call('SET', KEYS[3], ARGV[3] .. ' ' .. ARGV[10], 'EX', ARGV[5]) end
if ARGV[7] == '1' then
  redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[1])
  redis.call('HSET', KEYS[1], 'dedupe_key', KEYS[4])
end
return {REPLY_APPLIED}
