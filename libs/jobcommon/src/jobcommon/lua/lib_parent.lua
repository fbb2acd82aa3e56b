-- Shared by the scripts that can end a job (prepended to them when loaded).
-- When a child of a parent that awaits its children ends: count it (succeeded, failed or cancelled), store its
-- outcome as the parent's item, release the next held child onto the queue, and finish the parent when the
-- last child has ended. A child that ends again (a failed entry retried) replaces its item and corrects the
-- parent's counts and result (and its ended status: failed <-> succeeded), counted once, releasing nothing and
-- never re-opening a finished parent; once the parent's record or items are gone, nothing changes.
-- The parent's record names every key involved (items_key, held_key, events_key, queue_stream), so the
-- key names stay defined once, in keys.py.
-- While a parent waits, its progress also follows its running children: a child's progress report
-- (entry_progress, called by the progress transition) puts it among the parent's `live_entries`
-- (' index:task_id' each) and, at most once per live_interval, recomputes the parent's progress from them:
-- (ended + the running ones' fractions) / total, their bytes and speeds summed, and writes each live child's
-- item as it stands (queued, running with its progress, retrying). An end recomputes it too.
-- A job counts against its owner's quota while queued, retrying or running: it leaves the owner's active set
-- when it ends and joins it again when it is queued anew (a retry of a failed job). The record names the set.
local function leave_active(job_key)
  local active = redis.call('HGET', job_key, 'active_key')
  if active and active ~= '' then redis.call('SREM', active, redis.call('HGET', job_key, 'task_id')) end
end

local function join_active(job_key)
  local active = redis.call('HGET', job_key, 'active_key')
  if active and active ~= '' then redis.call('SADD', active, redis.call('HGET', job_key, 'task_id')) end
end

-- The parent's counter of each item status other than succeeded (succeeded = done - failed - cancelled).
local ITEM_COUNTERS = {failed = 'items_failed', cancelled = 'items_cancelled'}

-- A URL as users see it: without the data yt-dlp smuggles into it (jobcommon.ytdlp.smuggling).
local function shown_url(url)
  local at = string.find(url, '#__youtubedl_smuggle', 1, true)
  if at then return string.sub(url, 1, at - 1) end
  return url
end

local function json_object(raw)
  if not raw or raw == '' or not string.find(raw, '^%s*{') then return nil end
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' then return decoded end
  return nil
end

-- The parent's item for a child, in the one bulk item schema (jobcommon.items.ItemRecord). The child's result
-- and error go in as the JSON the child's record holds, not decoded and encoded again: cjson would turn an
-- empty list into an empty object.
local function item_json(child)
  local item = {index = tonumber(child[2]), status = child[3], task_id = child[6],
    attempts = tonumber(child[8] or '0')}
  local request = json_object(child[7])
  item['item'] = (request and type(request['url']) == 'string') and shown_url(request['url']) or child[6]
  local encoded = cjson.encode(item)
  for _, pair in ipairs({{'result', child[4]}, {'error', child[5]}}) do
    if json_object(pair[2]) then
      encoded = string.sub(encoded, 1, -2) .. ',"' .. pair[1] .. '":' .. pair[2] .. '}'
    end
  end
  return encoded
end

local function result_size(result)
  if type(result) ~= 'table' then return 0 end
  return tonumber(result['size']) or 0
end

-- The parent's fields that notify_parent, settle_parent and entry_progress read (HMGET, in this order).
local PARENT_FIELDS = {'waiting_children', 'items_key', 'held_key', 'events_key', 'queue_stream', 'items_total',
  'cancel_requested', 'await_ttl', 'finish_ttl', 'status', 'live_entries', 'live_at'}

-- How often at most the children's progress reports move their parent's: every half second, and less often for
-- a parent of more than 50 children, whose record (which lists them all, ~36 bytes each) is announced whole:
-- a 1,000-entry playlist every 10 s. Whatever its size, a parent's announcements stay a few KB a second.
local function live_interval(total)
  return math.max(0.5, (tonumber(total) or 0) / 100)
end

-- A child's item while it has not ended: its status, attempts and (running) progress, the child's own JSON.
local function live_item_json(index, task_id, status, attempts, item, progress)
  local encoded = cjson.encode({index = tonumber(index), item = item, status = status, task_id = task_id,
    attempts = tonumber(attempts or '0') or 0})
  if status == 'running' and json_object(progress) then
    encoded = string.sub(encoded, 1, -2) .. ',"progress":' .. progress .. '}'
  end
  return encoded
end

-- The parent's live children as their own records have them: how many run and how many wait to retry, the sum
-- of the running ones' fractions (0..1 each), downloaded bytes and speeds (nil when none says), and the live
-- entries still unended. Each one's item is written as it stands (into the items hash, `items_ttl` when new).
-- A child that ended, whose record is gone, or whose item says it ended (an ended entry retried counts as
-- ended until it ends again) drops out.
local function live_share(parent_key, items_key, live, items_ttl)
  local running, retrying, share, bytes, speed, kept = 0, 0, 0, 0, nil, ''
  local wrote = false
  for index, task_id in string.gmatch(live, ' (%d+):([^ ]+)') do
    local child_key = string.gsub(parent_key, '[^:]+$', task_id)
    local c = redis.call('HMGET', child_key, 'status', 'progress', 'attempts')
    local raw = c[1] and not TERMINAL[c[1]] and redis.call('HGET', items_key, index)
    local item = json_object(raw or nil)
    if c[1] and not TERMINAL[c[1]] and not (item and item['task_id'] == task_id and TERMINAL[item['status']]) then
      kept = kept .. ' ' .. index .. ':' .. task_id
      local progress = json_object(c[2])
      if c[1] == 'running' then
        running = running + 1
        if progress then
          share = share + math.min(1, math.max(0, (tonumber(progress['percent']) or 0) / 100))
          bytes = bytes + (tonumber(progress['downloaded_bytes']) or 0)
          local rate = tonumber(progress['speed'])
          if rate then speed = (speed or 0) + rate end
        end
      elseif c[1] == 'retrying' then
        retrying = retrying + 1
      end
      local shown = item and type(item['item']) == 'string' and item['item'] or nil
      if not shown then
        local request = json_object(redis.call('HGET', child_key, 'request'))
        shown = (request and type(request['url']) == 'string') and shown_url(request['url']) or task_id
      end
      local now = live_item_json(index, task_id, c[1], c[3], shown, c[2])
      if now ~= raw then
        redis.call('HSET', items_key, index, now)
        wrote = true
      end
    end
  end
  if wrote and redis.call('TTL', items_key) < 0 then redis.call('EXPIRE', items_key, items_ttl) end
  return running, retrying, share, bytes, speed, kept
end

-- The parent's progress (written, not announced): its ended children (counts, their results' bytes) and, while
-- it waits for more, its live ones; `live_entries` keeps those still unended, `live_at` when this was.
local function parent_progress(parent_key, p, waiting, done, failed, cancelled, bytes, stamp)
  local total = tonumber(p[6])
  local running, retrying, share, live_bytes, speed, kept = 0, 0, 0, 0, nil, ''
  if waiting and done < total then
    running, retrying, share, live_bytes, speed, kept = live_share(parent_key, p[2], p[11] or '',
      tonumber(p[8]) + tonumber(p[9]))
  end
  local message = done .. ' of ' .. total .. ' done, ' .. failed .. ' failed'
  if cancelled > 0 then message = message .. ', ' .. cancelled .. ' cancelled' end
  if running > 0 then message = message .. ', ' .. running .. ' running' end
  if retrying > 0 then message = message .. ', ' .. retrying .. ' waiting to retry' end
  local percent = math.floor(1000 * (done + share) / total) / 10
  if done < total then percent = math.min(percent, 99.9) end  -- 100 % only once every child has ended
  if running == 0 then speed = nil end
  local progress = cjson.encode({percent = percent, message = message,
    items_total = total, items_done = done, items_failed = failed, items_cancelled = cancelled,
    downloaded_bytes = bytes + live_bytes, speed = speed, updated_at = stamp})
  redis.call('HSET', parent_key, 'progress', progress, 'live_entries', kept, 'live_at', stamp)
