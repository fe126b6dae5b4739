-- wrk script for the launch day (benchmarks/scaleout.py): each wrk thread has ONE
-- connection (run with -t N -c N) and walks its own slice of the fans' presses, in order,
-- from $LAUNCH_DIR/req-<thread>.txt (lines "seq token idempotency-key"). One connection per
-- thread means request() and response() alternate, so every answer is known to belong to
-- the press just sent (wrk does not say which connection answered). For each press the
-- thread notes "seq status sent_us answered_us what" (microseconds after $BASE_US; what: the
-- claim id of a 200/201, the error code otherwise) and writes them to
-- $LAUNCH_DIR/out-<thread>.txt once its slice is done, with a last line "lost N": presses
-- sent again after a broken connection. wrk's main thread sleeps for -d whatever its
-- threads do: the driver interrupts it once every thread has written.
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } soldout_timespec;
int clock_gettime(int clock, soldout_timespec *tp);
]])
local ts = ffi.new("soldout_timespec")
local base_us = tonumber(os.getenv("BASE_US") or "0") -- the driver's clock at the start
local function now_us() -- wall clock (CLOCK_REALTIME), microseconds after base_us
  ffi.C.clock_gettime(0, ts)
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000) - base_us
end

local dir = os.getenv("LAUNCH_DIR")
local claim_path = os.getenv("CLAIM_PATH") or "/"
local body = '{"sku":"A"}'
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
end

function init(args)
  seqs, auths, keys = {}, {}, {}
  for line in io.lines(dir .. "/req-" .. tid .. ".txt") do
    local s, token, key = line:match("^(%d+) (%S+) (%S+)$")
    seqs[#seqs + 1] = s
    auths[#auths + 1] = "Bearer " .. token
    keys[#keys + 1] = key
  end
  total = #seqs
  sent_i = 0 -- the presses sent so far
  pending = nil -- the press waiting for its answer
  sent_at = 0
  out = {}
  finished = false
  answers = 0
  lost = 0 -- presses sent again after a broken connection
  headers = { ["Content-Type"] = "application/json" }
end

local function finish()
  if finished then return end
  finished = true
  local name = dir .. "/out-" .. tid .. ".txt"
  local f = io.open(name .. ".part", "w")
  out[#out + 1] = "lost " .. lost
  f:write(table.concat(out, "\n"), "\n")
  f:close()
  os.rename(name .. ".part", name)
  wrk.thread:stop()
end

local function note(status, what)
  out[#out + 1] = string.format("%s %d %.0f %.0f %s", seqs[pending], status, sent_at, now_us(), what)
  pending = nil
end

function request()
  if pending then
    -- Asked again before an answer: wrk's check of the script (it calls thread 0's
    -- request() once, and never sends it), or wrk reconnected after a broken connection.
    -- Either way the same press goes again, with its key, as a fan's retry would.
    if not (tid == 0 and answers == 0 and sent_i == 1) then lost = lost + 1 end
    sent_at = now_us()
    return wrk.format("POST", claim_path, headers, body)
  end
  if sent_i >= total then
    finish()
    return wrk.format("GET", "/healthz") -- (sent at most once: its answer is ignored)
  end
  sent_i = sent_i + 1
  pending = sent_i
  headers["Authorization"] = auths[sent_i]
  headers["Idempotency-Key"] = keys[sent_i]
  sent_at = now_us()
  return wrk.format("POST", claim_path, headers, body)
end

function response(status, headers, body)
  if pending == nil then return end
  local what
  if status == 200 or status == 201 then
    what = body:match('"id":"([^"]+)"') or "?"
  else
    what = body:match('"code":"([^"]+)"') or "?"
  end
  note(status, what)
  answers = answers + 1
  if sent_i >= total then finish() end
end
