-- How many entries a stream holds after an id (counted here, so binary entries never reach the client).
-- KEYS: stream
-- ARGV: exclusive start id, limit
return #redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', tonumber(ARGV[2]))
