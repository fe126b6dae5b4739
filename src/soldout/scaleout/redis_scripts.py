"""The Lua scripts of `redis_allocator`: each runs atomically inside Redis over one launch's keys.

Every script gets the same eleven keys, all tagged with the launch's id (`KEYS` below, in
this order), so that every call names all the keys it may touch (as Redis Cluster wants)
and all of them hash to one slot. Times are whole microseconds since the epoch, passed by
the caller (a double holds them exactly until the year 2255).

A script checks everything before it writes anything: Redis does not roll a script back,
so a refusal must leave no trace, and a claim that passes every check is written whole.

What each key holds is spelled out with `KEYS` in `redis_prelude`.
"""

from __future__ import annotations

from soldout.scaleout.redis_prelude import _PRELUDE, KEYS

__all__ = [
    "CODES",
    "INIT",
    "KEYS",
    "MOVE",
    "RESTORE_CLAIMS",
    "SET_ASIDE",
    "TAKE",
    "UPDATE",
]

# ARGV: now, pending deadline ("" for none: the claim is confirmed as it is taken), n, then
# n times: fan, sku, quantity, key, replay field, claim id, code ("" for
# none), drawn ("1"/"0"), the client's address ("" for none); then, optional, the fans'
# rate limit: the interval between two tokens and the burst's span (burst x interval), in
# microseconds (absent or 0: none), and the client addresses' the same way.
# One reply per claim, in order: {"ok", id} | {"replay", id} | {"err", why, details...}
# (a rate-limited claim: {"err", "rate_limited", microseconds to wait}). A micro-batch is
# decided claim after claim, as if sent apart.
TAKE = (
    _PRELUDE
    + """
local n = tonumber(ARGV[3])
local interval = tonumber(ARGV[4 + n * 9]) or 0
local span = tonumber(ARGV[5 + n * 9]) or 0
local a_interval = tonumber(ARGV[6 + n * 9]) or 0
local a_span = tonumber(ARGV[7 + n * 9]) or 0

-- Gate.limit (TokenBuckets.take): the fan's bucket, then the client address's ('@' and
-- the address: no fan id starts so), before anything else
local function limited(who, now, every, burst)
  local full = tonumber(redis.call('HGET', RATE, who)) or now
  if full < now then full = now end
  local after = full + every
  local wait = after - now - burst
  if wait > 0 then return wait end
  redis.call('HSET', RATE, who, after)
  redis.call('PEXPIRE', RATE, math.floor(math.max(span, a_span) / 1000) + 1)
  return nil
end

local function take(st, now, fan, sku, qty, key, rfield, id, code, drawn, addr)
  if interval > 0 then
    local wait = limited(fan, now, interval, span)
    if wait then return {'err', 'rate_limited', wait} end
  end
  if a_interval > 0 and addr ~= '' then
    local wait = limited('@' .. addr, now, a_interval, a_span)
    if wait then return {'err', 'rate_limited', wait} end
  end
  -- Engine.claim: a retry under the same key gets the first claim, before any refusal
  local first = redis.call('HGET', REPLAY, rfield)
  if first then
    local c = cjson.decode(redis.call('HGET', CLAIMS, first))
    if c.k ~= sku or c.q ~= qty or c.c ~= code then return {'err', 'reused'} end
    return {'replay', first}
  end
  if not st then return {'err', 'not_loaded'} end
  if redis.call('HEXISTS', CLAIMS, id) == 1 then return {'err', 'duplicate_claim'} end
  local draw = st.draw == '1'
  -- LaunchBook.refusal, asked first for a claim without a code
  if code == '' and not drawn then
    local why = phase_refusal(st, now)
    if why then return {'err', why} end
    if available(sku) == 0 and not draw then return {'err', 'sold_out'} end
  end
  -- LaunchBook.code_for
  local cd
  if code ~= '' then
    local raw = redis.call('HGET', CODES, code)
    if not raw then return {'err', 'invalid_code'} end
    cd = cjson.decode(raw)
    if cd.by ~= '' then return {'err', 'code_spent'} end
    if cd.exp ~= '' and now >= tonumber(cd.exp) then return {'err', 'code_expired'} end
    if cd.sku ~= sku and cd.any ~= 1 then return {'err', 'code_sku', cd.sku} end
    if available(sku) == nil then return {'err', 'unknown_sku'} end
    if qty ~= 1 then return {'err', 'code_quantity'} end
    if cd.sku ~= sku and draw then return {'err', 'draw_code', cd.sku} end
  end
  -- LaunchBook.decide
  local why = phase_refusal(st, now)
  if why then return {'err', why} end
  local b, s, h, p = pools(sku)
  if b == nil then return {'err', 'unknown_sku'} end
  local a = b - s - h - p
  local limit = tonumber(st.limit)
  if qty > limit then return {'err', 'over_limit', limit} end
  if code == '' and not drawn then
    if draw then return {'err', 'draw_only'} end
    if a == 0 then return {'err', 'sold_out'} end
    if st.reservation == '1' and redis.call('SISMEMBER', RESERVED, fan) == 0 then
      return {'err', 'reservation_required'}
    end
  end
  local held = int(redis.call('HGET', FANS, fan))
  if held + qty > limit then return {'err', 'limit_reached', held, limit} end
  if cd and cd.sku ~= sku then
    -- an any-SKU code used for another SKU: an open unit of it, and the code's unit
    -- goes back to the open pool; the code now stands for the unit it took
    if qty <= 0 or qty > a then return {'err', 'sold_out_code', cd.sku} end
    add(sku, 'h', qty)
    add(cd.sku, 's', -1)
    cd.sku = sku
  elseif cd then
    if s <= 0 then return {'err', 'broken', 'a live priority code without a set-aside unit'} end
    add(sku, 's', -1)
    add(sku, 'h', 1)
  else
    if qty <= 0 or qty > a then return {'err', 'insufficient_stock', a} end
    add(sku, 'h', qty)
  end
  redis.call('HINCRBY', FANS, fan, qty)
  if cd then
    cd.by = id
    redis.call('HSET', CODES, code, cjson.encode(cd))
  end
  redis.call('HSET', CLAIMS, id,
    cjson.encode({s = 'held', f = fan, k = sku, q = qty, c = code, r = rfield}))
  redis.call('HSET', REPLAY, rfield, id)
  logged(st.log, rfield)
  if ARGV[2] ~= '' then redis.call('ZADD', PENDING, ARGV[2], id) end
  return {'ok', id}
end

local now = tonumber(ARGV[1])
local st = launch()
local out = {}
for i = 0, n - 1 do
  local a = 3 + i * 9
  out[i + 1] = take(st, now, ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3]), ARGV[a + 4],
                    ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8] == '1', ARGV[a + 9])
end
return out
"""
)

