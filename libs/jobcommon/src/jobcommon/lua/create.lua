-- Create a job record and index it (globally and in its owner's index and active set), unless the id is
-- taken, the client's idempotency key already made a job, or the same work (duplicate guard) is already
-- queued or running.
-- A job whose record says `scheduled` has its message parked (the parked hash, the delayed set scored by
-- when it is due: `run_at`, or Redis's clock plus `delay_s`) instead of added to its stream; promote.lua
-- moves it onto the stream when due. Its record, index entries and parked message live that much longer.
-- KEYS: job hash, job index, idempotency key, duplicate guard key, owner's index, owner's active set, the
--       stream its message goes onto, parked message hash, delayed set, the caller's rate limiter state (a
--       slot not in use holds the job key)
-- ARGV: ttl, score, task_id, index_ttl, idempotency ttl, use idempotency ('1'/'0'), use guard ('1'/'0'),
--       job key prefix, use owner ('1'/'0'), request fingerprint (binds the idempotency key), index facets
--       (JSON list), search tokens (JSON list), the message (the stream entry's one field value; '' none),
--       the record's fields (JSON object of strings), due (epoch s, or ''), delay (s, or ''), most live jobs
--       the owner may have (its active set's size; 0: no limit), the caller's rate: interval (s; '' for no
--       limit) and burst
-- Returns {REPLY_APPLIED} created; {REPLY_REFUSED} id taken; {REPLY_IDEMPOTENT, task id} idempotent replay;
-- {REPLY_MISMATCH, task id} the idempotency key made a job from another request; {REPLY_DUPLICATE, task id}
-- duplicate of a live job; {REPLY_OVER_QUOTA} the owner has its most live jobs already; {REPLY_RATE_LIMITED,
-- seconds to wait} the caller submits too fast. Replays, duplicates and a retried creation are answered before
-- the quota and the rate are looked at; only a job made counts toward the rate.
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
local quota = tonumber(ARGV[17])
if ARGV[9] == '1' and quota > 0 and redis.call('SCARD', KEYS[6]) >= quota then return {REPLY_OVER_QUOTA} end
if ARGV[18] ~= '' then  -- last of the checks: it counts the call when it lets it through
  local wait = gcra(KEYS[10], tonumber(ARGV[18]), tonumber(ARGV[19]), false)
  if wait > 0 then return {REPLY_RATE_LIMITED, tostring(wait)} end
end
local ttl, index_ttl = tonumber(ARGV[1]), tonumber(ARGV[4])
-- the message first: if it cannot be added (a script error does not roll back), nothing was written (but
-- the rate limiter's count)
if fields['status'] == 'scheduled' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local due = ARGV[15] ~= '' and tonumber(ARGV[15]) or now + tonumber(ARGV[16])
  local wait = math.max(0, math.ceil(due - now))
  ttl, index_ttl = ttl + wait, index_ttl + wait
  redis.call('HSET', KEYS[8], MESSAGE_FIELD, ARGV[13])
  redis.call('EXPIRE', KEYS[8], ttl)
  redis.call('ZADD', KEYS[9], due, ARGV[3])
elseif ARGV[13] ~= '' then
  redis.call('XADD', KEYS[7], '*', MESSAGE_FIELD, ARGV[13])
end
local flat = {'queued_ts', ARGV[2]}
for name, value in pairs(fields) do flat[#flat + 1] = name; flat[#flat + 1] = value end
redis.call('HSET', KEYS[1], unpack(flat))
redis.call('EXPIRE', KEYS[1], ttl)
ix_create(ARGV[3], ARGV[2], ARGV[11], ARGV[12], fields['status'], index_ttl, fields['queue'])  -- KEYS[2], KEYS[5]
if ARGV[9] == '1' then
  redis.call('SADD', KEYS[6], ARGV[3])
  redis.call('EXPIRE', KEYS[6], index_ttl)
  redis.call('HSET', KEYS[1], 'active_key', KEYS[6])
end
if ARGV[6] == '1' then redis.call('SET', KEYS[3], ARGV[3] .. ' ' .. ARGV[10], 'EX', ARGV[5]) end
if ARGV[7] == '1' then
  redis.call('SET', KEYS[4], ARGV[3], 'EX', ttl)
  redis.call('HSET', KEYS[1], 'dedupe_key', KEYS[4])
end
-- the new job onto the change feed (nobody follows its own channel yet: its id was not known before now), as
-- every change: the whole record but its request and result (a follower that merges an event into what it
-- shows must not get defaults for fields the record has, such as max_attempts or trace_id)
local job = {queued_ts = ARGV[2]}
for name, value in pairs(fields) do job[name] = value end
job['request'], job['result'] = nil, nil
announce_change(cjson.encode({kind = 'status', job = job}))
return {REPLY_APPLIED}
