-- The id of a stream's first entry after an id, or false (only the id reaches the client: entries are binary).
-- KEYS: stream
-- ARGV: exclusive start id ('' for the stream's start)
local start = ARGV[1] == '' and '-' or '(' .. ARGV[1]
local first = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 1)
if #first == 0 then return false end
return first[1][1]
