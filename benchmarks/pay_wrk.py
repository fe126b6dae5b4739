"""Driving a `soldout serve` with wrk for `benchmarks.pay`: the Lua script (claims, and with
$PAY=1 each granted claim paid next by its fan), one timed phase, and what the server's
process, its event loop's thread and its group commits spent during it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.claims_wrk import ADMIN

CONNECTIONS = 128  # of the wrk that claims (and pays, in (b))
COMMIT_METRIC = "soldout_group_commit_fsync_seconds"

LUA = r"""
-- Claims from fans (file $FANS: "token launch_id sku" a line); with $PAY=1 each granted
-- claim is paid next by the fan who made it (found by the launch and SKU it echoes).
local fans_file = os.getenv("FANS")
local pay = os.getenv("PAY") == "1"
local pay_body = os.getenv("PAY_BODY")
local nonce = os.getenv("NONCE")  -- one per wrk run: keys never repeat across runs
local threads = {}
local count = 0

function setup(thread)
  thread:set("tid", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  fans = {}
  owner = {}
  for line in io.lines(fans_file) do
    local token, launch, sku = line:match("(%S+) (%S+) (%S+)")
    local auth = "Bearer " .. token
    fans[#fans + 1] = {auth, "/api/v1/launches/" .. launch .. "/claims", '{"sku":"' .. sku .. '"}'}
    owner[launch .. "/" .. sku] = auth
  end
  nfans = #fans
  n = 0
  offset = (tid * 7919) % nfans
  prefix = nonce .. "-" .. tid .. "-"
  headers = { ["Content-Type"] = "application/json" }
  queue, head, tail = {}, 1, 0
  claimed, paid, pending, refused = 0, 0, 0, 0
end

function request()
  n = n + 1
  headers["Idempotency-Key"] = prefix .. n
  if head <= tail then
    local item = queue[head]
    queue[head] = nil
    head = head + 1
    headers["Authorization"] = item[1]
    return wrk.format("POST", "/api/v1/claims/" .. item[2] .. "/payment", headers, pay_body)
  end
  local fan = fans[(n + offset) % nfans + 1]
  headers["Authorization"] = fan[1]
  return wrk.format("POST", fan[2], headers, fan[3])
end

function response(status, hdrs, body)
  if status == 201 then
    claimed = claimed + 1
    if pay then
      local id = body:match('"id"%s*:%s*"([^"]+)"')
      local launch = body:match('"launch_id"%s*:%s*"([^"]+)"')
      local sku = body:match('"sku"%s*:%s*"([^"]+)"')
      tail = tail + 1
      queue[tail] = {owner[launch .. "/" .. sku], id}
    end
  elseif status == 200 then
    paid = paid + 1
  elseif status == 202 then
    pending = pending + 1
  else
    refused = refused + 1
    if refused <= 3 then io.stderr:write(status .. " " .. body .. "\n") end
  end
end

function done(summary, latency, requests)
  local c, p, w, r = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("claimed")
    p = p + t:get("paid")
    w = w + t:get("pending")
    r = r + t:get("refused")
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"claimed":%d,"paid":%d,"pending":%d,' ..
    '"refused":%d,"p50_us":%d,"p99_us":%d,"errors":%d}\n',
    summary.requests, summary.duration, c, p, w, r,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Phase:
    seconds: float
    claimed: int
    paid: int
    pending: int
    refused: int
    errors: int
    p50_ms: float
    p99_ms: float
    server_cores: float = 0.0
    loop_cores: float = 0.0  # the event loop's own thread
    commits: int = 0  # group commits during the phase (the server's metrics)
    commit_s: float = 0.0  # time in their COMMITs
    other_cores: float = 0.0  # wrk (and the fake Stripe, with one)
    after_s: float = 0.0  # how long the server stayed busy once the phase ended
    provider_calls: int = 0  # answered by the fake Stripe during the phase

    @property
    def claims_per_s(self) -> float:
        return self.claimed / self.seconds

    @property
    def pays_per_s(self) -> float:
        return self.paid / self.seconds


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    script: Path  # the Lua script
    fans: Path  # its fans file
    launches: list[str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wrk(self, pay_body: str | None, seconds: float, connections: int) -> subprocess.Popen[str]:
        env = {**os.environ, "FANS": str(self.fans), "PAY": "1" if pay_body else "0"}
        return subprocess.Popen(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                str(self.script),
                self.base,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env | {"PAY_BODY": pay_body or "", "NONCE": uuid.uuid4().hex},
        )


def cpu_seconds(pid: int, stat: str = "") -> float:
    """User + system CPU of the process, every thread (Granian's included)."""
    fields = Path(stat or f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loop_cpu(pid: int) -> float:
    """User + system CPU of the process's main thread, where its event loop runs."""
    return cpu_seconds(pid, f"/proc/{pid}/task/{pid}/stat")


def commits(base: str) -> tuple[int, float]:
    """Group commits so far and the seconds spent in their COMMITs (`/metrics`)."""
    auth = {"authorization": f"Bearer {ADMIN}"}
    text = httpx.get(f"{base}/metrics", headers=auth, timeout=30).text
    figures = dict(
        line.split(" ", 1) for line in text.splitlines() if line.startswith(COMMIT_METRIC)
    )
    return int(float(figures[f"{COMMIT_METRIC}_count"])), float(figures[f"{COMMIT_METRIC}_sum"])


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def settle(pid: int, limit: float = 120.0) -> float:
    """Seconds until the server is idle (under 0.05 cores over half a second); gives up
    after `limit`."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before, at = cpu_seconds(pid), time.monotonic()
        time.sleep(0.5)  # a sampling window, not a wait for an event
        if (cpu_seconds(pid) - before) / (time.monotonic() - at) < 0.05:
            break
    return time.monotonic() - started


def finish(run: subprocess.Popen[str], seconds: float) -> Phase:
    out, err = run.communicate(timeout=seconds + 60)
    if run.returncode != 0:
        raise RuntimeError(f"wrk failed: {err}")
    if err.strip():
        print(f"  wrk: unexpected answers, e.g. {err.strip()[:300]}", file=sys.stderr)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    return Phase(
        seconds=data["duration_us"] / 1e6,
        claimed=data["claimed"],
        paid=data["paid"],
        pending=data["pending"],
        refused=data["refused"],
        errors=data["errors"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


def phase(server: Server, pay_body: str | None, seconds: float) -> Phase:
    """One wrk run; the server's and the other processes' CPU over it."""
    pid = server.process.pid
    count, spent = commits(server.base)
    cpu, loop, others = cpu_seconds(pid), loop_cpu(pid), children_cpu()
    started = time.monotonic()
    measured = finish(server.wrk(pay_body, seconds, CONNECTIONS), seconds)
    wall = time.monotonic() - started
    measured.server_cores = (cpu_seconds(pid) - cpu) / wall
    measured.loop_cores = (loop_cpu(pid) - loop) / wall
    now_count, now_spent = commits(server.base)
    measured.commits, measured.commit_s = now_count - count, now_spent - spent
    measured.other_cores = (children_cpu() - others) / wall
    measured.after_s = settle(pid)
    return measured
