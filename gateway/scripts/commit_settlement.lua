-- Commit one settlement: all or nothing (ARCHITECTURE.md: ONE script call).
--
-- KEYS: 1 member hash, 2 fills hash, 3 duplicate-charge hash, 4 idempotency hash,
--       5 settlement record hash, 6 partition journal stream,
--       7 member's settlements-today counter, 8 reconciliation totals hash
--       (institution, settlement day), 9 inpatient episode hash (or an unused key)
-- ARGV: 1 expected member version, 2 request hash, 3 idempotency ttl (s),
--       4 settlement id, 5 current-bucket payment (fen), 6 prior-bucket payment (fen),
--       7 counter ttl (s), 8 episode id ('' when not an episode), 9 institution,
--       10 the episode's line count the claim was adjudicated on, then six counted groups:
--       n, n x (member accumulator field, increment)
--       n, n x (fill field, value)
--       n, n x duplicate-charge field
--       n, n x (settlement record field, value)
--       n, n x (journal field, value)
--       n, n x (reconciliation field, increment)
-- Returns {'OK', version, current balance, prior balance} or {'REPLAY', settlement id}
-- or {'CONFLICT'} | {'TOMBSTONE'} | {'STALE'} | {'OVERDRAW'} | {'EPISODE', status};
-- only 'OK' wrote anything.
local member, fills, dups, idem, setl, journal, today, totals, episode =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]

-- 1. The request id: a replay, a conflict, or a tombstone left by a cancel.
local prior_hash = redis.call('HGET', idem, 'h')
if prior_hash then
  local kind = redis.call('HGET', idem, 'k')
  if kind == 'tombstone' then return {'TOMBSTONE'} end
  if prior_hash == ARGV[2] and kind == 'settle' then
    return {'REPLAY', redis.call('HGET', idem, 's') or ''}
  end
  return {'CONFLICT'}
end

-- 2. The member state must be the one the claim was adjudicated on (and the new
--    settlement id must be new: a collision is answered like a stale read, retried).
local version = redis.call('HGET', member, 'ver')
if version == false or version ~= ARGV[1] then return {'STALE'} end
if redis.call('EXISTS', setl) == 1 then return {'STALE'} end

-- 3. An inpatient episode is settled once, after discharge.
local episode_id = ARGV[8]
if episode_id ~= '' then
  local ep = redis.call('HMGET', episode, 'status', 'n')
  if ep[1] ~= 'DISCHARGED' then return {'EPISODE', ep[1] or 'MISSING'} end
  if ep[2] ~= ARGV[10] then return {'STALE'} end  -- lines were uploaded meanwhile
end

-- 4. Account buckets never go negative.
local pay_cur, pay_pri = tonumber(ARGV[5]), tonumber(ARGV[6])
local cur = tonumber(redis.call('HGET', member, 'cur') or '0')
local pri = tonumber(redis.call('HGET', member, 'pri') or '0')
if pay_cur < 0 or pay_pri < 0 or cur - pay_cur < 0 or pri - pay_pri < 0 then
  return {'OVERDRAW'}
end

-- 5. Writes. Nothing above has written; nothing below can fail on valid input.
local at = 11
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
if n > 0 then redis.call('HSET', setl, unpack(ARGV, at + 1, at + 2 * n)) end
at = at + 2 * n + 1
local n_journal = tonumber(ARGV[at])
local journal_at = at
at = at + 2 * n_journal + 1
n = tonumber(ARGV[at])
for i = 1, n do
  redis.call('HINCRBY', totals, ARGV[at + 2 * i - 1], ARGV[at + 2 * i])
end

local new_cur = redis.call('HINCRBY', member, 'cur', 0 - pay_cur)
local new_pri = redis.call('HINCRBY', member, 'pri', 0 - pay_pri)
local new_version = redis.call('HINCRBY', member, 'ver', 1)
redis.call('HSET', idem, 'h', ARGV[2], 'k', 'settle', 's', ARGV[4], 'inst', ARGV[9])
redis.call('EXPIRE', idem, tonumber(ARGV[3]))
redis.call('INCR', today)
redis.call('EXPIRE', today, tonumber(ARGV[7]))
if episode_id ~= '' then
  redis.call('HSET', episode, 'status', 'SETTLED', 'setl', ARGV[4])
end
if n_journal > 0 then
  redis.call('XADD', journal, '*', unpack(ARGV, journal_at + 1, journal_at + 2 * n_journal))
end
return {'OK', new_version, new_cur, new_pri}
