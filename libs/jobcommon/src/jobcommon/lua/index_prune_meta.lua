-- One step of pruning by the index meta (jobs whose record was deleted and taken out of the global index
-- without their other entries): HSCAN from a cursor, drop every entry of the jobs whose record has gone.
-- ARGV: cursor, count, job key prefix, global index
-- Returns {next cursor ('0' when done), jobs dropped}.
local reply = redis.call('HSCAN', INDEX_META, ARGV[1], 'COUNT', tonumber(ARGV[2]))
local dropped = 0
local fields = reply[2]
for i = 1, #fields, 2 do
  if redis.call('EXISTS', ARGV[3] .. fields[i]) == 0 then
    ix_remove(fields[i], ARGV[4])
    dropped = dropped + 1
  end
end
return {reply[1], dropped}
