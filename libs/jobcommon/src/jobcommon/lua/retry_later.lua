-- A run ends to run again later, its message parked until due:
--   mode 'retry': it failed in a way worth retrying: running -> retrying (the run was an attempt);
--   mode 'defer': it waits for its turn at a shared rate limit: running -> scheduled, and the run, which did
--     no work, is not an attempt (the count goes back down and it leaves the attempt log).
-- The stream entry's fields are copied aside, so the job runs again from the same message (headers, trace
-- context).
-- KEYS: job hash, events channel, stream, inflight hash, parked message hash, delayed zset
-- ARGV: group, entry id, run id, delay (s, counted on Redis's clock), ttl, mode, field, value, ... (job fields)
-- Returns 1, or 0 when the run no longer owns the job.
if redis.call('HGET', KEYS[1], 'status') ~= 'running' or redis.call('HGET', KEYS[1], 'run_id') ~= ARGV[3] then
  return 0
end
local entry = redis.call('XRANGE', KEYS[3], ARGV[2], ARGV[2])
if #entry == 1 then
  redis.call('DEL', KEYS[5])
  redis.call('HSET', KEYS[5], unpack(entry[1][2]))
  redis.call('EXPIRE', KEYS[5], ARGV[5])
end
redis.call('XACK', KEYS[3], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[3], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[2])
local status = ARGV[6] == 'defer' and 'scheduled' or 'retrying'
redis.call('HSET', KEYS[1], 'status', status, 'run_id', '', 'entry_id', '', unpack(ARGV, 7))
redis.call('EXPIRE', KEYS[1], ARGV[5])
local t = redis.call('TIME')
redis.call('ZADD', KEYS[6], tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[4]),
  string.match(KEYS[1], '[^:]+$'))
ix_update(string.match(KEYS[1], '[^:]+$'), status, '')
if status == 'scheduled' then
  if tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') > 0 then redis.call('HINCRBY', KEYS[1], 'attempts', -1) end
  attempt_dropped(KEYS[1])
else
  attempt_ended(KEYS[1], 'retry')
end
local flat = redis.call('HGETALL', KEYS[1])
local job = {}
for i = 1, #flat, 2 do job[flat[i]] = flat[i + 1] end
job["request"], job["result"] = nil, nil  -- events stay small: followers read these from the record
announce(KEYS[2], cjson.encode({kind = 'status', job = job}))
return 1
