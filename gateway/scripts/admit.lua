-- Admission (入院办理, 2401): open an inpatient episode.
-- KEYS: 1 member hash, 2 idempotency hash, 3 episode hash, 4 partition journal stream
-- ARGV: 1 request hash, 2 ttl (s), 3 episode id, 4 institution, 5 admission day,
--       6 diagnosis, 7 referral, 8 emergency, 9 readmission window (days), 10 psn_no,
--       then n, n x (journal field, value)
-- Returns {'OK', episode id, warning} | {'REPLAY', episode id} | {'CONFLICT'}
--       | {'OPEN', open episode id} | {'NO_MEMBER'}
local member, idem, episode, journal = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prior_hash = redis.call('HGET', idem, 'h')
if prior_hash then
  if prior_hash == ARGV[1] and redis.call('HGET', idem, 'k') == 'admit' then
    return {'REPLAY', redis.call('HGET', idem, 's')}
  end
  return {'CONFLICT'}
end
if redis.call('EXISTS', member) == 0 then return {'NO_MEMBER'} end
local open = redis.call('HGET', member, 'ep_open')
if open then return {'OPEN', string.match(open, '^[^|]+')} end

-- Split hospitalisation (分解住院): same institution and primary diagnosis within the
-- window after the last discharge. It warns; the new admission pays its deductible again.
local warning = ''
local last = redis.call('HGET', member, 'ep_last')
if last then
  local inst, day, diag = string.match(last, '^([^|]*)|([^|]*)|(.*)$')
  if inst == ARGV[4] and diag == ARGV[6]
     and tonumber(ARGV[5]) - tonumber(day) <= tonumber(ARGV[9]) then
    warning = 'READMISSION_15D'
  end
end
redis.call('HSET', episode, 'id', ARGV[3], 'psn', ARGV[10], 'inst', ARGV[4],
  'status', 'OPEN', 'adm', ARGV[5], 'diag', ARGV[6], 'ref', ARGV[7], 'emg', ARGV[8],
  'warn', warning, 'n', 0, 'amt', 0)
redis.call('HSET', member, 'ep_open', ARGV[3] .. '|' .. ARGV[4] .. '|' .. ARGV[5])
redis.call('HINCRBY', member, 'ver', 1)
redis.call('HSET', idem, 'h', ARGV[1], 'k', 'admit', 's', ARGV[3], 'inst', ARGV[4])
redis.call('EXPIRE', idem, tonumber(ARGV[2]))
local n = tonumber(ARGV[11])
if n > 0 then redis.call('XADD', journal, '*', unpack(ARGV, 12, 11 + 2 * n)) end
return {'OK', ARGV[3], warning}
