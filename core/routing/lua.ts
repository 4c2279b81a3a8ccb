// The routing table's Redis scripts, registered with ioredis defineCommand (EVALSHA, falling
// back to EVAL once per connection after a SCRIPT FLUSH).
//
// Every key of one channel shares the hash tag `{<prefix>:ch:<channel_id>}`, so a script on one
// channel touches one slot (Redis Cluster-ready); the hot-path scripts (reservation, health
// flush) name every key they touch in KEYS. Lua numbers are doubles: amounts stay exact because
// a counter never exceeds its cap plus one order, below 2^53 (constants.ts,
// cap_amount_minor_max); amounts are written with HINCRBY from the decimal string the caller
// passed (Lua would print 1e12 as '1e+12'), never from a Lua number.
//
// Sub-keys of a channel base key B:
//   B:h                   health: ONE hash for the sliding window, fields '<bucket>:<c>' where
//                         <bucket> = floor(ms / bucket_ms) and <c> is s, e, t, d (success, system
//                         error, timeout, payer decline counts of creates), qs, qe, qt, qd (of
//                         queries), ls, ln (create latency sum and count), n (outcomes).
//                         Written by the health flush script only: PEXPIRE window + bucket on
//                         every write, and the first write of a bucket deletes the fields of
//                         buckets that left the window (at most a window and a bucket).
//   B:cb                  circuit (hash st = C|O|H, at = opened or half-open since (ms),
//                         pa = probes admitted, ps = probe successes); absent = closed
//   B:u:d:<YYYYMMDD>      reserved usage of the day (hash a = amount, n = count), capped
//                         channels only
//   B:u:m:<YYYYMM>        reserved usage of the month
//   B:k:<card>:d:<day>    the same per card digest, and B:k:<card>:m:<month> (per-card caps)
//   B:r:<reservation_id>  reservation marker 'amount|day|month|card', deleted by release/commit
//
// A create's decision runs in the process (decision.ts); Redis sees one reservation script call
// only for a chosen channel with caps or a circuit that is not closed, and the health of every
// provider answer arrives in batches (health-batch.ts).

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

/** Applies configuration changes to the Redis cache. KEYS[1] the version key, KEYS[2..] the
 * configuration hashes; ARGV[1] '1' to refuse (return 0) when the version key is missing —
 * a Redis that lost its data must be rebuilt whole from the durable store, not patched —
 * ARGV[2] the change announcement channel, then ops: 'H' key# field value, 'D' key# field,
 * 'X' key#. Bumps the version and announces the change; returns 1. */
export const config_apply_script = `
if ARGV[1] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local i = 3
while i <= #ARGV do
  local op, key = ARGV[i], KEYS[tonumber(ARGV[i + 1])]
  if op == 'H' then redis.call('HSET', key, ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'D' then redis.call('HDEL', key, ARGV[i + 2]); i = i + 3
  else redis.call('DEL', key); i = i + 2 end
end
redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[2], 'changed')
return 1
`;

/** Rebuilds the configuration cache from a snapshot of the durable store, only if the
 * version key is still missing (the first of several rebuilding processes wins; the others'
 * identical work is skipped). KEYS[1] version, KEYS[2..] every configuration hash; ARGV[1]
 * the new version, ARGV[2] the announcement channel, then triples key# field value. */
export const config_rebuild_script = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
for i = 3, #ARGV, 3 do redis.call('HSET', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2]) end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], 'changed')
return 1
`;

// ---- in-process routing: Redis only for caps, probes and batched health ------------------
//
// The decision itself runs in each process from its cached table and its view of every
// channel's health (health.ts). Redis is touched on a create only to reserve the chosen
// channel's caps, or to admit a half-open circuit's probe, atomically — one call on one
// channel's keys, every key named in KEYS and hash-tagged `{<prefix>:ch:<channel_id>}`, so the
// call touches one slot (Redis Cluster-ready). Health outcomes are counted in memory and
// flushed per channel in batches (health_flush_script), which also answers the fleet's window
// and circuit state for the process's view.

/** Arguments of the reservation script before the 8 caps. */
export const reserve_head_args = 4;

/** Reserves one channel's caps and, when its circuit is open past its cool-down or half-open,
 * admits the call as a probe — or refuses, naming the cap or the circuit.
 *
 * KEYS[1] the reservation marker `B:r:<reservation_id>`, KEYS[2] the circuit `B:cb`; with caps,
 * KEYS[3] the day usage `B:u:d:<day>`, KEYS[4] the month usage `B:u:m:<month>`; with a card
 * and per-card caps, KEYS[5] `B:k:<card>:d:<day>`, KEYS[6] `B:k:<card>:m:<month>`.
 * ARGV[1] now (ms), ARGV[2] '1' to reserve ('0': only check, nothing written), ARGV[3] the
 * amount (decimal string), ARGV[4] the marker's value 'amount|day|month|card', ARGV[5..12] the
 * caps in limit_names order ('' = none), ARGV[13] cool-down ms, ARGV[14] probes at once,
 * ARGV[15] probe timeout ms, ARGV[16..18] TTLs of the marker, day and month counters (s).
 *
 * Reply: 'OK|<circuit C|O|H>|<probe 0|1>|' or '<reason>|<circuit>|0|<detail>'. A repeated call
 * with the same reservation id adds nothing twice (the marker is SET NX). */
export const reserve_script = `
local now_s = ARGV[1]
local now = tonumber(now_s)
local reserve = ARGV[2] == '1'
local amount_s = ARGV[3]
local amount = tonumber(amount_s)
local cooldown_ms, probes_max, probe_timeout_ms = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local res_ttl, day_ttl, month_ttl = tonumber(ARGV[16]), tonumber(ARGV[17]), tonumber(ARGV[18])
local function fmt(x) return string.format('%.0f', x) end