end

local function announce_parent(parent_key, channel, kind)
  local flat = redis.call('HGETALL', parent_key)
  local job = {}
  for i = 1, #flat, 2 do job[flat[i]] = flat[i + 1] end
  job["request"], job["result"] = nil, nil  -- events stay small: followers read these from the record
  announce(channel, cjson.encode({kind = kind, job = job}))
end

-- How a parent whose children have all ended ends: cancelled when it was asked to, succeeded when an entry
-- did, failed when none did and one failed, cancelled when every entry was cancelled.
local function parent_outcome(cancel_requested, succeeded, failed)
  if cancel_requested == '1' then return 'cancelled' end
  if succeeded > 0 then return 'succeeded' end
  if failed > 0 then return 'failed' end
  return 'cancelled'
end

-- The parent's progress from its counts and, once every child has ended (or when an ended parent is corrected),
-- its outcome; announced. `p`: the parent's fields as notify_parent reads them.
local function settle_parent(parent_key, parent_id, p, waiting, done, failed, cancelled, bytes)
  local total = tonumber(p[6])
  local succeeded = done - failed - cancelled
  local stamp = now_epoch()
  parent_progress(parent_key, p, waiting, done, failed, cancelled, bytes, stamp)
  local kind = 'progress'
  if not waiting or done >= total then
    kind = 'status'
    local status = parent_outcome(p[7], succeeded, failed)
    redis.call('HSET', parent_key, 'status', status, 'result', cjson.encode({total = total,
      succeeded = succeeded, failed = failed, cancelled = cancelled, bytes = bytes}))
    if status == 'failed' then
      local why = 'all ' .. total .. ' entries failed'
      if cancelled > 0 then why = 'no entry succeeded: ' .. failed .. ' failed, ' .. cancelled .. ' cancelled' end
      redis.call('HSET', parent_key, 'error', cjson.encode({type = 'AllChildrenFailed', message = why}))
    elseif not waiting and p[10] == 'failed' then
      redis.call('HSET', parent_key, 'error', '')  -- a retried entry succeeded: the parent no longer failed
    end
    if waiting then
      redis.call('HSET', parent_key, 'waiting_children', '', 'finished_at', stamp)
      redis.call('DEL', p[3])
      redis.call('EXPIRE', parent_key, p[9])
      ix_update(parent_id, status, '')
      attempt_ended(parent_key, status)
      leave_active(parent_key)
    elseif status ~= p[10] then
      ix_update(parent_id, status, '')
    end
  else
    redis.call('EXPIRE', parent_key, p[8])
  end
  announce_parent(parent_key, p[4], kind)
