-- Read everything one claim needs about a member, atomically, in one round trip.
-- KEYS: 1 member hash, 2 fills hash, 3 duplicate-charge hash, 4 idempotency hash,
--       5 settlements-today counter
-- ARGV: 1 n_fill_fields, then the fill fields (item codes),
--       then n_dup_fields, then the duplicate keys
local n_fill = tonumber(ARGV[1])
local fills = {}
if n_fill > 0 then
  fills = redis.call('HMGET', KEYS[2], unpack(ARGV, 2, 1 + n_fill))
end
local at = 2 + n_fill
local n_dup = tonumber(ARGV[at])
local dups = {}
if n_dup > 0 then
  dups = redis.call('HMGET', KEYS[3], unpack(ARGV, at + 1, at + n_dup))
end
return {
  redis.call('HGETALL', KEYS[1]),
  fills,
  dups,
  redis.call('HGETALL', KEYS[4]),
  redis.call('GET', KEYS[5]) or '0',
}
