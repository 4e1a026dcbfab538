-- Commit one settlement: all or nothing (ARCHITECTURE.md: ONE script call).
--
-- KEYS: 1 member hash, 2 fills hash, 3 duplicate-charge hash, 4 idempotency hash,
--       5 settlement record hash, 6 partition journal stream, 7 settlements-today counter
-- ARGV: 1 expected member version, 2 request hash, 3 idempotency ttl (s),
--       4 settlement id, 5 current-bucket payment (fen), 6 prior-bucket payment (fen),
--       7 counter ttl (s), then four counted groups:
--       n, n x (accumulator field, increment)
--       n, n x (fill field, value)
--       n, n x duplicate-charge field
--       n, n x (settlement record field, value)
--       n, n x (journal field, value)
-- Returns {'OK', version, current balance, prior balance} or {'REPLAY', settlement id}
-- or {'CONFLICT'} | {'TOMBSTONE'} | {'STALE'} | {'OVERDRAW'}; only 'OK' wrote anything.
local member, fills, dups, idem, setl, journal, today =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]

-- 1. The request id: a replay, a conflict, or a tombstone left by a cancel.
local prior_hash = redis.call('HGET', idem, 'h')
if prior_hash then
  local kind = redis.call('HGET', idem, 'k')
  if kind == 'tombstone' then return {'TOMBSTONE'} end
  if prior_hash == ARGV[2] then return {'REPLAY', redis.call('HGET', idem, 's') or ''} end
  return {'CONFLICT'}
end

-- 2. The member state must be the one the claim was adjudicated on.
local version = redis.call('HGET', member, 'ver')
if version == false or version ~= ARGV[1] then return {'STALE'} end

-- 3. Account buckets never go negative.
local pay_cur, pay_pri = tonumber(ARGV[5]), tonumber(ARGV[6])
local cur = tonumber(redis.call('HGET', member, 'cur') or '0')
local pri = tonumber(redis.call('HGET', member, 'pri') or '0')
if pay_cur < 0 or pay_pri < 0 or cur - pay_cur < 0 or pri - pay_pri < 0 then
  return {'OVERDRAW'}
end

-- 4. Writes. Nothing above has written; nothing below can fail on valid input.
local at = 8
local n = tonumber(ARGV[at])
for i = 1, n do
  redis.call('HINCRBY', member, ARGV[at + 2 * i - 1], ARGV[at + 2 * i])
end
at = at + 2 * n + 1
n = tonumber(ARGV[at])
for i = 1, n do
  redis.call('HSET', fills, ARGV[at + 2 * i - 1], ARGV[at + 2 * i])
end
at = at + 2 * n + 1
n = tonumber(ARGV[at])
for i = 1, n do
  redis.call('HSET', dups, ARGV[at + i], ARGV[4])
end
at = at + n + 1
n = tonumber(ARGV[at])
local record = {}
for i = 1, 2 * n do record[i] = ARGV[at + i] end
if n > 0 then redis.call('HSET', setl, unpack(record)) end
at = at + 2 * n + 1
n = tonumber(ARGV[at])
local entry = {}
for i = 1, 2 * n do entry[i] = ARGV[at + i] end

local new_cur = redis.call('HINCRBY', member, 'cur', -pay_cur)
local new_pri = redis.call('HINCRBY', member, 'pri', -pay_pri)
local new_version = redis.call('HINCRBY', member, 'ver', 1)
redis.call('HSET', idem, 'h', ARGV[2], 'k', 'settle', 's', ARGV[4])
redis.call('EXPIRE', idem, tonumber(ARGV[3]))
redis.call('INCR', today)
redis.call('EXPIRE', today, tonumber(ARGV[7]))
if n > 0 then redis.call('XADD', journal, '*', unpack(entry)) end
return {'OK', new_version, new_cur, new_pri}
