-- Load part of the year-to-date state of members of one partition (claimgate load
-- accumulators|fills|charges): for each member, set fields of one of its hashes and move
-- its state version forward in the same step, so a claim adjudicated on the state before
-- the load fails its commit (STALE) and is adjudicated again on the loaded state.
-- KEYS: per row, 2 keys: the member hash, the hash written (the member hash itself, its
--       fills or its charges); every key of one call shares the partition's hash slot
-- ARGV: per row, n, then n x (field, value); an empty value deletes the field
-- Returns the number of rows written; a row whose member does not exist is skipped.
local written = 0
local at = 1
for r = 1, #KEYS, 2 do
  local n = tonumber(ARGV[at])
  if redis.call('EXISTS', KEYS[r]) == 1 then
    for i = at + 1, at + 2 * n, 2 do
      if ARGV[i + 1] == '' then
        redis.call('HDEL', KEYS[r + 1], ARGV[i])
      else
        redis.call('HSET', KEYS[r + 1], ARGV[i], ARGV[i + 1])
      end
    end
    redis.call('HINCRBY', KEYS[r], 'ver', 1)
    written = written + 1
  end
  at = at + 1 + 2 * n
end
return written
