-- Drop the index entries of jobs whose record has gone (expired, or deleted); a job still on record stays.
-- ARGV: job key prefix, global index (fallback for an entry without index meta), task id, ...
-- Returns how many jobs' entries were dropped.
local dropped = 0
for i = 3, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then
    ix_remove(ARGV[i], ARGV[2])
    dropped = dropped + 1
  end
end
return dropped
