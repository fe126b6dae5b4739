"""The ten keys every script of `redis_scripts` gets, in order, and the Lua every one of
them starts with: the keys by name, the stock pools of a SKU, the launch's state and its
phase (`LaunchBook._phase_refusal`).
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
)

_PRELUDE = """
local STATE, STOCK, FANS, RESERVED, REPLAY, CLAIMS, CODES, PENDING, MADE, RATE =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]

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
                'reservation', 'limit'}

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