local cbk = KEYS[2]
local cb = redis.call('HMGET', cbk, 'st', 'at', 'pa')
local st, since, pa = cb[1] or 'C', tonumber(cb[2] or '0') or 0, tonumber(cb[3] or '0') or 0
local probe = false
if st == 'O' then
  if now - since < cooldown_ms then
    return 'CIRCUIT_OPEN|O|0|open for ' .. fmt(now - since) .. ' ms of a ' .. fmt(cooldown_ms) .. ' ms cool-down'
  end
  st, since, pa = 'H', now, 0
  if reserve then redis.call('HSET', cbk, 'st', 'H', 'at', now_s, 'pa', 0, 'ps', 0) end
end
if st == 'H' then
  if pa >= probes_max then
    if now - since < probe_timeout_ms then return 'CIRCUIT_PROBES_BUSY|H|0|half-open with ' .. fmt(pa) .. ' probes in flight' end
    pa = 0
    if reserve then redis.call('HSET', cbk, 'at', now_s, 'pa', 0) end
  end
  probe = true
end

local function cap_check(key, cap_a, cap_n, reason_a, reason_n)
  if key == nil or (cap_a == nil and cap_n == nil) then return nil end
  local v = redis.call('HMGET', key, 'a', 'n')
  local ua, un = tonumber(v[1] or '0') or 0, tonumber(v[2] or '0') or 0
  if cap_a ~= nil and ua + amount > cap_a then return reason_a, 'reserved ' .. fmt(ua) .. ' + ' .. amount_s .. ' > cap ' .. fmt(cap_a) end
  if cap_n ~= nil and un + 1 > cap_n then return reason_n, 'reserved count ' .. fmt(un) .. ' + 1 > cap ' .. fmt(cap_n) end
  return nil
end
local r, why = cap_check(KEYS[3], tonumber(ARGV[5]), tonumber(ARGV[6]), 'DAILY_AMOUNT_CAP', 'DAILY_COUNT_CAP')
if r == nil then r, why = cap_check(KEYS[4], tonumber(ARGV[7]), tonumber(ARGV[8]), 'MONTHLY_AMOUNT_CAP', 'MONTHLY_COUNT_CAP') end
if r == nil then r, why = cap_check(KEYS[5], tonumber(ARGV[9]), tonumber(ARGV[10]), 'CARD_DAILY_AMOUNT_CAP', 'CARD_DAILY_COUNT_CAP') end
if r == nil then r, why = cap_check(KEYS[6], tonumber(ARGV[11]), tonumber(ARGV[12]), 'CARD_MONTHLY_AMOUNT_CAP', 'CARD_MONTHLY_COUNT_CAP') end
if r ~= nil then return r .. '|' .. st .. '|0|' .. why end
if not reserve then return 'OK|' .. st .. '|' .. (probe and '1' or '0') .. '|' end

-- NX: a marker that already exists means this reservation was made (nothing added twice).
if #KEYS >= 3 and redis.call('SET', KEYS[1], ARGV[4], 'EX', res_ttl, 'NX') then
  local function add(key, ttl)
    redis.call('HINCRBY', key, 'a', amount_s)
    -- The counter's first reservation sets its lifetime (a later one would only repeat it).
    if redis.call('HINCRBY', key, 'n', 1) == 1 then redis.call('EXPIRE', key, ttl) end
  end
  add(KEYS[3], day_ttl)
  add(KEYS[4], month_ttl)
  if #KEYS >= 6 then
    add(KEYS[5], day_ttl)
    add(KEYS[6], month_ttl)
  end
