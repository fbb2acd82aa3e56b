-- A liveness beat: keep a consumer's liveness key alive, its value the time (Redis's clock, ms) since which its
-- beats have come without a break. A break is the key having expired, or a beat later than ARGV[2] ms after
-- the one before it (Redis frozen or unreachable, the process stalled): then the unbroken run starts again now.
-- Upkeep takes a live consumer's deliveries for an expired lease only once that run is a lease long
-- (requeue.lua, 'reclaim' mode): so never merely because nobody could renew while Redis was away.
-- KEYS: liveness key
-- ARGV: ttl ms, the longest gap between beats that is no break (ms)
-- Returns the start of the unbroken run (ms).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local left = redis.call('PTTL', KEYS[1])
local since = tonumber(redis.call('GET', KEYS[1]) or '')
if left < 0 or not since or tonumber(ARGV[1]) - left > tonumber(ARGV[2]) then since = now end
redis.call('SET', KEYS[1], string.format('%d', since), 'PX', ARGV[1])
return since
