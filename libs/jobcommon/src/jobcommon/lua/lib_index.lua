-- Shared by every job-state script (prepended when loaded): the listing and search index, and announcing.
-- The names and limits it uses (INDEX_META, TOKEN_PREFIX, JOB_CHANGES, ...) are prepended as constants, from
-- keys.py, search_tokens.py, change_feed.py and models.py.
-- A job's index entries: every facet sorted set (all jobs, by type, by queue; per owner too) and the facet's
-- sorted set for its current status, plus one sorted set per search token, all scored by its creation time.
-- Its meta entry (INDEX_META) lists them, so a status change moves it and a removal finds every entry.
local function now_epoch()
  local t = redis.call('TIME')
  return t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
end

local TERMINAL = {succeeded = true, failed = true, cancelled = true}

local function ix_expire(key, ttl)
  if redis.call('TTL', key) < tonumber(ttl) then redis.call('EXPIRE', key, ttl) end
end

local function ix_read(task)
  local raw = redis.call('HGET', INDEX_META, task)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function ix_write(task, meta)
  redis.call('HSET', INDEX_META, task, cjson.encode(meta))
  ix_expire(INDEX_META, meta.x)
end

local function ix_add_tokens(task, meta, tokens)
  local have = {}
  for _, token in ipairs(meta.t) do have[token] = true end
  local added = false
  for _, token in ipairs(tokens) do
    if #meta.t >= TOKEN_LIMIT then break end
    if not have[token] then
      have[token] = true
      meta.t[#meta.t + 1] = token
      redis.call('ZADD', TOKEN_PREFIX .. token, meta.c, task)
      ix_expire(TOKEN_PREFIX .. token, meta.x)
      redis.call('ZADD', VOCABULARY, 0, token)
      added = true
    end
  end
  if added then ix_expire(VOCABULARY, meta.x) end
end

-- A new job: into every facet, each facet's status set, and its tokens' sets.
local function ix_create(task, score, facets_json, tokens_json, status, ttl, queue)
  local meta = {c = score, f = cjson.decode(facets_json), s = status, t = {}, x = tonumber(ttl), q = queue}
  for _, facet in ipairs(meta.f) do
    redis.call('ZADD', facet, score, task)
    ix_expire(facet, ttl)
    local by_status = facet .. INDEX_STATUS_SEP .. status
    redis.call('ZADD', by_status, score, task)
    ix_expire(by_status, ttl)
  end
  ix_add_tokens(task, meta, cjson.decode(tokens_json))
  ix_write(task, meta)
end

-- A status change (and tokens learned from it, a JSON list or ''): the job moves between status sets.
local function ix_update(task, status, tokens_json)
  local meta = ix_read(task)
  if not meta then return end
  if status ~= '' and status ~= meta.s then
    for _, facet in ipairs(meta.f) do
      redis.call('ZREM', facet .. INDEX_STATUS_SEP .. meta.s, task)
      local by_status = facet .. INDEX_STATUS_SEP .. status
      redis.call('ZADD', by_status, meta.c, task)
      ix_expire(by_status, meta.x)
    end
    if TERMINAL[status] and not TERMINAL[meta.s] and meta.q then  -- throughput, for the janitor's samples
      redis.call('HINCRBY', FINISHED_COUNTS, meta.q, 1)
      ix_expire(FINISHED_COUNTS, meta.x)
    end
    meta.s = status
  end
  if tokens_json and tokens_json ~= '' then ix_add_tokens(task, meta, cjson.decode(tokens_json)) end
  ix_write(task, meta)
end

-- The job's record is gone (expired or purged): every index entry goes (an entry without meta, from the
-- global index only).
local function ix_remove(task, fallback_index)
  local meta = ix_read(task)
  if not meta then
    redis.call('ZREM', fallback_index, task)
    return
  end
  for _, facet in ipairs(meta.f) do
    redis.call('ZREM', facet, task)
    redis.call('ZREM', facet .. INDEX_STATUS_SEP .. meta.s, task)
  end
  for _, token in ipairs(meta.t) do
    redis.call('ZREM', TOKEN_PREFIX .. token, task)
    if redis.call('EXISTS', TOKEN_PREFIX .. token) == 0 then redis.call('ZREM', VOCABULARY, token) end
  end
  redis.call('HDEL', INDEX_META, task)