end
if probe then redis.call('HINCRBY', cbk, 'pa', 1) end
return 'OK|' .. st .. '|' .. (probe and '1' or '0') .. '|'
`;

/** Arguments of the health flush script before its field increments. */
export const health_flush_head_args = 9;

/** Adds a batch of one channel's outcomes, counted in one process since its last flush, to the
 * channel's sliding window, moves the circuit as they call for, and answers the fleet's window
 * and circuit (a flush with no increments only reads, and moves an open circuit whose cool-down
 * is over to half-open).
 *
 * KEYS[1] the health hash `B:h`, KEYS[2] the circuit `B:cb`. ARGV[1] now (ms), ARGV[2] bucket
 * ms, ARGV[3] window ms, ARGV[4] failure rate that opens, ARGV[5] volume minimum, ARGV[6] probe
 * successes that close, ARGV[7] cool-down ms, ARGV[8] the latest start (ms) of a create that
 * failed (system error or timeout) in the batch ('' none), ARGV[9] the starts of the batch's
 * successful creates, newest first, at most ARGV[6] of them, comma-separated ('' none); then
 * pairs field, increment: '<bucket>:<c>' with c = s, e, t, d (creates), qs, qe, qt, qd
 * (queries), ls, ln (create latency sum and count), n (every outcome: the bucket's start).
 *
 * The circuit rules, applied to the batch: a closed circuit opens when
 * the batch held failures and either operation's failure rate over the window reaches the
 * threshold with the volume; a half-open one re-opens when a create started after it became
 * half-open failed, and closes (with a clean window) once enough such creates succeeded.
 *
 * Reply: 'st|since|pa|s|e|t|d|ls|ln' — the circuit and the window's create counts. */
export const health_flush_script = `
local key, cbk = KEYS[1], KEYS[2]
local now_s = ARGV[1]
local now = tonumber(now_s)
local bucket_ms, window_ms = tonumber(ARGV[2]), tonumber(ARGV[3])
local rate_open, volume_min = tonumber(ARGV[4]), tonumber(ARGV[5])
local successes_close, cooldown_ms = tonumber(ARGV[6]), tonumber(ARGV[7])
local fail_started = tonumber(ARGV[8])
local current = math.floor(now / bucket_ms)
local first = current - math.ceil(window_ms / bucket_ms) + 1
local wrote, new_bucket, fails_c, fails_q = false, false, false, false
for i = ${health_flush_head_args} + 1, #ARGV, 2 do
  local f, inc = ARGV[i], tonumber(ARGV[i + 1])
  local v = redis.call('HINCRBY', key, f, inc)
  wrote = true
  local c = string.match(f, ':(%a+)$')
  if c == 'n' and v == inc then new_bucket = true
  elseif c == 'e' or c == 't' then fails_c = true
  elseif c == 'qe' or c == 'qt' then fails_q = true end
end
if new_bucket then
  -- A bucket's first outcomes: forget the buckets that have left the window since.
  local old = {}
  for _, f in ipairs(redis.call('HKEYS', key)) do
    local b = tonumber(string.match(f, '^(%-?%d+):'))
    if b == nil or b < first then old[#old + 1] = f end
  end
  if #old > 0 then redis.call('HDEL', key, unpack(old)) end
end
if wrote then redis.call('PEXPIRE', key, window_ms + bucket_ms) end

local w = { s = 0, e = 0, t = 0, d = 0, ls = 0, ln = 0, qs = 0, qe = 0, qt = 0 }
local v = redis.call('HGETALL', key)
for j = 1, #v, 2 do
  local b, c = string.match(v[j], '^(%-?%d+):(%a+)$')
  b = tonumber(b)
  if b and b >= first and b <= current and w[c] ~= nil then w[c] = w[c] + (tonumber(v[j + 1]) or 0) end
end

local cb = redis.call('HMGET', cbk, 'st', 'at', 'pa', 'ps')
local st, since, pa, ps = cb[1] or 'C', tonumber(cb[2] or '0') or 0, tonumber(cb[3] or '0') or 0, tonumber(cb[4] or '0') or 0
local function open()
  st, since, pa = 'O', now, 0
  redis.call('HSET', cbk, 'st', 'O', 'at', now_s, 'pa', 0, 'ps', 0)
end
if st == 'O' and now - since >= cooldown_ms then
  st, since, pa, ps = 'H', now, 0, 0
  redis.call('HSET', cbk, 'st', 'H', 'at', now_s, 'pa', 0, 'ps', 0)
end
if st == 'H' then
  if fail_started ~= nil and fail_started >= since then
    open()
  else
    local n = 0
    for x in string.gmatch(ARGV[9], '[^,]+') do
      if tonumber(x) >= since then n = n + 1 end
    end
    if n > 0 then
      ps = ps + n
      if ps >= successes_close then
        -- Closed with a clean window: the failures that opened it are history, not health.
        redis.call('DEL', cbk, key)
        st, since, pa = 'C', 0, 0
        for k in pairs(w) do w[k] = 0 end
      else
        redis.call('HSET', cbk, 'ps', ps)
      end
    end
  end
elseif st == 'C' then
  local function over(s, f) return s + f >= volume_min and f / (s + f) >= rate_open end
  if (fails_c and over(w.s, w.e + w.t)) or (fails_q and over(w.qs, w.qe + w.qt)) then open() end
end
return st .. '|' .. string.format('%.0f', since) .. '|' .. pa .. '|' .. w.s .. '|' .. w.e .. '|' .. w.t .. '|' .. w.d .. '|' .. w.ls .. '|' .. w.ln
`;