end

local function notify_parent(job_key)
  local child = redis.call('HMGET', job_key, 'parent_id', 'child_index', 'status', 'result', 'error', 'task_id',
    'request', 'attempts')
  if not child[1] or child[1] == '' or not child[2] or child[2] == '' then return end
  local parent_key = string.gsub(job_key, '[^:]+$', child[1])
  local p = redis.call('HMGET', parent_key, unpack(PARENT_FIELDS))
  if not p[2] or p[2] == '' then return end  -- no parent record, or a parent that awaits no children
  local waiting = p[1] == '1'
  -- this child's item, when it ended before: it ends again after a retry (a queued or running item is no end;
  -- the ended child leaves the live entries as settle_parent finds it ended)
  local before = json_object(redis.call('HGET', p[2], child[2]))
  if before and (before['task_id'] ~= child[6] or not TERMINAL[before['status']]) then before = nil end
  if not waiting and not (before and TERMINAL[p[10]]) then return end
  if before then
    local counter = ITEM_COUNTERS[before['status']]
    if counter then redis.call('HINCRBY', parent_key, counter, -1) end
  else
    redis.call('HINCRBY', parent_key, 'items_done', 1)
  end
  if ITEM_COUNTERS[child[3]] then redis.call('HINCRBY', parent_key, ITEM_COUNTERS[child[3]], 1) end
  local size = result_size(json_object(child[4])) - result_size(before and before['result'])
  if size ~= 0 then redis.call('HINCRBY', parent_key, 'items_bytes', size) end
  local counts = redis.call('HMGET', parent_key, 'items_done', 'items_failed', 'items_cancelled', 'items_bytes')
  local done, failed = tonumber(counts[1] or '0'), tonumber(counts[2] or '0')
  local cancelled, bytes = tonumber(counts[3] or '0'), tonumber(counts[4] or '0')
  redis.call('HSET', p[2], child[2], item_json(child))  -- an item that ends again keeps the items' TTL
  if waiting then redis.call('EXPIRE', p[2], tonumber(p[8]) + tonumber(p[9])) end
  if waiting and not before and p[7] ~= '1' then
    local nxt = redis.call('XRANGE', p[3], '-', '+', 'COUNT', 1)
    if #nxt > 0 then
      redis.call('XADD', p[5], '*', unpack(nxt[1][2]))
      redis.call('XDEL', p[3], nxt[1][1])
    end
  end
  settle_parent(parent_key, child[1], p, waiting, done, failed, cancelled, bytes)
end

-- A child's progress report reaches its parent (called by the progress transition; for a job that is no awaited
-- child, one HMGET and nothing else): the child joins the parent's live entries and, when the parent's last
-- recount is at least live_interval old, the parent's progress is recomputed and announced.
local function entry_progress(job_key)
  local child = redis.call('HMGET', job_key, 'child_index', 'parent_id', 'task_id')
  if not child[1] or child[1] == '' or not child[2] or child[2] == '' then return end
  local parent_key = string.gsub(job_key, '[^:]+$', child[2])
  local p = redis.call('HMGET', parent_key, unpack(PARENT_FIELDS))
  if p[1] ~= '1' or not p[2] or p[2] == '' then return end  -- the parent ended, or awaits no children
  local live = p[11] or ''
  local token = ' ' .. child[1] .. ':' .. child[3]
  if not string.find(live .. ' ', token .. ' ', 1, true) then
    local before = json_object(redis.call('HGET', p[2], child[1]))
    if before and before['task_id'] == child[3] and TERMINAL[before['status']] then return end
    p[11] = live .. token
    redis.call('HSET', parent_key, 'live_entries', p[11])
  end
  local stamp = now_epoch()
  if tonumber(stamp) - (tonumber(p[12] or '') or 0) < live_interval(p[6]) then return end
  local counts = redis.call('HMGET', parent_key, 'items_done', 'items_failed', 'items_cancelled', 'items_bytes')
  parent_progress(parent_key, p, true, tonumber(counts[1] or '0') or 0, tonumber(counts[2] or '0') or 0,
    tonumber(counts[3] or '0') or 0, tonumber(counts[4] or '0') or 0, stamp)
  redis.call('EXPIRE', parent_key, p[8])
  announce_parent(parent_key, p[4], 'progress')
end
