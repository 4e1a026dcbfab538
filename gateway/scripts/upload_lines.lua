-- Fee-detail upload (费用明细上传, 2301), one chunk, all or nothing.
-- KEYS: 1 episode hash, 2 episode lines hash (feedetl_sn -> line bytes), 3 idempotency hash,
--       4 partition journal stream
-- ARGV: 1 request hash, 2 ttl (s), 3 institution, 4 lines per episode max,
--       5 member (psn_no), then n, n x (feedetl_sn, line bytes, amount fen),
--       then m, m x (journal field, value)
-- Returns {'OK', added, unchanged, line count, amount} | {'REPLAY', ...same}
--       | {'CONFLICT'} | {'NOT_FOUND'} | {'DENIED'} | {'STATUS', status}
--       | {'LINE_CONFLICT', feedetl_sn} | {'TOO_MANY', max}
local episode, lines, idem, journal = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prior_hash = redis.call('HGET', idem, 'h')
if prior_hash then
  if prior_hash == ARGV[1] and redis.call('HGET', idem, 'k') == 'upload' then
    local r = redis.call('HMGET', idem, 'added', 'unchanged')
    local e = redis.call('HMGET', episode, 'n', 'amt')
    return {'REPLAY', r[1], r[2], e[1], e[2]}
  end
  return {'CONFLICT'}
end
local ep = redis.call('HMGET', episode, 'inst', 'status', 'psn')
if not ep[1] or ep[3] ~= ARGV[5] then return {'NOT_FOUND'} end
if ep[1] ~= ARGV[3] then return {'DENIED'} end
if ep[2] ~= 'OPEN' and ep[2] ~= 'DISCHARGED' then return {'STATUS', ep[2]} end
local n = tonumber(ARGV[6])
local added, unchanged, amount = 0, 0, 0
local new = {}
for i = 0, n - 1 do
  local sn, body = ARGV[7 + 3 * i], ARGV[8 + 3 * i]
  local have = redis.call('HGET', lines, sn)
  if have then
    if have ~= body then return {'LINE_CONFLICT', sn} end
    unchanged = unchanged + 1
  else
    added = added + 1
    amount = amount + tonumber(ARGV[9 + 3 * i])
    new[#new + 1] = i
  end
end
if redis.call('HLEN', lines) + added > tonumber(ARGV[4]) then return {'TOO_MANY', ARGV[4]} end
for _, i in ipairs(new) do
  redis.call('HSET', lines, ARGV[7 + 3 * i], ARGV[8 + 3 * i])
end
local count = redis.call('HINCRBY', episode, 'n', added)
local total = redis.call('HINCRBY', episode, 'amt', amount)
redis.call('HSET', idem, 'h', ARGV[1], 'k', 'upload', 's', '', 'added', added,
  'unchanged', unchanged)
redis.call('EXPIRE', idem, tonumber(ARGV[2]))
local at = 7 + 3 * n
local m = tonumber(ARGV[at])
if m > 0 then
  redis.call('XADD', journal, '*', 'added', added, 'amount', amount,
    unpack(ARGV, at + 1, at + 2 * m))
end
return {'OK', added, unchanged, count, total}
