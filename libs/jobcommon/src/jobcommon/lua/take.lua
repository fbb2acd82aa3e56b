-- A worker's read: up to COUNT new messages from the first of a queue's lanes (tried in the given order)
-- that has any, as XREADGROUP would return them; false when every lane is empty. One round trip whatever
-- the order (see jobcommon.priorities).
-- KEYS: the lanes' streams, in the order to try them
-- ARGV: consumer group, consumer, count
for _, stream in ipairs(KEYS) do
  local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', stream, '>')
  if reply then return reply end
end
return false
