-- wrk script for the claim hot path: POST with a fan's bearer token and a unique
-- Idempotency-Key per request (the run's nonce from $NONCE, thread id, counter). Tokens
-- come from the file named by $TOKENS (one per line); the path from $CLAIM_PATH. Prints one line
-- `RESULT {json}` with exact latency percentiles in microseconds.
local tokens_file = os.getenv("TOKENS")
local claim_path = os.getenv("CLAIM_PATH") or "/"
local body = os.getenv("CLAIM_BODY") or '{"sku":"A"}'
local thread_count = 0
math.randomseed(os.time())
-- Every thread runs this chunk in its own Lua state: a nonce made here from the time would
-- be the same for two runs started in the same second, so the driver passes one.
local nonce = os.getenv("NONCE") or (tostring(os.time()) .. tostring(math.random(100000, 999999)))

function setup(thread)
  thread:set("tid", thread_count)
  thread:set("nonce", nonce)
  thread_count = thread_count + 1
end

function init(args)
  tokens = {}
  if tokens_file then
    for line in io.lines(tokens_file) do tokens[#tokens + 1] = "Bearer " .. line end
  else
    tokens[1] = "Bearer none"
  end
  ntok = #tokens
  n = 0
  offset = (tid * 7919) % ntok
  prefix = nonce .. "-" .. tid .. "-"
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  n = n + 1
  headers["Authorization"] = tokens[(n + offset) % ntok + 1]
  headers["Idempotency-Key"] = prefix .. n
  return wrk.format("POST", claim_path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors":%d,"non2xx":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, e.status))
end
