-- A turn at a rate (GCRA, `lib_gcra.lua`, prepended): at most one call per `interval` seconds on average,
-- `burst` at once. Every call is counted and answers the seconds until the caller's turn; a caller told to
-- wait longer than `hold_over` seconds has its turn booked under `member` in KEYS[2] (a zset), goes away,
-- and on coming back is answered from its booking instead of taking a second turn (unless it comes back more
-- than one interval after its turn: then it takes a new one). (A plain check that refuses without counting,
-- the gateway's submission limit, is made inside the create step: create.lua.)
-- KEYS: limiter state (the theoretical arrival time), booked turns
-- ARGV: interval (s), burst, hold_over (s), member
-- Returns the wait in seconds, as a string (Lua numbers would be truncated to integers in the reply).
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local booking = KEYS[2]
redis.call('ZREMRANGEBYSCORE', booking, '-inf', now - 600)  -- turns nobody came back for
local turn = redis.call('ZSCORE', booking, ARGV[4])
if turn then
  local wait = tonumber(turn) - now
  if wait < -interval then
    redis.call('ZREM', booking, ARGV[4])  -- back too late for its turn (others may have used theirs
    -- meanwhile): it takes a new one below, so late comers never crowd together
  else
    if wait <= tonumber(ARGV[3]) then
      redis.call('ZREM', booking, ARGV[4])  -- the caller waits the rest where it is
      if wait < 0 then wait = 0 end
    end
    return tostring(wait)
  end
end
local wait
wait, now = gcra(KEYS[1], interval, burst, true)
if wait > tonumber(ARGV[3]) then
  redis.call('ZADD', booking, now + wait, ARGV[4])
  redis.call('PEXPIRE', booking, math.ceil((wait + 600) * 1000))
end
return tostring(wait)