end

-- Publish a job's change on its channel and append it to the change feed (GET /jobs/stream).
-- A change of a job, onto the feed every change goes to (what GET /jobs/stream follows).
local function announce_change(payload)
  redis.call('XADD', JOB_CHANGES, 'MAXLEN', '~', CHANGES_MAXLEN, '*', 'e', payload)
  redis.call('EXPIRE', JOB_CHANGES, CHANGES_TTL)
end

-- A change of a job, to its own followers (`channel`) and onto the feed.
local function announce(channel, payload)
  redis.call('PUBLISH', channel, payload)
  announce_change(payload)
end

-- A job starting a run or put back in line: its progress takes `message` and keeps a bulk job's item counts,
-- nothing of an earlier run's percent, bytes, speed or ETA. A job with no progress yet is left as it is unless
-- there is a message to show. `now`: ISO time, or nil.
local function progress_reset(job_key, message, now)
  local raw = redis.call('HGET', job_key, 'progress')
  if (not raw or raw == '') and message == '' then return end
  local ok, last = pcall(cjson.decode, raw or '')
  if not ok or type(last) ~= 'table' then last = {} end
  redis.call('HSET', job_key, 'progress', cjson.encode({message = message, items_total = last.items_total,
    items_done = last.items_done, items_failed = last.items_failed, updated_at = now}))
end

-- The attempts timeline (the record's `attempt_log`, at most ATTEMPT_LOG_LIMIT entries, oldest dropped): an
-- entry opens when a run starts and closes with its outcome. `queued_ts` says since when the job waits.
local function mark_queued(job_key)
  redis.call('HSET', job_key, 'queued_ts', now_epoch())
end

local function attempt_started(job_key, attempt, worker)
  local now = tonumber(now_epoch())
  local queued = tonumber(redis.call('HGET', job_key, 'queued_ts') or '') or now
  local raw = redis.call('HGET', job_key, 'attempt_log')
  local entries = (raw and raw ~= '') and cjson.decode(raw) or {}
  entries[#entries + 1] = {attempt = attempt, worker = worker, queued_at = queued, started_at = now,
    wait_s = math.max(0, now - queued)}
  while #entries > ATTEMPT_LOG_LIMIT do table.remove(entries, 1) end
  redis.call('HSET', job_key, 'attempt_log', cjson.encode(entries))
  local waits = WAITS_PREFIX .. (redis.call('HGET', job_key, 'queue') or '')
  redis.call('LPUSH', waits, math.max(0, now - queued))
  redis.call('LTRIM', waits, 0, WAITS_KEPT - 1)
  redis.call('EXPIRE', waits, WAITS_TTL)
end

local function attempt_dropped(job_key)  -- the run just started did no work: it was no attempt
  local raw = redis.call('HGET', job_key, 'attempt_log')
  if not raw or raw == '' then return end
  local entries = cjson.decode(raw)
  local last = entries[#entries]
  if not last or last.outcome then return end
  entries[#entries] = nil
  redis.call('HSET', job_key, 'attempt_log', #entries > 0 and cjson.encode(entries) or '')
end

local function attempt_ended(job_key, outcome)
  local raw = redis.call('HGET', job_key, 'attempt_log')
  if not raw or raw == '' then return end
  local entries = cjson.decode(raw)
  local last = entries[#entries]
  if not last or last.outcome then return end
  local now = tonumber(now_epoch())
  last.outcome, last.finished_at, last.run_s = outcome, now, math.max(0, now - last.started_at)
  local err = redis.call('HGET', job_key, 'error')
  if outcome ~= 'succeeded' and err and err ~= '' then
    local ok, decoded = pcall(cjson.decode, err)
    if ok and type(decoded) == 'table' then last.error = {type = decoded.type, message = decoded.message} end
  end
  redis.call('HSET', job_key, 'attempt_log', cjson.encode(entries))
end

