-- A parent run hands over to its children: it records them, releases the first `concurrency` held child
-- messages onto the queue, acknowledges its own delivery and stays `running` without a worker until its
-- last child ends (see lib_parent.lua). Fenced by the run id.
-- A parent run again (a retry of a failed playlist) finds the children its first run made: those that ended
-- keep their outcome (retrying one runs it again, and corrects the parent), counted from their items; when
-- every child has ended already, the parent ends at once instead of waiting for children that never come.
-- KEYS: parent hash, parent events channel, stream, inflight hash, held children stream, children's stream,
--       parent items hash
-- ARGV: group, entry id, run id, concurrency, children JSON, total, await ttl, finish ttl
-- Returns 1, or 0 when the run no longer owns the job.
if redis.call('HGET', KEYS[1], 'status') ~= 'running' or redis.call('HGET', KEYS[1], 'run_id') ~= ARGV[3] then
  return 0
end
redis.call('XACK', KEYS[3], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[3], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[2])
local held = redis.call('XRANGE', KEYS[5], '-', '+', 'COUNT', tonumber(ARGV[4]))
for _, entry in ipairs(held) do
  redis.call('XADD', KEYS[6], '*', unpack(entry[2]))
  redis.call('XDEL', KEYS[5], entry[1])
end
redis.call('EXPIRE', KEYS[5], ARGV[7])
local total = tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'run_id', '', 'entry_id', '', 'worker', '', 'waiting_children', '1',
  'children', ARGV[5], 'items_total', total, 'items_done', 0, 'items_failed', 0, 'items_cancelled', 0,
  'items_bytes', 0, 'live_entries', '', 'live_at', '',
  'items_key', KEYS[7], 'held_key', KEYS[5], 'events_key', KEYS[2], 'queue_stream', KEYS[6],
  'await_ttl', ARGV[7], 'finish_ttl', ARGV[8],
  'progress', cjson.encode({percent = 0, message = '0 of ' .. total .. ' done', items_total = total,
    items_done = 0, items_failed = 0, items_cancelled = 0}))
redis.call('EXPIRE', KEYS[1], ARGV[7])
local done, failed, cancelled, bytes = 0, 0, 0, 0
local items = redis.call('HGETALL', KEYS[7])
for i = 1, #items, 2 do
  local index, item = tonumber(items[i]), json_object(items[i + 1])
  if item and index and index < total and TERMINAL[item['status']] then
    done = done + 1
    if item['status'] == 'failed' then failed = failed + 1 end
    if item['status'] == 'cancelled' then cancelled = cancelled + 1 end
    bytes = bytes + result_size(item['result'])
  end
end
if done > 0 then
  redis.call('HSET', KEYS[1], 'items_done', done, 'items_failed', failed, 'items_cancelled', cancelled,
    'items_bytes', bytes)
  local p = redis.call('HMGET', KEYS[1], unpack(PARENT_FIELDS))
  settle_parent(KEYS[1], redis.call('HGET', KEYS[1], 'task_id'), p, true, done, failed, cancelled, bytes)
  return 1
end
local flat = redis.call('HGETALL', KEYS[1])
local job = {}
for i = 1, #flat, 2 do job[flat[i]] = flat[i + 1] end
job["request"], job["result"] = nil, nil  -- events stay small: followers read these from the record
announce(KEYS[2], cjson.encode({kind = 'status', job = job}))
return 1
