-- Cancel by request id (冲正) when the original has not been seen: leave a tombstone so
-- that the original, arriving late, is refused.
-- KEYS: 1 idempotency hash of the original request, 2 idempotency hash of the cancel,
--       3 partition journal stream. Both ids are the calling institution's own (the keys
--       name the institution), so a tombstone only ever stops that institution's original.
-- ARGV: 1 cancel request hash, 2 ttl (s), 3 institution, then n, n x (journal field, value)
-- Returns {'OK'} | {'REPLAY'} | {'CONFLICT'} | {'EXISTS', kind, settlement id, institution}
local prior_hash = redis.call('HGET', KEYS[2], 'h')
if prior_hash then
  if prior_hash == ARGV[1] and redis.call('HGET', KEYS[2], 'k') == 'cancel' then
    return {'REPLAY'}
  end
  return {'CONFLICT'}
end
local existing = redis.call('HMGET', KEYS[1], 'k', 's', 'inst')
if existing[1] then
  return {'EXISTS', existing[1], existing[2] or '', existing[3] or ''}
end
redis.call('HSET', KEYS[1], 'h', '', 'k', 'tombstone', 'inst', ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
redis.call('HSET', KEYS[2], 'h', ARGV[1], 'k', 'cancel', 's', '')
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
local n = tonumber(ARGV[4])
if n > 0 then redis.call('XADD', KEYS[3], '*', unpack(ARGV, 5, 4 + 2 * n)) end
return {'OK'}
