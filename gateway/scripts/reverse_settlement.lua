-- Reverse one settlement (结算撤销): restore everything it changed, all or nothing.
--
-- KEYS: 1 member hash, 2 fills hash, 3 duplicate-charge hash,
--       4 idempotency hash of the reversal request, 5 settlement record hash,
--       6 partition journal stream, 7 member's counter for the settlement's service day,
--       8 reconciliation totals hash (institution, reversal day),
--       9 inpatient episode hash (or an unused key)
-- ARGV: 1 request hash, 2 idempotency ttl (s), 3 reversal id, 4 calling institution,
--       5 today (day number), 6 reversal window (days), 7 reversed-at timestamp,
--       8 request id, 9 expected original request id ('' = any), 10 member (psn_no),
--       then n, n x (journal field, value)
-- Returns {'OK', reversal id, current balance, prior balance, reversed at}
-- or {'ALREADY', reversal id, current, prior, reversed at} (a settlement is reversed once;
--    a repeat returns the first reversal)
-- or {'REPLAY', settlement id} | {'CONFLICT'} | {'NOT_FOUND'} | {'DENIED'} | {'EXPIRED'}
-- | {'MISMATCH'}.
local member, fills, dups, idem, setl, journal, daycount, totals, episode =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]

local prior_hash = redis.call('HGET', idem, 'h')
if prior_hash then
  if prior_hash == ARGV[1] and redis.call('HGET', idem, 'k') == 'reverse' then
    return {'REPLAY', redis.call('HGET', idem, 's') or ''}
  end
  return {'CONFLICT'}
end

local rec = redis.call('HMGET', setl, 'inst', 'status', 'sday', 'acct_cur', 'acct_pri', 'inc',
  'fills_new', 'fills_old', 'dups', 'medfee', 'fund', 'acct', 'cash', 'ep', 'rev', 'rev_cur',
  'rev_pri', 'rev_at', 'req', 'psn')
if not rec[1] or rec[20] ~= ARGV[10] then return {'NOT_FOUND'} end
if rec[1] ~= ARGV[4] then return {'DENIED'} end
if ARGV[9] ~= '' and rec[19] ~= ARGV[9] then return {'MISMATCH'} end

local function remember()
  redis.call('HSET', idem, 'h', ARGV[1], 'k', 'reverse', 's', redis.call('HGET', setl, 'id'))
  redis.call('EXPIRE', idem, tonumber(ARGV[2]))
end

if rec[2] == 'REVERSED' then
  remember()
  return {'ALREADY', rec[15], rec[16], rec[17], rec[18]}
end
if tonumber(ARGV[5]) - tonumber(rec[3]) > tonumber(ARGV[6]) then return {'EXPIRED'} end

-- Undo, field by field. A field that this settlement created goes away again,
-- so the member's state is restored exactly (the version counter aside).
local function add(key, field, delta)
  local v = redis.call('HINCRBY', key, field, delta)
  if v == 0 and field ~= 'cur' and field ~= 'pri' then redis.call('HDEL', key, field) end
  return v
end
local new_cur = add(member, 'cur', tonumber(rec[4]))
local new_pri = add(member, 'pri', tonumber(rec[5]))
for field, inc in string.gmatch(rec[6] or '', '([^=,]+)=(-?%d+)') do
  add(member, field, 0 - tonumber(inc))
end
-- Fills: put back the previous fill, unless a later settlement has replaced ours.
local old = {}
for item, value in string.gmatch(rec[8] or '', '([^=|]+)=([^|]*)') do old[item] = value end
for item, value in string.gmatch(rec[7] or '', '([^=|]+)=([^|]*)') do
  if redis.call('HGET', fills, item) == value then
    if old[item] and old[item] ~= '' then
      redis.call('HSET', fills, item, old[item])
    else
      redis.call('HDEL', fills, item)
    end
  end
end
for key in string.gmatch(rec[9] or '', '[^\n]+') do redis.call('HDEL', dups, key) end
if redis.call('DECR', daycount) <= 0 then redis.call('DEL', daycount) end
redis.call('HINCRBY', member, 'ver', 1)
if rec[14] and rec[14] ~= '' then
  redis.call('HSET', episode, 'status', 'DISCHARGED')
  redis.call('HDEL', episode, 'setl')
end

redis.call('HSET', setl, 'status', 'REVERSED', 'rev', ARGV[3], 'rev_at', ARGV[7],
  'rev_req', ARGV[8], 'rev_cur', new_cur, 'rev_pri', new_pri)
remember()
redis.call('HINCRBY', totals, 'rn', 1)
redis.call('HINCRBY', totals, 'rmedfee', tonumber(rec[10]))
redis.call('HINCRBY', totals, 'rfund', tonumber(rec[11]))
redis.call('HINCRBY', totals, 'racct', tonumber(rec[12]))
redis.call('HINCRBY', totals, 'rcash', tonumber(rec[13]))
local n = tonumber(ARGV[11])
if n > 0 then redis.call('XADD', journal, '*', unpack(ARGV, 12, 11 + 2 * n)) end
return {'OK', ARGV[3], new_cur, new_pri, ARGV[7]}
