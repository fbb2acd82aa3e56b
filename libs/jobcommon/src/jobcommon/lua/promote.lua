-- Move due retries and scheduled jobs onto their queues, by Redis's clock (never early, whichever service
-- promotes; each once: the job leaves the set in the step that enqueues it).
-- KEYS: delayed zset
-- ARGV: (unused), limit, job key prefix, events prefix, parked prefix, stream prefix, queued ttl
-- Returns the number of jobs enqueued.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local moved = 0
for _, task in ipairs(due) do
  redis.call('ZREM', KEYS[1], task)
  local job_key = ARGV[3] .. task
  local parked_key = ARGV[5] .. task
  local values = redis.call('HMGET', job_key, 'status', 'queue', 'priority')
  local fields = redis.call('HGETALL', parked_key)
  redis.call('DEL', parked_key)
  if (values[1] == 'retrying' or values[1] == 'scheduled') and #fields > 0 then
    local stream = ARGV[6] .. values[2]  -- the job's lane (jobcommon.keys.stream(queue, priority))
    if values[3] and values[3] ~= '' and values[3] ~= NORMAL_PRIORITY then
      stream = stream .. LANE_SEPARATOR .. values[3]
    end
    redis.call('XADD', stream, '*', unpack(fields))
    redis.call('HSET', job_key, 'status', 'queued', 'next_attempt_at', '')
    progress_reset(job_key, '', nil)  -- "next attempt in 2.0 s" is over
    redis.call('EXPIRE', job_key, ARGV[7])
    ix_update(task, 'queued', '')
    mark_queued(job_key)
    local flat = redis.call('HGETALL', job_key)
    local job = {}
    for i = 1, #flat, 2 do job[flat[i]] = flat[i + 1] end
    job["request"], job["result"] = nil, nil  -- events stay small: followers read these from the record
    announce(ARGV[4] .. task, cjson.encode({kind = 'status', job = job}))
    moved = moved + 1
  end
end
return moved
