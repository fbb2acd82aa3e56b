-- Purge dead letters: their entries leave the dead-letter stream and, if the job is still failed and dead
-- (not retried meanwhile), its record, items and index entries are deleted.
-- KEYS: dead-letter stream
-- ARGV: job key prefix, global index, then per job: task id, its items hash, its entry ids (space-separated)
-- Returns how many jobs were deleted.
local purged = 0
for i = 3, #ARGV, 3 do
  local task = ARGV[i]
  local job_key = ARGV[1] .. task
  local values = redis.call('HMGET', job_key, 'status', 'dead')
  local ids = {}
  for id in string.gmatch(ARGV[i + 2], '%S+') do ids[#ids + 1] = id end
  if #ids > 0 then redis.call('XDEL', KEYS[1], unpack(ids)) end
  if values[1] == 'failed' and values[2] == '1' then
    redis.call('DEL', job_key, ARGV[i + 1])
    ix_remove(task, ARGV[2])
    purged = purged + 1
  end
end
return purged
