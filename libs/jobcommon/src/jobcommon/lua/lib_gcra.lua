-- GCRA (a token bucket without a refill task) on Redis's clock, shared by gcra.lua (turns at a remote host)
-- and create.lua (the submission rate), prepended to them: at most one call per `interval` seconds on
-- average, `burst` at once, the state (the theoretical arrival time) in `key`.
-- Returns the seconds until a call would be allowed (0: now) and Redis's time. The call is counted when it
-- is allowed, or always with `count_always` (a turn, which waits for its slot).
local function gcra(key, interval, burst, count_always)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local wait = tat - interval * (burst - 1) - now
  if wait > 0 and not count_always then return wait, now end
  if wait < 0 then wait = 0 end
  tat = tat + interval
  redis.call('SET', key, tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
  return wait, now
end
