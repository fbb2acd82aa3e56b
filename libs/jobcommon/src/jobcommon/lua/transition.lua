-- Atomically move a job from one of the allowed statuses, write fields, announce the change and, when the
-- job thereby leaves its worker, acknowledge and delete its stream entry ("ended" and "acknowledged" never
-- disagree).
-- KEYS: job hash, job events channel, [stream, inflight hash], [dead-letter stream]
-- ARGV: allowed ('|queued|retrying|'), new status ('' keeps it), ttl (0 keeps it), event kind ('' publishes
--       nothing), attempts increment, consumer group ('' acknowledges nothing), stream entry id,
--       expected run id ('' for any), dead-letter reason ('' for none), staged follow-ups to release when
--       the job succeeds (JSON [[staged stream, queue stream], ...] or ''), search tokens to add (JSON list
--       or ''), reply with the record ('1'/'0'), field, value, ...
-- Returns {REPLY_APPLIED, hgetall} on success ({REPLY_APPLIED, status} unless the record was asked for), {REPLY_REFUSED, current status} when not allowed,
-- {REPLY_MISSING} when the job does not exist, {REPLY_LOST} when another run owns the job.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {REPLY_MISSING} end
if not string.find(ARGV[1], '|' .. status .. '|', 1, true) then return {REPLY_REFUSED, status} end
if ARGV[8] ~= '' and redis.call('HGET', KEYS[1], 'run_id') ~= ARGV[8] then return {REPLY_LOST} end
if #ARGV >= 13 then redis.call('HSET', KEYS[1], unpack(ARGV, 13)) end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[2]) end
if tonumber(ARGV[5]) ~= 0 then redis.call('HINCRBY', KEYS[1], 'attempts', ARGV[5]) end
if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
if ARGV[6] ~= '' then
  redis.call('XACK', KEYS[3], ARGV[6], ARGV[7])
  redis.call('XDEL', KEYS[3], ARGV[7])
  redis.call('HDEL', KEYS[4], ARGV[7])
end
if ARGV[2] == 'succeeded' or ARGV[2] == 'failed' or ARGV[2] == 'cancelled' then
  local dedupe = redis.call('HGET', KEYS[1], 'dedupe_key')
  if dedupe and dedupe ~= '' then redis.call('DEL', dedupe) end
end
if ARGV[9] ~= '' then
  local info = redis.call('HMGET', KEYS[1], 'task_id', 'queue', 'finished_at')
  redis.call('HSET', KEYS[1], 'dead', '1')
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', 10000, '*', 'task_id', info[1], 'queue', info[2], 'reason', ARGV[9],
    'at', info[3] or '')
  redis.call('EXPIRE', KEYS[5], ARGV[3])  -- dead letters outlive their jobs' records by nothing
end
if ARGV[2] == 'succeeded' and ARGV[10] ~= '' then
  -- follow-ups become visible to workers only now, in the step that records their parent's success
  for _, pair in ipairs(cjson.decode(ARGV[10])) do
    for _, entry in ipairs(redis.call('XRANGE', pair[1], '-', '+')) do
      redis.call('XADD', pair[2], '*', unpack(entry[2]))
    end
    redis.call('DEL', pair[1])
  end
end
if ARGV[2] ~= '' or ARGV[11] ~= '' then ix_update(redis.call('HGET', KEYS[1], 'task_id'), ARGV[2], ARGV[11]) end
if status == 'running' and (ARGV[2] == 'succeeded' or ARGV[2] == 'failed' or ARGV[2] == 'cancelled') then
  attempt_ended(KEYS[1], ARGV[2])
elseif ARGV[2] == 'queued' then
  mark_queued(KEYS[1])
  progress_reset(KEYS[1], "", nil)  -- queued again (a retry): nothing of the last run's words or percent
end
if ARGV[2] == 'succeeded' or ARGV[2] == 'failed' or ARGV[2] == 'cancelled' then
  leave_active(KEYS[1])
  notify_parent(KEYS[1])
elseif ARGV[2] == 'queued' then
  join_active(KEYS[1])
end
if ARGV[4] == 'progress' then entry_progress(KEYS[1]) end  -- a child's progress moves its waiting parent's
if ARGV[4] == '' and ARGV[12] ~= '1' then return {REPLY_APPLIED, ARGV[2] ~= '' and ARGV[2] or status} end
local flat = redis.call('HGETALL', KEYS[1])
if ARGV[4] ~= '' then
  local job = {}
  for i = 1, #flat, 2 do job[flat[i]] = flat[i + 1] end
  job["request"], job["result"] = nil, nil  -- events stay small: followers read these from the record
  announce(KEYS[2], cjson.encode({kind = ARGV[4], job = job}))
end
if ARGV[12] ~= '1' then return {REPLY_APPLIED, ARGV[2] ~= '' and ARGV[2] or status} end
return {REPLY_APPLIED, flat}
