-- Put pending deliveries back on their queue as fresh entries: a dead worker's (reclaim: the run counts as an
-- attempt, and a job out of attempts is dead-lettered) or a stopping worker's own (release: the run does not
-- count). Works from entry ids alone, so it needs no message decoding.
-- In 'reclaim' mode the entries are found here (those idle longer than the lease), so finding and requeueing
-- are one atomic step; given a liveness key prefix (ARGV[12]) only those of consumers whose liveness key says
-- their beats came without a break for ARGV[13] ms (lua/beat.lua: a live but wedged worker; after a Redis
-- outage nobody's run is that long until a lease after it, so a live worker gets time to renew) and of the
-- reclaimer itself; a consumer without a key is the 'orphans' mode's to judge. In 'orphans' mode they are the pending entries of consumers whose
-- liveness key (prefix in ARGV[12]) has expired, i.e. whose process died, among those named in ARGV[13...]
-- (the caller's suspects: seen without a key on passes far enough apart, see jobcommon.upkeep); in 'release' mode the caller names
-- its own entries. A lost run counts as an attempt ('reclaim', 'orphans'); a handed-back one does not.
-- KEYS: stream, inflight hash, dead-letter stream
-- ARGV: group, mode ('reclaim'|'orphans'|'release'), job key prefix, events prefix, queued ttl, result ttl,
--       now (ISO), dead-letter max length, queue name, reclaimer consumer, min idle ms,
--       then the liveness key prefix and consumer, ... ('orphans'), entry id, ... ('release') or, optionally,
--       the liveness key prefix and the unbroken run of beats (ms) a consumer needs ('reclaim')
-- Returns {requeued, dead, dropped}.
local requeued, dead, dropped = 0, 0, 0
local ids = {}
local counted = ARGV[2] ~= 'release'
local gone = {}  -- dead consumers whose every pending entry is handled here: removed from the group after
if ARGV[2] == 'reclaim' and (ARGV[12] or '') ~= '' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local steady = {}  -- consumer -> whether its beats came without a break for long enough
  local start, scanned = '-', 0
  while #ids < 100 and scanned < 1000 do
    local page = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[11], start, '+', 100)
    for _, entry in ipairs(page) do
      local consumer = entry[2]
      if steady[consumer] == nil then
        local since = tonumber(redis.call('GET', ARGV[12] .. consumer) or '')
        steady[consumer] = consumer == ARGV[10] or (since ~= nil and now - since >= tonumber(ARGV[13]))
      end
      if steady[consumer] and #ids < 100 then ids[#ids + 1] = entry[1] end
    end
    scanned = scanned + #page
    if #page < 100 then break end
    start = '(' .. page[#page][1]
  end
elseif ARGV[2] == 'reclaim' then
  ids = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[10], ARGV[11], '0-0', 'COUNT', 100, 'JUSTID')[2]
elseif ARGV[2] == 'orphans' then
  local suspects = {}
  for i = 13, #ARGV do suspects[ARGV[i]] = true end
  local consumers = redis.pcall('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
  if consumers['err'] then consumers = {} end  -- no stream or group (yet): nobody to reclaim from
  for _, fields in ipairs(consumers) do
    local consumer = {}
    for i = 1, #fields, 2 do consumer[fields[i]] = fields[i + 1] end
    if tonumber(consumer['pending']) > 0 and suspects[consumer['name']] and consumer['name'] ~= ARGV[10]
        and redis.call('EXISTS', ARGV[12] .. consumer['name']) == 0 then
      for _, entry in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 100, consumer['name'])) do
        ids[#ids + 1] = entry[1]
      end
      if tonumber(consumer['pending']) <= 100 then gone[#gone + 1] = consumer['name'] end
    end
  end
else
  for i = 12, #ARGV do ids[#ids + 1] = ARGV[i] end
end
for _, id in ipairs(ids) do
  local entry = redis.call('XRANGE', KEYS[1], id, id)
  local task = redis.call('HGET', KEYS[2], id)
  redis.call('XACK', KEYS[1], ARGV[1], id)
  redis.call('XDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  local job_key = task and (ARGV[3] .. task) or nil
  local values = job_key and redis.call('HMGET', job_key, 'status', 'entry_id', 'attempts', 'max_attempts') or {}
  if #entry == 0 then
    dropped = dropped + 1
  elseif job_key and values[1] == 'running' and values[2] == id then
    local attempts = tonumber(values[3] or '0')
    if not counted then attempts = attempts - 1 end
    if counted and attempts >= tonumber(values[4] or '1') then
      redis.call('HSET', job_key, 'status', 'failed', 'run_id', '', 'entry_id', '', 'finished_at', ARGV[7],
        'dead', '1', 'error', cjson.encode({type = 'WorkerLost',
          message = 'its worker stopped responding on each of ' .. attempts .. ' attempts; dead-lettered'}))
      redis.call('EXPIRE', job_key, ARGV[6])
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', 'task_id', task, 'queue', ARGV[9],
        'reason', 'WorkerLost', 'at', ARGV[7])
      redis.call('EXPIRE', KEYS[3], ARGV[6])
      local dedupe = redis.call('HGET', job_key, 'dedupe_key')
      if dedupe and dedupe ~= '' then redis.call('DEL', dedupe) end
      ix_update(task, 'failed', '["workerlost"]')
      attempt_ended(job_key, 'failed')
      leave_active(job_key)
      notify_parent(job_key)
      dead = dead + 1
    else
      redis.call('XADD', KEYS[1], '*', unpack(entry[1][2]))
      redis.call('HSET', job_key, 'status', 'queued', 'run_id', '', 'entry_id', '', 'worker', '',
        'attempts', attempts)
      progress_reset(job_key, counted and 'its worker was lost; queued again'
        or 'handed back by a stopping worker; queued again', ARGV[7])
      redis.call('EXPIRE', job_key, ARGV[5])
      ix_update(task, 'queued', '')
      attempt_ended(job_key, 'reclaimed')
      mark_queued(job_key)
      requeued = requeued + 1
    end
    local flat = redis.call('HGETALL', job_key)
    local job = {}
    for j = 1, #flat, 2 do job[flat[j]] = flat[j + 1] end
    job["request"], job["result"] = nil, nil  -- events stay small: followers read these from the record
    announce(ARGV[4] .. task, cjson.encode({kind = 'status', job = job}))
  elseif not task then
    -- delivered but never started (e.g. waiting for a free slot when its worker died): back in line
    redis.call('XADD', KEYS[1], '*', unpack(entry[1][2]))
    requeued = requeued + 1
  else
    dropped = dropped + 1
  end
end
for _, name in ipairs(gone) do redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name) end
return {requeued, dead, dropped}
