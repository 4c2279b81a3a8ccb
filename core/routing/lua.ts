// The routing table's Redis scripts, registered with ioredis defineCommand (EVALSHA, falling
// back to EVAL once per connection after a SCRIPT FLUSH).
//
// Every key of one channel shares the hash tag `{<prefix>:ch:<channel_id>}`; each script gets
// channels' base keys as KEYS and derives the sub-keys (same slot). Lua numbers are doubles:
// amounts stay exact because a counter never exceeds its cap plus one order, below 2^53
// (constants.ts, cap_amount_minor_max); amounts are written with HINCRBY from the decimal
// string the caller passed (Lua would print 1e12 as '1e+12'), never from a Lua number.
//
// Sub-keys of a channel base key B:
//   B:h:<bucket>          health bucket (hash s, e, t, d = success, system error, timeout,
//                         payer decline counts; ls, ln = latency sum and count), PEXPIRE window+bucket
//   B:cb                  circuit (hash st = C|O|H, at = opened or half-open since (ms),
//                         pa = probes admitted, ps = probe successes); absent = closed
//   B:u:d:<YYYYMMDD>      reserved usage of the day (hash a = amount, n = count)
//   B:u:m:<YYYYMM>        reserved usage of the month
//   B:k:<card>:d:<day>    the same per card digest, and B:k:<card>:m:<month>
//   B:r:<reservation_id>  reservation marker 'amount|day|month|card', deleted by release/commit

/** Arguments before the per-candidate block of the decision script. */
export const route_head_args = 23;
/** Per candidate: static score, weight, then the 8 caps ('' = none) in limit_names order. */
export const route_stride_args = 10;

