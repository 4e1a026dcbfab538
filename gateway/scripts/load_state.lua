-- Load part of one member's year-to-date state (claimgate load accumulators|fills|charges):
-- set fields of one of the member's hashes and move the member's state version forward,
-- in one step, so a claim adjudicated on the state before the load fails its commit
-- (STALE) and is adjudicated again on the loaded state.
-- KEYS: 1 member hash, 2 the hash written (the member hash, its fills or its charges)
-- ARGV: pairs of (field, value); an empty value deletes the field
-- Returns 1, or 0 when the member does not exist (then nothing is written).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[2], ARGV[i])
  else
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
redis.call('HINCRBY', KEYS[1], 'ver', 1)
return 1
