-- Walk a stretch of the global index and drop every index entry of the jobs whose record has gone.
-- ARGV: job key prefix, global index, first rank, how many
-- Returns {entries looked at, jobs dropped}.
local ids = redis.call('ZRANGE', ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[3]) + tonumber(ARGV[4]) - 1)
local dropped = 0
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ARGV[1] .. id) == 0 then
    ix_remove(id, ARGV[2])
    dropped = dropped + 1
  end
end
return {#ids, dropped}