export const route_script = `
local now_s = ARGV[1]
local now = tonumber(now_s)
local reserve = ARGV[2] == '1'
local amount_s = ARGV[3]
local amount = tonumber(amount_s)
local day, month, card, reservation_id = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local explore_pick = tonumber(ARGV[8])
local prior_sr, prior_w, lat_prior = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
local bp_succ, bp_lat, bp_to = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local window_ms, bucket_ms = tonumber(ARGV[16]), tonumber(ARGV[17])
local cooldown_ms, probes_max, probe_timeout_ms = tonumber(ARGV[18]), tonumber(ARGV[19]), tonumber(ARGV[20])
local res_ttl, day_ttl, month_ttl = tonumber(ARGV[21]), tonumber(ARGV[22]), tonumber(ARGV[23])
local head, stride = ${route_head_args}, ${route_stride_args}
local current = math.floor(now / bucket_ms)
local buckets = math.ceil(window_ms / bucket_ms)
local function num(v) if v then return tonumber(v) or 0 end return 0 end
local function fmt(x) return string.format('%.0f', x) end

local function cap_check(key, cap_a, cap_n, reason_a, reason_n)
  if cap_a == nil and cap_n == nil then return nil end
  local v = redis.call('HMGET', key, 'a', 'n')
  local ua, un = num(v[1]), num(v[2])
  if cap_a ~= nil and ua + amount > cap_a then return reason_a, 'reserved ' .. fmt(ua) .. ' + ' .. amount_s .. ' > cap ' .. fmt(cap_a) end
  if cap_n ~= nil and un + 1 > cap_n then return reason_n, 'reserved count ' .. fmt(un) .. ' + 1 > cap ' .. fmt(cap_n) end
  return nil
end

local results = {}
for i, base in ipairs(KEYS) do
  local at = head + (i - 1) * stride
  local s, e, t, d, ls, ln = 0, 0, 0, 0, 0, 0
  for b = current - buckets + 1, current do
    local v = redis.call('HMGET', base .. ':h:' .. b, 's', 'e', 't', 'd', 'ls', 'ln')
    s = s + num(v[1]); e = e + num(v[2]); t = t + num(v[3]); d = d + num(v[4]); ls = ls + num(v[5]); ln = ln + num(v[6])
  end
  local n = s + e + t
  local sr = (s + prior_sr * prior_w) / (n + prior_w)
  local tr = t / (n + prior_w)
  local lat = (ls + lat_prior * prior_w) / (ln + prior_w)
  local score = tonumber(ARGV[at + 1]) + (-(bp_succ * 100 * (1 - sr)) - bp_lat * lat / 1000 - bp_to * 100 * tr)
  local status, detail, probe = 'OK', '', false
  local cbk = base .. ':cb'
  local cb = redis.call('HMGET', cbk, 'st', 'at', 'pa')
  local st, since, pa = cb[1] or 'C', num(cb[2]), num(cb[3])
  if st == 'O' then
    if now - since >= cooldown_ms then
      st, since, pa = 'H', now, 0
      if reserve then redis.call('HSET', cbk, 'st', 'H', 'at', now_s, 'pa', 0, 'ps', 0) end
    else
      status, detail = 'CIRCUIT_OPEN', 'open for ' .. fmt(now - since) .. ' ms of a ' .. fmt(cooldown_ms) .. ' ms cool-down'
    end
  end
  if st == 'H' and status == 'OK' then
    if pa >= probes_max then
      if now - since >= probe_timeout_ms then
        pa = 0
        if reserve then redis.call('HSET', cbk, 'at', now_s, 'pa', 0) end
      else
        status, detail = 'CIRCUIT_PROBES_BUSY', 'half-open with ' .. fmt(pa) .. ' probes in flight'
      end
    end
    if status == 'OK' then probe = true end
  end
  if status == 'OK' then
    local c = {}
    for k = 1, 8 do c[k] = tonumber(ARGV[at + 2 + k]) end
    local r, why = cap_check(base .. ':u:d:' .. day, c[1], c[2], 'DAILY_AMOUNT_CAP', 'DAILY_COUNT_CAP')
    if r == nil then r, why = cap_check(base .. ':u:m:' .. month, c[3], c[4], 'MONTHLY_AMOUNT_CAP', 'MONTHLY_COUNT_CAP') end
    if r == nil and card ~= '' then r, why = cap_check(base .. ':k:' .. card .. ':d:' .. day, c[5], c[6], 'CARD_DAILY_AMOUNT_CAP', 'CARD_DAILY_COUNT_CAP') end
    if r == nil and card ~= '' then r, why = cap_check(base .. ':k:' .. card .. ':m:' .. month, c[7], c[8], 'CARD_MONTHLY_AMOUNT_CAP', 'CARD_MONTHLY_COUNT_CAP') end
    if r ~= nil then status, detail = r, why end
  end
  results[i] = { status = status, detail = detail, score = score, probe = probe, cb = st, w = tonumber(ARGV[at + 2]),
    s = s, e = e, t = t, d = d, ls = ls, ln = ln }
end

-- Half-open probes first (a few payments measure a recovering channel), then the best score;
-- an exploration pick replaces the best with another healthy candidate, weighted.
local chosen, explored = 0, false
for i, r in ipairs(results) do
  if r.status == 'OK' and r.probe and (chosen == 0 or r.score > results[chosen].score) then chosen = i end
end
if chosen == 0 then
  for i, r in ipairs(results) do
    if r.status == 'OK' and (chosen == 0 or r.score > results[chosen].score) then chosen = i end
  end
  if chosen > 0 and explore_pick >= 0 then
    local total = 0
    for i, r in ipairs(results) do if i ~= chosen and r.status == 'OK' and r.cb == 'C' then total = total + r.w end end
    if total > 0 then
      local target = explore_pick * total
      for i, r in ipairs(results) do
        if i ~= chosen and r.status == 'OK' and r.cb == 'C' then
          target = target - r.w
          if target < 0 then chosen, explored = i, true; break end
        end
      end
    end
  end
end

if reserve and chosen > 0 then
  local base = KEYS[chosen]
  local marker = base .. ':r:' .. reservation_id
  if redis.call('EXISTS', marker) == 0 then
    local function add(key, ttl)
      redis.call('HINCRBY', key, 'a', amount_s)
      redis.call('HINCRBY', key, 'n', 1)
      redis.call('EXPIRE', key, ttl)
    end
    add(base .. ':u:d:' .. day, day_ttl)
    add(base .. ':u:m:' .. month, month_ttl)
    if card ~= '' then
      add(base .. ':k:' .. card .. ':d:' .. day, day_ttl)
      add(base .. ':k:' .. card .. ':m:' .. month, month_ttl)
    end
    redis.call('SET', marker, amount_s .. '|' .. day .. '|' .. month .. '|' .. card, 'EX', res_ttl)
    if results[chosen].probe then redis.call('HINCRBY', base .. ':cb', 'pa', 1) end
  end
end
return cjson.encode({ chosen = chosen, explored = explored, c = results })
`;

