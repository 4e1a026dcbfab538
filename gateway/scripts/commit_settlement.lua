-- Commit one settlement: all or nothing (ARCHITECTURE.md: ONE script call).
--
-- KEYS: 1 member hash, 2 fills hash, 3 duplicate-charge hash, 4 idempotency hash,
--       5 settlement record hash, 6 partition journal stream,
--       7 member's settlements-today counter, 8 reconciliation totals hash
--       (institution, settlement day), 9 inpatient episode hash (or an unused key)
-- ARGV: 1 expected member version, 2 request hash, 3 idempotency ttl (s),
--       4 settlement id, 5 current-bucket payment (fen), 6 prior-bucket payment (fen),
--       7 counter ttl (s), 8 episode id ('' when not an episode), 9 institution,
--       10 the episode's line count the claim was adjudicated on, then four counted groups:
--       n, n x (member accumulator field, increment)
--       n, n x (fill field, value)
--       n, n x duplicate-charge field
--       n, n x (settlement record field, value)
-- The journal entry and the reconciliation totals are taken from the record's fields.
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
-- Hash writes go in batches: one call per batch, and Lua's unpack() has a stack limit.
local BATCH = 500
local function hset_pairs(key, first, count)  -- count pairs starting at ARGV[first]
  for b = 0, count - 1, BATCH do
    local last = math.min(count - 1, b + BATCH - 1)
    redis.call('HSET', key, unpack(ARGV, first + 2 * b, first + 2 * last + 1))
  end
end
local at = 11
local n = tonumber(ARGV[at])
for i = 1, n do
  redis.call('HINCRBY', member, ARGV[at + 2 * i - 1], ARGV[at + 2 * i])
end
at = at + 2 * n + 1
n = tonumber(ARGV[at])
if n > 0 then hset_pairs(fills, at + 1, n) end
at = at + 2 * n + 1
n = tonumber(ARGV[at])
local settlement_id = ARGV[4]
for b = 0, n - 1, BATCH do
  local pairs_, j = {}, 0  -- a counter, not #pairs_: the length operator is a search
  for i = at + b + 1, at + math.min(n, b + BATCH) do
    pairs_[j + 1] = ARGV[i]
    pairs_[j + 2] = settlement_id
    j = j + 2
  end
  redis.call('HSET', dups, unpack(pairs_))
end
at = at + n + 1
n = tonumber(ARGV[at])
local rec = {}
for i = 1, n do rec[ARGV[at + 2 * i - 1]] = ARGV[at + 2 * i] end
if n > 0 then hset_pairs(setl, at + 1, n) end

-- Reconciliation totals of the institution's clearing day, from the record.
redis.call('HINCRBY', totals, 'n', 1)
for _, f in ipairs({'medfee', 'fund', 'hifp', 'supp', 'hifmi', 'maf', 'acct', 'cash'}) do
  if rec[f] and rec[f] ~= '0' then redis.call('HINCRBY', totals, f, rec[f]) end
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
-- The journal entry (audit trail), from the record.
local entry = {'type', 'SETTLE', 'setl', ARGV[4]}
for _, f in ipairs({'req', 'psn', 'inst', 'op', 'term', 'at', 'day', 'sday', 'ep', 'setting',
                    'medfee', 'fund', 'hifp', 'supp', 'hifmi', 'maf', 'acct_cur', 'acct_pri',
                    'cash', 'inc'}) do
  entry[#entry + 1] = f
  entry[#entry + 1] = rec[f] or ''
end
redis.call('XADD', journal, '*', unpack(entry))
return {'OK', new_version, new_cur, new_pri}
