-- One page of the listing index: walk a driver sorted set newest first within a creation-time range, keep the
-- task ids that are in every must-have set and (if any are given) in at least one any-of set, and whose
-- record still exists (an id whose record has gone is removed from the index on the way). In counting mode
-- (status sets given) the matches are counted per status set instead of returned.
-- KEYS: driver, must-have sets..., any-of sets..., status sets... (counting mode)
-- ARGV: max score, min score, after score ('' from the top), after id, skip (matches to pass over), limit,
--       most entries to look at, number of must-have sets, job key prefix, global index (fallback removal),
--       number of status sets (0: page mode)
-- Returns {ids (or counts per status set), last score, last id, exhausted ('1'/'0')}: go on after (last
-- score, last id) unless exhausted. A page that fills up looks on for one more match (within the same bound of
-- entries looked at), so that a page holding exactly the last matches says exhausted; a full page that is not
-- the last returns its own last match as (last score, last id), the next page starting with the one after it.
local after_score, after_id = ARGV[3], ARGV[4]
local skip, limit, cap = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local must = tonumber(ARGV[8])
local any_from = 2 + must
local counting = tonumber(ARGV[11])
local any_to = #KEYS - counting
local counts = {}
for k = 1, counting do counts[k] = 0 end
local high = ARGV[1]
if after_score ~= '' then high = after_score end
local offset = 0
if must == 0 and any_to == 1 and skip > 0 then offset, skip = skip, 0 end  -- nothing to test: skip by rank
local found, looked = {}, 0
local last_score, last_id = '', ''
local full_score, full_id = nil, nil  -- the page's last match, once the page is full
local batch = 200
while true do
  local rows = redis.call('ZREVRANGEBYSCORE', KEYS[1], high, ARGV[2], 'WITHSCORES', 'LIMIT', offset, batch)
  if #rows == 0 then return {counting > 0 and counts or found, last_score, last_id, '1'} end
  local removed = 0
  for i = 1, #rows, 2 do
    local id, score = rows[i], rows[i + 1]
    local seen = after_score ~= '' and tonumber(score) == tonumber(after_score) and id >= after_id
    if not seen then
      looked = looked + 1
      last_score, last_id = score, id
      -- counting trusts the index as counts by status do (entries of expired records go at the next prune)
      local ok = counting > 0 or redis.call('EXISTS', ARGV[9] .. id) == 1
      if not ok then
        ix_remove(id, ARGV[10])
        if not redis.call('ZSCORE', KEYS[1], id) then removed = removed + 1 end
      end
      local j = 2
      while ok and j < any_from do
        ok = redis.call('ZSCORE', KEYS[j], id) ~= false
        j = j + 1
      end
      if ok and any_to >= any_from then
        ok = false
        for k = any_from, any_to do
          if redis.call('ZSCORE', KEYS[k], id) then ok = true break end
        end
      end
      if ok and counting > 0 then
        for k = 1, counting do
          if redis.call('ZSCORE', KEYS[any_to + k], id) then counts[k] = counts[k] + 1 break end
        end
      elseif ok then
        if skip > 0 then
          skip = skip - 1
        elseif full_score then
          return {found, full_score, full_id, '0'}  -- a match follows the full page
        else
          found[#found + 1] = id
          if #found >= limit then full_score, full_id = score, id end
        end
      end
      if looked >= cap then
        if full_score then return {found, full_score, full_id, '0'} end
        return {counting > 0 and counts or found, last_score, last_id, '0'}
      end
    end
  end
  if #rows < 2 * batch then return {counting > 0 and counts or found, last_score, last_id, '1'} end
  offset = offset + batch - removed
end