/** KEYS[1] channel base; ARGV[1] reservation id. 1 when this call released it, 0 when it was
 * already released, committed or expired. */
export const release_script = `
local marker = KEYS[1] .. ':r:' .. ARGV[1]
local v = redis.call('GET', marker)
if not v then return 0 end
redis.call('DEL', marker)
local amount_s, day, month, card = string.match(v, '^([0-9]+)|([0-9]*)|([0-9]*)|(.*)$')
local function back(key)
  if redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', key, 'a', '-' .. amount_s)
    redis.call('HINCRBY', key, 'n', -1)
  end
end
back(KEYS[1] .. ':u:d:' .. day)
back(KEYS[1] .. ':u:m:' .. month)
if card ~= '' then
  back(KEYS[1] .. ':k:' .. card .. ':d:' .. day)
  back(KEYS[1] .. ':k:' .. card .. ':m:' .. month)
end
return 1
`;

/** KEYS[1] channel base; ARGV[1] reservation id. Keeps the usage, forgets the marker. */
export const commit_script = `return redis.call('DEL', KEYS[1] .. ':r:' .. ARGV[1])`;

/** KEYS[1] channel base; ARGV: now_ms, kind (s|e|t|d), latency_ms (integer), bucket_ms,
 * window_ms, failure_rate_open, volume_min, probe_successes_close, cooldown_ms.
 * Returns the circuit state after the outcome: C, O or H. */
export const outcome_script = `
local base, now_s, kind, latency = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local now = tonumber(now_s)
local bucket_ms, window_ms = tonumber(ARGV[4]), tonumber(ARGV[5])
local rate_open, volume_min = tonumber(ARGV[6]), tonumber(ARGV[7])
local successes_close, cooldown_ms = tonumber(ARGV[8]), tonumber(ARGV[9])
local current = math.floor(now / bucket_ms)
local buckets = math.ceil(window_ms / bucket_ms)
local key = base .. ':h:' .. current
redis.call('HINCRBY', key, kind, 1)
redis.call('HINCRBY', key, 'ls', latency)
redis.call('HINCRBY', key, 'ln', 1)
redis.call('PEXPIRE', key, window_ms + bucket_ms)
local cbk = base .. ':cb'
local cb = redis.call('HMGET', cbk, 'st', 'at', 'ps')
local st, since, ps = cb[1] or 'C', tonumber(cb[2] or '0'), tonumber(cb[3] or '0')
if st == 'O' and now - since >= cooldown_ms then
  st, ps = 'H', 0
  redis.call('HSET', cbk, 'st', 'H', 'at', now_s, 'pa', 0, 'ps', 0)
end
if kind == 'e' or kind == 't' then
  if st == 'H' then
    redis.call('HSET', cbk, 'st', 'O', 'at', now_s, 'pa', 0, 'ps', 0)
    return 'O'
  end
  if st == 'C' then
    local s, f = 0, 0
    for b = current - buckets + 1, current do
      local v = redis.call('HMGET', base .. ':h:' .. b, 's', 'e', 't')
      s = s + (tonumber(v[1] or '0') or 0)
      f = f + (tonumber(v[2] or '0') or 0) + (tonumber(v[3] or '0') or 0)
    end
    if s + f >= volume_min and f / (s + f) >= rate_open then
      redis.call('HSET', cbk, 'st', 'O', 'at', now_s, 'pa', 0, 'ps', 0)
      return 'O'
    end
  end
elseif kind == 's' and st == 'H' then
  ps = ps + 1
  if ps >= successes_close then
    -- Closed with a clean window: the failures that opened it are history, not health.
    redis.call('DEL', cbk)
    for b = current - buckets + 1, current do redis.call('DEL', base .. ':h:' .. b) end
    return 'C'
  end
  redis.call('HSET', cbk, 'ps', ps)
end
return st
`;