# ARGV: op, claim id[, the state a release ends in]. A claim moves only from the state its
# move starts from, so each move happens once however often it is asked for.
# Reply: {"ok", state before} | {"no", its state} | {"unknown"} | {"broken", why}.
MOVE = (
    _PRELUDE
    + """
local op, id = ARGV[1], ARGV[2]
local raw = redis.call('HGET', CLAIMS, id)
if not raw then return {'unknown'} end
local c = cjson.decode(raw)
local before = c.s
local function save(state)
  c.s = state
  redis.call('HSET', CLAIMS, id, cjson.encode(c))
end
local FROM = {release = 'held', settle = 'held', unsettle = 'paid', unsell = 'paid',
              untake = 'held'}
if op == 'untake' then
  redis.call('ZREM', PENDING, id)  -- its record is not awaited any more
  if redis.call('HGET', REPLAY, c.r) == id then
    redis.call('HDEL', REPLAY, c.r)  -- the claim never happened: a retry is decided afresh
  end
end
if FROM[op] == nil then return {'broken', 'no such move: ' .. op} end
if before ~= FROM[op] then return {'no', before} end
local b, s, h, p = pools(c.k)
if FROM[op] == 'held' and h < c.q then return {'broken', 'fewer units held than claimed'} end
if FROM[op] == 'paid' and p < c.q then return {'broken', 'fewer units paid than claimed'} end
if op == 'release' then         -- expired or cancelled: units open, allowance back
  add(c.k, 'h', -c.q)
  add_fan(c.f, -c.q)
  save(ARGV[3])
elseif op == 'settle' then      -- paid: units sold
  add(c.k, 'h', -c.q)
  add(c.k, 'p', c.q)
  save('paid')
elseif op == 'unsettle' then    -- the payment was not recorded: held again
  add(c.k, 'p', -c.q)
  add(c.k, 'h', c.q)
  save('held')
elseif op == 'unsell' then      -- refunded before shipping: units open, allowance back
  add(c.k, 'p', -c.q)
  add_fan(c.f, -c.q)
  save('cancelled')
else                            -- untake: the claim's write failed, reverse its take
  if c.c ~= '' then             -- its unit is set aside for its code again
    add(c.k, 'h', -1)
    add(c.k, 's', 1)
    local cd = cjson.decode(redis.call('HGET', CODES, c.c))
    cd.by = ''
    redis.call('HSET', CODES, c.c, cjson.encode(cd))
  else
    add(c.k, 'h', -c.q)
  end
  add_fan(c.f, -c.q)
  redis.call('HDEL', CLAIMS, id)
end
return {'ok', before}
"""
)

