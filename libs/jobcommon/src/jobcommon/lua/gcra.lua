-- GCRA (a token bucket without a refill task) on Redis's clock: at most one call per `interval` seconds on
-- average, `burst` at once. Two ways to use it:
--   without KEYS[2]: a check. Answers 0 and counts the call, or the seconds until one would be allowed
--     (not counted): the caller refuses (the gateway's submission limit).
--   with KEYS[2]: a turn. Every call is counted and answers the seconds until the caller's turn; a caller
--     told to wait longer than `hold_over` seconds has its turn booked under `member` in KEYS[2] (a zset),
--     goes away, and on coming back is answered from its booking instead of taking a second turn (unless it
--     comes back more than one interval after its turn: then it takes a new one).
-- KEYS: limiter state (the theoretical arrival time), [booked turns]
-- ARGV: interval (s), burst, hold_over (s), member
-- Returns the wait in seconds, as a string (Lua numbers would be truncated to integers in the reply).
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local booking = KEYS[2]
if booking then
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
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - interval * (burst - 1) - now
if wait > 0 and not booking then return tostring(wait) end
if wait < 0 then wait = 0 end
tat = tat + interval
redis.call('SET', KEYS[1], tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
if booking and wait > tonumber(ARGV[3]) then
  redis.call('ZADD', booking, now + wait, ARGV[4])
  redis.call('PEXPIRE', booking, math.ceil((wait + 600) * 1000))
end
return tostring(wait)
