"""The eleven keys every script of `redis_scripts` gets, in order, and the Lua every one of
them starts with: the keys by name, the stock pools of a SKU, the launch's state and its
phase (`LaunchBook._phase_refusal`).

The stored values:

    state    hash  ready published cancelled paused draw reservation: "1" or "0";
                   opens, closes (microseconds, "" for none); limit; skus (a JSON list,
                   the launch's SKUs in order: `set_aside` breaks ties by it); log (the
                   key log's generation, set by `INIT`)
    stock    hash  b:<sku> batch, s:<sku> set aside, h:<sku> held, p:<sku> paid
                   (available = b - s - h - p, never stored)
    fans     hash  fan -> units held or paid (a fan with none has no field)
    reserved set   fans with a reservation
    replay   hash  "<bytes of fan>:<fan><key>" -> the claim id first made with it
    claims   hash  claim id -> JSON {s: held|paid|expired|cancelled, f: fan, k: sku,
                   q: quantity, c: code or "", r: its replay field}
    codes    hash  code -> JSON {sku, any: 1|0, exp: microseconds or "", by: claim id
                   or "" (unspent), gone: 1 once its unit went back on sale at expiry}
    pending  zset  claim id -> the time (microseconds) by which its record must be
                   written: taken, not yet confirmed (`redis_pending`)
    made     stream  each confirmed claim, whole (`redis_pending.CONFIRM`)
    rate     hash  fan -> when the fan's token bucket is full again (microseconds): the
                   claim rate per fan shared by every worker (`TAKE`; the GCRA form of
                   `services.ratelimit.TokenBuckets`); the hash expires once every
                   bucket in it would be full
    keylog string  16 hex digits of each replay field's SHA-1, in the order written:
                   what workers copy to answer a kept refusal without Redis (`key_log`)
"""

from __future__ import annotations

__all__ = ["KEYS"]

KEYS = (
    "state",
    "stock",
    "fans",
    "reserved",
    "replay",
    "claims",
    "codes",
    "pending",
    "made",
    "rate",
    "keylog",
)

_PRELUDE = """
local STATE, STOCK, FANS, RESERVED, REPLAY, CLAIMS, CODES, PENDING, MADE, RATE =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local KEYLOG = KEYS[11]

local function int(v)
  if v then return tonumber(v) end
  return 0
end

-- batch, set aside, held, paid of a SKU; nil if the launch does not sell it
local function pools(sku)
  local v = redis.call('HMGET', STOCK, 'b:' .. sku, 's:' .. sku, 'h:' .. sku, 'p:' .. sku)
  if not v[1] then return nil end
  return tonumber(v[1]), int(v[2]), int(v[3]), int(v[4])
end

local function available(sku)
  local b, s, h, p = pools(sku)
  if b == nil then return nil end
  return b - s - h - p
end

local function add(sku, pool, n)
  redis.call('HINCRBY', STOCK, pool .. ':' .. sku, n)
end

local function add_fan(fan, n)
  if redis.call('HINCRBY', FANS, fan, n) == 0 then redis.call('HDEL', FANS, fan) end
end

local FIELDS = {'ready', 'published', 'cancelled', 'opens', 'closes', 'paused', 'draw',
                'reservation', 'limit', 'log'}

-- a new field of the replay index, in the launch's key log (`key_log`) when it keeps one
local function logged(log, rfield)
  if log then redis.call('APPEND', KEYLOG, string.sub(redis.sha1hex(rfield), 1, 16)) end
end

-- the launch's state, or nil if it is not (fully) loaded
local function launch()
  local v = redis.call('HMGET', STATE, unpack(FIELDS))
  if v[1] ~= '1' then return nil end
  local st = {}
  for i, f in ipairs(FIELDS) do st[f] = v[i] end
  return st
end

-- Launch.phase + LaunchBook._phase_refusal: nil while on sale and not paused
local function phase_refusal(st, now)
  if st.cancelled == '1' then return 'closed' end
  if st.published ~= '1' then return 'not_open' end
  if st.closes ~= '' and now >= tonumber(st.closes) then return 'closed' end
  if now >= tonumber(st.opens) then
    if st.paused == '1' then return 'paused' end
    return nil
  end
  return 'not_open'
end
"""