# ARGV: sku ("" for the SKU with the most units open, unit after unit), count.
# Reply: {"ok", sku...} | {"err", why, details...}.
SET_ASIDE = (
    _PRELUDE
    + """
if not launch() then return {'err', 'not_loaded'} end
local sku, count = ARGV[1], tonumber(ARGV[2])
local list
if sku ~= '' then
  if available(sku) == nil then return {'err', 'unknown_sku'} end
  list = {sku}
else
  list = cjson.decode(redis.call('HGET', STATE, 'skus'))
end
local open, av = 0, {}
for i, k in ipairs(list) do
  av[i] = available(k)
  open = open + av[i]
end
if count > open then return {'err', 'aside_short', open} end
local out = {'ok'}
for n = 1, count do
  local best = 1  -- the first of the SKUs with the most open, as Python's max() picks
  for i = 2, #list do
    if av[i] > av[best] then best = i end
  end
  av[best] = av[best] - 1
  add(list[best], 's', 1)
  out[#out + 1] = list[best]
end
return out
"""
)

# ARGV: op, now, n, then n times: code, sku, any ("1"/"0"), expiry ("" for none), redeemed by
# ("" for none). op "add": codes whose units `SET_ASIDE` set aside; "restore": codes read
# back from the record (a live one sets its unit aside, an unspent expired one is gone);
# "withdraw": codes never issued (their units open again); "expire": one code reached its
# expiry (its unit goes back on sale once). Reply: {"ok", sku...} (expire: the SKU whose
# unit went back, if one did).
CODES = (
    _PRELUDE
    + """
local op, now, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local function expired(cd)
  return cd.by == '' and cd.exp ~= '' and now >= tonumber(cd.exp)
end
local out = {'ok'}
for i = 0, n - 1 do
  local a = 3 + i * 5
  local code = ARGV[a + 1]
  if op == 'add' or op == 'restore' then
    local cd = {sku = ARGV[a + 2], any = tonumber(ARGV[a + 3]), exp = ARGV[a + 4],
                by = ARGV[a + 5], gone = 0}
    if op == 'restore' then
      if cd.by == '' and not expired(cd) then
        add(cd.sku, 's', 1)
      elseif cd.by == '' then
        cd.gone = 1
      end
    end
    redis.call('HSET', CODES, code, cjson.encode(cd))
  else
    local raw = redis.call('HGET', CODES, code)
    if raw then
      local cd = cjson.decode(raw)
      if op == 'withdraw' then
        add(cd.sku, 's', -1)
        redis.call('HDEL', CODES, code)
      elseif op == 'expire' and expired(cd) and cd.gone ~= 1 then
        cd.gone = 1
        add(cd.sku, 's', -1)
        redis.call('HSET', CODES, code, cjson.encode(cd))
        out[#out + 1] = cd.sku
      end
    end
  end
end
return out
"""
)

