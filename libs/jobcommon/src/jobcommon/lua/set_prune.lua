-- One step of pruning a set of task ids: SSCAN from a cursor and remove the ids whose record has gone.
-- KEYS: the set
-- ARGV: cursor, count, job key prefix
-- Returns {next cursor ('0' when done), removed}.
local reply = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', tonumber(ARGV[2]))
local removed = 0
for _, id in ipairs(reply[2]) do
  if redis.call('EXISTS', ARGV[3] .. id) == 0 then removed = removed + redis.call('SREM', KEYS[1], id) end
end
return {reply[1], removed}
