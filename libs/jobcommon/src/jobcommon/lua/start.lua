-- A worker takes a delivered job: queued/retrying -> running, fenced by a fresh run id.
-- The delivery must still be this consumer's pending entry (not reclaimed meanwhile); claiming it also resets
-- its idle time, which is the job's lease.
-- KEYS: job hash, events channel, stream, inflight hash
-- ARGV: group, consumer, entry id, run id, ttl, started_at, worker, task id
-- Returns {REPLY_APPLIED, hgetall} started; {REPLY_REFUSED, status} refused (status '' when the record is
-- gone); {REPLY_LOST} when the delivery is no longer this consumer's.
local claimed = redis.call('XCLAIM', KEYS[3], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
if #claimed == 0 then return {REPLY_LOST} end
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {REPLY_REFUSED, ''} end
if status == 'running' and redis.call('HGET', KEYS[1], 'run_id') == ARGV[4] then
  return {REPLY_APPLIED, redis.call('HGETALL', KEYS[1])}  -- this very start, retried after a lost reply
end
if status ~= 'queued' and status ~= 'retrying' then return {REPLY_REFUSED, status} end
redis.call('HSET', KEYS[1], 'status', 'running', 'run_id', ARGV[4], 'entry_id', ARGV[3], 'started_at', ARGV[6],
  'worker', ARGV[7], 'error', '', 'next_attempt_at', '')
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
progress_reset(KEYS[1], '', ARGV[6])  -- the run reports afresh (a retry's or requeue's words go)
ix_update(ARGV[8], 'running', '')
attempt_started(KEYS[1], tonumber(redis.call('HGET', KEYS[1], 'attempts')), ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('HSET', KEYS[4], ARGV[3], ARGV[8])
redis.call('EXPIRE', KEYS[4], ARGV[5])
local flat = redis.call('HGETALL', KEYS[1])
local job = {}
for i = 1, #flat, 2 do job[flat[i]] = flat[i + 1] end
job["request"], job["result"] = nil, nil  -- events stay small: followers read these from the record
announce(KEYS[2], cjson.encode({kind = 'status', job = job}))
return {REPLY_APPLIED, flat}
