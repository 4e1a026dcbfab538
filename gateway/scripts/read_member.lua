-- Read everything one claim needs about a member, atomically, in one round trip.
-- KEYS: 1 member hash, 2 fills hash, 3 duplicate-charge hash, 4 idempotency hash,
--       5 settlements-today counter, 6 inpatient episode hash, 7 its fee lines hash
-- ARGV: 1 read the episode (1/0), 2 n_fill_fields, then the fill fields (item codes),
--       then n_dup_fields, then the duplicate keys
local n_fill = tonumber(ARGV[2])
local fills = {}
if n_fill > 0 then
  fills = redis.call('HMGET', KEYS[2], unpack(ARGV, 3, 2 + n_fill))
end
local at = 3 + n_fill
local n_dup = tonumber(ARGV[at])
local dups = {}
if n_dup > 0 then
  dups = redis.call('HMGET', KEYS[3], unpack(ARGV, at + 1, at + n_dup))
end
local episode, lines = {}, {}
if ARGV[1] == '1' then
  episode = redis.call('HGETALL', KEYS[6])
  lines = redis.call('HVALS', KEYS[7])
end
return {
  redis.call('HGETALL', KEYS[1]),
  fills,
  dups,
  redis.call('HGETALL', KEYS[4]),
  redis.call('GET', KEYS[5]) or '0',
  episode,
  lines,
}
