// The risk decision's one Redis round trip: check every velocity and new-payer rule that
// applies and, unless the payment is blocked, count it — atomically, so two processes
// assessing payments of one card at once cannot both pass the limit.
//
// KEYS: the counters (sorted sets: member `<payment_id>:<amount_minor>`, score = ms) then the
// first-seen markers, all under one hash tag `{<prefix>:risk}` (one slot on Redis Cluster).
// ARGV: now_ms, member, amount, mode ('0': count unless a blocking check fires; '1': a rule
// outside Redis blocks already: check, count nothing; '2': allow-listed: check, always
// count), counters_n, then per counter: trim_before_ms, ttl_ms; markers_n, then per
// marker: ttl_ms; checks_n, then per check: kind ('v' velocity, 'n' new payer), key index,
// blocks (1 when its action is block), and for 'v': window_ms, count_max (-1: none),
// amount_max (-1: none); for 'n': new_for_ms, amount_max.
// Returns the 1-based indexes of the checks that fired.
//
// The member carries the payment id: a create replayed (same payment, same amount) finds
// itself already counted and is neither counted twice nor held against its own limit.
// A counter keeps its newest risk_velocity_count_max + 1 entries: a count limit never needs
// more, and an amount limit sums over at most that many payments of its window.
// Amounts are summed as Lua numbers (doubles); see risk_amount_minor_max for why that stays
// exact where it matters.
import { risk_velocity_count_max } from '../constants';

export const risk_script = `
local now = tonumber(ARGV[1])
local member = ARGV[2]
local amount = tonumber(ARGV[3])
local mode = ARGV[4]
local block = mode == '1'
local counters_n = tonumber(ARGV[5])
local a = 6
local counter_ttl = {}
for i = 1, counters_n do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', '(' .. ARGV[a])
  counter_ttl[i] = ARGV[a + 1]
  a = a + 2
end
local markers_n = tonumber(ARGV[a])
a = a + 1
local marker_ttl = {}
for i = 1, markers_n do
  marker_ttl[i] = ARGV[a]
  a = a + 1
end
local checks_n = tonumber(ARGV[a])
a = a + 1
local fired = {}
for c = 1, checks_n do
  local kind, key, blocks = ARGV[a], KEYS[tonumber(ARGV[a + 1])], ARGV[a + 2] == '1'
  local hit = false
  if kind == 'v' then
    local from, count_max, amount_max = now - tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
    a = a + 6
    local entries = redis.call('ZRANGEBYSCORE', key, from, '+inf')
    local count, sum = 1, amount
    for _, m in ipairs(entries) do
      if m ~= member then
        count = count + 1
        sum = sum + tonumber(string.match(m, ':(%d+)$'))
      end
    end
    hit = (count_max >= 0 and count > count_max) or (amount_max >= 0 and sum > amount_max)
  else
    local new_for, amount_max = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
    a = a + 5
    local first = redis.call('GET', key)
    hit = (first == false or now - tonumber(first) < new_for) and amount > amount_max
  end
  if hit then
    fired[#fired + 1] = c
    if blocks and mode ~= '2' then block = true end
  end
end
if not block then
  for i = 1, counters_n do
    redis.call('ZADD', KEYS[i], 'NX', now, member)
    redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(${risk_velocity_count_max} + 2))
    redis.call('PEXPIRE', KEYS[i], counter_ttl[i])
  end
  for i = 1, markers_n do
    redis.call('SET', KEYS[counters_n + i], now, 'PX', marker_ttl[i], 'NX')
  end
end
return fired
`;
