-- Shared by the scripts that can end a job (prepended to them when loaded).
-- When a child of a parent that awaits its children ends: count it, store its outcome as the parent's item,
-- release the next held child onto the queue, and finish the parent when the last child has ended.
-- The parent's record names every key involved (items_key, held_key, events_key, queue_stream), so the
-- key names stay defined once, in keys.py.
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

local function notify_parent(job_key)
  local child = redis.call('HMGET', job_key, 'parent_id', 'child_index', 'status', 'result', 'error', 'task_id',
    'request', 'attempts')
  if not child[1] or child[1] == '' then return end
  local parent_key = string.gsub(job_key, '[^:]+$', child[1])
  local p = redis.call('HMGET', parent_key, 'waiting_children', 'items_key', 'held_key', 'events_key',
    'queue_stream', 'items_total', 'cancel_requested', 'await_ttl', 'finish_ttl')
  if p[1] ~= '1' then return end
  local failed_now = child[3] ~= 'succeeded'
  local done = redis.call('HINCRBY', parent_key, 'items_done', 1)
  local failed = redis.call('HINCRBY', parent_key, 'items_failed', failed_now and 1 or 0)
  local bytes = tonumber(redis.call('HGET', parent_key, 'items_bytes') or '0')
  if child[4] and child[4] ~= '' then
    local ok, decoded = pcall(cjson.decode, child[4])
    if ok and type(decoded) == 'table' and tonumber(decoded['size']) then
      bytes = redis.call('HINCRBY', parent_key, 'items_bytes', tonumber(decoded['size']))
    end
  end
  -- the parent's item for this child, in the one bulk item schema (jobcommon.items.ItemRecord)
  local item = {index = tonumber(child[2] or '0'), status = child[3], task_id = child[6],
    attempts = tonumber(child[8] or '0')}
  local ok_request, request = pcall(cjson.decode, child[7] or '')
  item['item'] = (ok_request and type(request) == 'table' and request['url']) or child[6]
  for _, pair in ipairs({{'result', child[4]}, {'error', child[5]}}) do
    if pair[2] and pair[2] ~= '' then
      local ok_value, value = pcall(cjson.decode, pair[2])
      if ok_value then item[pair[1]] = value end
    end
  end
  redis.call('HSET', p[2], child[2] or '0', cjson.encode(item))
  redis.call('EXPIRE', p[2], tonumber(p[8]) + tonumber(p[9]))
  if p[7] ~= '1' then
    local nxt = redis.call('XRANGE', p[3], '-', '+', 'COUNT', 1)
    if #nxt > 0 then
      redis.call('XADD', p[5], '*', unpack(nxt[1][2]))
      redis.call('XDEL', p[3], nxt[1][1])
    end
  end
  local total = tonumber(p[6])
  local stamp = now_epoch()
  local progress = cjson.encode({percent = math.floor(1000 * done / total) / 10,
    message = done .. ' of ' .. total .. ' done, ' .. failed .. ' failed', items_total = total,
    items_done = done, items_failed = failed, downloaded_bytes = bytes, updated_at = stamp})
  redis.call('HSET', parent_key, 'progress', progress)
  local kind = 'progress'
  if done >= total then
    kind = 'status'
    local status = 'succeeded'
    if p[7] == '1' then status = 'cancelled' elseif failed >= total then status = 'failed' end
    redis.call('HSET', parent_key, 'status', status, 'waiting_children', '', 'finished_at', stamp,
      'result', cjson.encode({total = total, succeeded = total - failed, failed = failed, bytes = bytes}))
    if status == 'failed' then
      redis.call('HSET', parent_key, 'error', cjson.encode({type = 'AllChildrenFailed',
        message = 'all ' .. total .. ' entries failed'}))
    end
    redis.call('DEL', p[3])
    redis.call('EXPIRE', parent_key, p[9])
    ix_update(child[1], status, '')
    attempt_ended(parent_key, status)
    leave_active(parent_key)
  else
    redis.call('EXPIRE', parent_key, p[8])
  end
  local flat = redis.call('HGETALL', parent_key)
  local job = {}
  for i = 1, #flat, 2 do job[flat[i]] = flat[i + 1] end
  job["request"], job["result"] = nil, nil  -- events stay small: followers read these from the record
  announce(p[4], cjson.encode({kind = kind, job = job}))
end