# ARGV: n, then n times: claim id, fan, sku, quantity, replay field, code ("" for none),
# state. Claims read back from the record (LaunchBook.restore); one already here is passed
# over, so a chunk can be sent again. The first claim made with a key keeps it.
RESTORE_CLAIMS = (
    _PRELUDE
    + """
local restored = 0
local log = redis.call('HGET', STATE, 'log')
for i = 0, tonumber(ARGV[1]) - 1 do
  local a = 1 + i * 7
  local id, fan, sku, qty = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
  local rfield, code, state = ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
  if redis.call('HEXISTS', CLAIMS, id) == 0 then
    if state == 'held' or state == 'paid' then
      add(sku, state == 'held' and 'h' or 'p', qty)
      redis.call('HINCRBY', FANS, fan, qty)
    end
    if redis.call('HSETNX', REPLAY, rfield, id) == 1 then logged(log, rfield) end
    redis.call('HSET', CLAIMS, id,
      cjson.encode({s = state, f = fan, k = sku, q = qty, c = code, r = rfield}))
    restored = restored + 1
  end
end
return restored
"""
)

# ARGV: replace ("1": wipe the launch's keys first), nf, nf field/value pairs of the state,
# ns, ns sku/batch pairs, then the reserved fans. Writes the launch with ready = "0" (takes
# are refused as not loaded until `UPDATE` sets it). Reply: 1, or 0 if the launch was
# already there and not to be replaced.
INIT = (
    _PRELUDE
    + """
if redis.call('EXISTS', STATE) == 1 and ARGV[1] ~= '1' then return 0 end
-- whatever is left of the launch goes (a state lost alone must not leave claims behind
-- that the new counts ignore), and a new key log starts, named by the state's `log`
redis.call('DEL', STATE, STOCK, FANS, RESERVED, REPLAY, CLAIMS, CODES, PENDING, KEYLOG)
local nf = tonumber(ARGV[2])
for i = 0, nf - 1 do
  redis.call('HSET', STATE, ARGV[3 + 2 * i], ARGV[4 + 2 * i])
end
local a = 3 + 2 * nf
local ns = tonumber(ARGV[a])
local skus = {}
for i = 0, ns - 1 do
  local sku = ARGV[a + 1 + 2 * i]
  skus[#skus + 1] = sku
  redis.call('HSET', STOCK, 'b:' .. sku, ARGV[a + 2 + 2 * i], 's:' .. sku, 0, 'h:' .. sku, 0,
             'p:' .. sku, 0)
end
redis.call('HSET', STATE, 'skus', cjson.encode(skus), 'ready', '0')
for i = a + 1 + 2 * ns, #ARGV do
  redis.call('SADD', RESERVED, ARGV[i])
end
return 1
"""
)

# ARGV: nf, nf field/value pairs of the state, ns, ns sku/batch pairs. A batch only grows
# (SkuStock.grow); a new SKU joins at the end. Reply: 1, or 0 if the launch is not here.
UPDATE = (
    _PRELUDE
    + """
if redis.call('EXISTS', STATE) == 0 then return 0 end
local nf = tonumber(ARGV[1])
for i = 0, nf - 1 do
  redis.call('HSET', STATE, ARGV[2 + 2 * i], ARGV[3 + 2 * i])
end
local a = 2 + 2 * nf
local ns = tonumber(ARGV[a])
local skus = cjson.decode(redis.call('HGET', STATE, 'skus'))
for i = 0, ns - 1 do
  local sku, batch = ARGV[a + 1 + 2 * i], tonumber(ARGV[a + 2 + 2 * i])
  local b = pools(sku)
  if b == nil then
    skus[#skus + 1] = sku
    redis.call('HSET', STOCK, 'b:' .. sku, batch, 's:' .. sku, 0, 'h:' .. sku, 0,
               'p:' .. sku, 0)
  elseif batch >= b then
    redis.call('HSET', STOCK, 'b:' .. sku, batch)
  end
end
if ns > 0 then redis.call('HSET', STATE, 'skus', cjson.encode(skus)) end
return 1
"""
)
