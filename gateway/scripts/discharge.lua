-- Discharge (出院办理, 2402): close an open episode, recording the discharge-order date.
-- KEYS: 1 member hash, 2 idempotency hash, 3 episode hash, 4 partition journal stream
-- ARGV: 1 request hash, 2 ttl (s), 3 institution, 4 discharge day, 5 discharge-order day
--       (-1 none), 6 diagnosis ('' keeps the admission's), 7 member (psn_no),
--       then n, n x (journal field, value)
-- Returns {'OK', warning} | {'REPLAY'} | {'CONFLICT'} | {'NOT_FOUND'} | {'DENIED'}
--       | {'STATUS', status} | {'BEFORE_ADMISSION'}
local member, idem, episode, journal = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prior_hash = redis.call('HGET', idem, 'h')
if prior_hash then
  if prior_hash == ARGV[1] and redis.call('HGET', idem, 'k') == 'discharge' then
    return {'REPLAY', redis.call('HGET', episode, 'warn') or ''}
  end
  return {'CONFLICT'}
end
local ep = redis.call('HMGET', episode, 'inst', 'status', 'adm', 'diag', 'id', 'warn', 'psn')
if not ep[1] or ep[7] ~= ARGV[7] then return {'NOT_FOUND'} end
if ep[1] ~= ARGV[3] then return {'DENIED'} end
if ep[2] ~= 'OPEN' then return {'STATUS', ep[2]} end
if tonumber(ARGV[4]) < tonumber(ep[3]) then return {'BEFORE_ADMISSION'} end
local diag = ep[4]
if ARGV[6] ~= '' then diag = ARGV[6] end
redis.call('HSET', episode, 'status', 'DISCHARGED', 'dis', ARGV[4], 'ord', ARGV[5], 'diag', diag)
redis.call('HDEL', member, 'ep_open')
redis.call('HSET', member, 'ep_last', ARGV[3] .. '|' .. ARGV[4] .. '|' .. diag)
redis.call('HINCRBY', member, 'ver', 1)
redis.call('HSET', idem, 'h', ARGV[1], 'k', 'discharge', 's', ep[5], 'inst', ARGV[3])
redis.call('EXPIRE', idem, tonumber(ARGV[2]))
local n = tonumber(ARGV[8])
if n > 0 then redis.call('XADD', journal, '*', unpack(ARGV, 9, 8 + 2 * n)) end
return {'OK', ep[6] or ''}
