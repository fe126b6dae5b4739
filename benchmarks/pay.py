"""Claim-then-pay against claims alone, over the wire, in one run; then claims while
hundreds of payments wait on a slow provider.

    .venv/bin/python -m benchmarks.pay [--duration 10] [--rounds 2] [--in-flight 200]
                                       [--part test|stripe|both]

A real `soldout serve` (Granian, one process, SQLite with group commit) on loopback, driven
by wrk (Debian package `wrk`) with a Lua script written from this file. Each round runs,
back to back, against the built-in `test` provider (its own SQLite ledger, in-process):
  (a) claims alone: many fans claim from launches too large to sell out, a unique
      `Idempotency-Key` per request: the baseline;
  (b) claim then pay: the same claims, and each granted claim is paid at once by its fan
      (`POST /api/v1/claims/{id}/payment` with `{"method": "test", "token": "tok_ok"}` and
      its own key; every fan set a shipping address beforehand). The figure is completed
      payments (orders) per second, so one pair counts once.
Prints (b)/(a), latency, and the CPU the server process used during each phase in cores
(utime + stime from /proc/PID/stat over the wall time; wrk's own share beside it). Before
each phase the server is let go idle: the e-mails of (b)'s orders, written by the outbox
after the answers, would otherwise be counted against the next phase ("busy after").

Then (`--part both`, the default) a second server takes payments through Stripe Checkout
(SOLDOUT_PAYMENTS=stripe, the official SDK) against the local fake of Stripe's API
(`tests/fakes/stripe_api.py`, in its own process), where a payment is a Checkout Session
and answers 202 with its page:
  (c) claims alone, as (a);
  (d) the same claims while another wrk keeps about `--in-flight` payments waiting on the
      fake, which answers after 0.3 s;
  (e) the control: a tenth as many payers, answered ten times sooner (0.03 s): as many
      payments per second as (d) while the server keeps up, a tenth as many waiting.
Each row gives the payments per second the fake answered and, by Little's law, how many
waited at a time. Claims lost per payment made, in (d) and (e) alike, is what a payment
costs the server's loop; more lost per payment in (d) is what the waiting itself costs
(nothing, if a payment that waits holds no resource of the server but memory).

wrk's script cannot tell which connection a response came back on, so the fan who made a
claim is read from the answer itself: fan i always claims SKU `S{i % 200}` of launch
`i // 200` (a product has at most 200 SKUs), and the answer echoes the launch and SKU.
The orders wrk counted are checked against the server's own stats at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import httpx

from benchmarks.claims_wrk import ADMIN, free_port, stop, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
SERVE = [sys.executable, "-m", "soldout", "serve"]
SKUS = 200  # soldout's most per product (domain.products.MAX_SKUS)
FANS = 1000  # five launches of 200 SKUs; each fan has its own (launch, SKU)
PER_FAN = 1000  # the most a launch allows; a fan claims far fewer in a run
CONNECTIONS = 128  # of the wrk that claims (and pays, in (b))
SHIPPING = {
    "name": "Ann de Vries",
    "line1": "Keizersgracht 1",
    "postal_code": "1015 CD",
    "city": "Amsterdam",
    "country": "NL",
    "phone": "020 123 4567",
}
TEST_PAY = '{"method":"test","token":"tok_ok"}'
STRIPE_PAY = '{"method":"card"}'
STRIPE_KEY = "sk_test_soldout_benchmark_fake_key_0123456789"
STRIPE_SECRET = "whsec_soldout_benchmark_fake_signing_secret"  # noqa: S105 (the fake's)
COMMIT_METRIC = "soldout_group_commit_fsync_seconds"
SLOW, FAST = 0.3, 0.03  # seconds the fake Stripe takes to answer, in (d) and (e)

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

FAKE_STRIPE = r"""
import sys
from tests.fakes.stripe_api import FakeStripe
fake = FakeStripe(sys.argv[1], sys.argv[2]).start()
print(fake.url, flush=True)
for line in sys.stdin:  # "latency SECONDS" or "calls", each answered on one line
    command, _, value = line.strip().partition(" ")
    if command == "latency":
        fake.latency = float(value)
    print(len(fake.calls), flush=True)
fake.stop()
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


class FakeStripe:
    """tests/fakes/stripe_api.py in its own process, told what to do over its stdin."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", FAKE_STRIPE, STRIPE_KEY, STRIPE_SECRET],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.url = self._answer()

    def _answer(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def _ask(self, line: str) -> int:
        stdin: IO[str] | None = self.process.stdin
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()
        return int(self._answer())

    def calls(self) -> int:
        return self._ask("calls")

    def answer_after(self, seconds: float) -> None:
        self._ask(f"latency {seconds}")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def with_payments_waiting(
    server: Server, fake: FakeStripe, latency: float, waiting: int, seconds: float
) -> Phase:
    """Claims measured while another wrk keeps about `waiting` payments at the fake, each
    answered after `latency`. The claims start once that many sessions were asked for."""
    fake.answer_after(latency)
    pid = server.process.pid
    start = fake.calls()
    payers = server.wrk(STRIPE_PAY, seconds + 60, waiting)  # stopped when the claims end
    deadline = time.monotonic() + 30
    while fake.calls() < start + waiting and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the fake's count: the pipeline of payments is full
    calls, cpu, others = (
        fake.calls(),
        cpu_seconds(pid),
        children_cpu() + cpu_seconds(fake.process.pid),
    )
    started = time.monotonic()
    measured = finish(server.wrk(None, seconds, CONNECTIONS), seconds)
    wall = time.monotonic() - started
    measured.provider_calls = fake.calls() - calls
    measured.server_cores = (cpu_seconds(pid) - cpu) / wall
    payers.send_signal(signal.SIGINT)  # wrk stops and prints its summary
    paying = finish(payers, 60)
    measured.pending, measured.refused = paying.pending, measured.refused + paying.refused
    measured.errors += paying.errors
    measured.other_cores = (children_cpu() + cpu_seconds(fake.process.pid) - others) / wall
    fake.answer_after(0)
    measured.after_s = settle(pid)
    return measured


async def setup(base: str) -> tuple[list[str], list[str]]:
    """Launches too large to sell out (no waiting room, no proof of work: `race: fast`) and
    `FANS` fans with a shipping address; returns the launch ids and one line per fan
    ("token launch_id sku") for the Lua script."""
    now = datetime.now(UTC)
    skus = [
        {"code": f"S{i}", "name": f"S{i}", "price": 19900, "currency": "EUR", "cost": 18000}
        for i in range(SKUS)
    ]
    auth = {"authorization": f"Bearer {ADMIN}"}
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=60, limits=limits) as http:
        made = await http.post("/api/v1/products", json={"name": "Bench", "skus": skus})
        made.raise_for_status()
        # a production plan for each SKU, as a real sale has: every order gets its ship date
        day = now.date().isoformat()
        plan = {"starts_on": day, "rates": [{"starts_on": day, "units_per_day": 500}]}
        for s in skus:
            product = made.json()["id"]
            planned = await http.put(f"/api/v1/products/{product}/skus/{s['code']}/plan", json=plan)
            planned.raise_for_status()
        launches = []
        for n in range(-(-FANS // SKUS)):
            body = {
                "product_id": made.json()["id"],
                "title": f"pay bench {n}",
                "sale_opens_at": (now - timedelta(seconds=1)).isoformat(),
                "per_fan_limit": PER_FAN,
                "payment_window_seconds": 86400,
                "batch": {s["code"]: 1_000_000 for s in skus},
                "race": "fast",
            }
            response = await http.post("/api/v1/launches", json=body)
            response.raise_for_status()
            launches.append(response.json()["id"])

        async def fan(i: int) -> str:
            r = await http.post(
                "/api/v1/fans", json={"email": f"p{i}@bench.test", "name": f"Fan {i}"}
            )
            r.raise_for_status()
            token: str = r.json()["token"]
            shipped = await http.put(
                "/api/v1/me/shipping", json=SHIPPING, headers={"authorization": f"Bearer {token}"}
            )
            shipped.raise_for_status()
            return f"{token} {launches[i // SKUS]} S{i % SKUS}"

        lines = await asyncio.gather(*(fan(i) for i in range(FANS)))
    return launches, list(lines)


def check_one_payment(server: Server, body: str, expected: int) -> None:
    """A claim and its payment through the API before anything is timed: the path works."""
    token, launch, sku = server.fans.read_text().split("\n", 1)[0].split()
    fan = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    with httpx.Client(base_url=server.base, headers=fan, timeout=30) as http:
        claim = http.post(
            f"/api/v1/launches/{launch}/claims",
            json={"sku": sku},
            headers={"idempotency-key": uuid.uuid4().hex},
        )
        assert claim.status_code == 201, claim.text
        paid = http.post(
            f"/api/v1/claims/{claim.json()['id']}/payment",
            content=body,
            headers={"idempotency-key": uuid.uuid4().hex},
        )
        assert paid.status_code == expected, paid.text


@contextlib.contextmanager
def serving(work: Path, extra: dict[str, str], port: int | None = None) -> Iterator[Server]:
    """`soldout serve` with its launches and fans made."""
    port = port or free_port()
    # wrk replays a few fans from one address: rate limits would measure themselves.
    env = {
        **os.environ,
        "SOLDOUT_ADMIN_TOKEN": ADMIN,
        "SOLDOUT_RATE_LIMIT_FAN": "0",
        "SOLDOUT_RATE_LIMIT_ADDRESS": "0",
        "SOLDOUT_SIGNUP_LIMIT": "0",  # every fan signs up from this one address
        **extra,
    }
    work.mkdir(parents=True)
    process = subprocess.Popen(
        [*SERVE, "--data", str(work / "data"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        wait_for_port(port, process)
        launches, lines = asyncio.run(setup(f"http://127.0.0.1:{port}"))
        server = Server(process, port, work / "pay.lua", work / "fans.txt", launches)
        server.fans.write_text("\n".join(lines) + "\n")
        server.script.write_text(LUA)
        yield server
    finally:
        stop(process)


def paid_units(server: Server) -> int:
    """Units paid across the benchmark's launches, from the server's stats."""
    paid = 0
    with httpx.Client(base_url=server.base, headers={"authorization": f"Bearer {ADMIN}"}) as admin:
        for launch in server.launches:
            for sku in admin.get(f"/api/v1/launches/{launch}/stats").json()["skus"].values():
                paid += sku["paid"]
    return paid


def test_provider(work: Path, seconds: float, rounds: int) -> None:
    with serving(work / "test", {"SOLDOUT_PAYMENTS": "test"}) as server:
        check_one_payment(server, TEST_PAY, 200)
        phase(server, TEST_PAY, 2)  # warm-up of both paths
        results = [
            (phase(server, None, seconds), phase(server, TEST_PAY, seconds)) for _ in range(rounds)
        ]
        counted = sum(b.paid for _, b in results)
        recorded = paid_units(server)
    print(
        f"\n== claim then pay vs claims alone: test provider ({CONNECTIONS} connections,"
        f" {seconds:.0f} s per phase) =="
    )
    print(
        f"{'phase':<24}{'claims/s':>10}{'paid/s':>9}{'ratio':>8}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'server cores':>14}{'wrk cores':>11}{'busy after s':>14}{'refused':>9}{'errors':>8}"
    )
    for a, b in results:
        for label, p, figure in (
            ("(a) claims alone", a, a.claims_per_s),
            ("(b) claim then pay", b, b.pays_per_s),
        ):
            print(
                f"{label:<24}{p.claims_per_s:>10.0f}{p.pays_per_s:>9.0f}"
                f"{figure / a.claims_per_s:>8.2f}{p.p50_ms:>9.2f}{p.p99_ms:>9.2f}"
                f"{p.server_cores:>14.2f}{p.other_cores:>11.2f}{p.after_s:>14.1f}"
                f"{p.refused:>9}{p.errors:>8}"
            )
    print(
        f"\n{'where the time went':<24}{'loop cores':>11}{'loop us':>9}{'commits/s':>11}"
        f"{'COMMIT ms':>11}{'in COMMIT':>11}"
    )
    for a, b in results:
        for label, p, units in (("(a) a claim", a, a.claimed), ("(b) an order", b, b.paid)):
            print(
                f"{label:<24}{p.loop_cores:>11.2f}{p.loop_cores * p.seconds / units * 1e6:>9.0f}"
                f"{p.commits / p.seconds:>11.0f}{p.commit_s / max(1, p.commits) * 1e3:>11.2f}"
                f"{p.commit_s / p.seconds:>11.0%}"
            )
    print(
        "loop us: the event loop's thread's CPU per claim (a) or per paid order, its claim"
        " included (b); while that thread is the limit, the ratio is at best (a) / (b)"
    )
    a_all = sum(a.claimed for a, _ in results) / sum(a.seconds for a, _ in results)
    b_all = sum(b.paid for _, b in results) / sum(b.seconds for _, b in results)
    print(
        f"claim-then-pay / claims alone, all rounds: {b_all:.0f} / {a_all:.0f}"
        f" = {b_all / a_all:.2f}"
    )
    print(
        f"orders: wrk counted {counted:,} in the timed phases; the server recorded"
        f" {recorded:,} paid units in all (with the warm-up and the check)"
    )


def stripe(work: Path, seconds: float, waiting: int) -> None:
    fake = FakeStripe()
    try:
        port = free_port()
        extra = {
            "SOLDOUT_PAYMENTS": "stripe",
            "SOLDOUT_STRIPE_SECRET_KEY": STRIPE_KEY,
            "SOLDOUT_STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
            "SOLDOUT_STRIPE_API_BASE": fake.url,
            "SOLDOUT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
        with serving(work / "stripe", extra, port) as server:
            check_one_payment(server, STRIPE_PAY, 202)
            phase(server, STRIPE_PAY, 2)  # warm-up of both paths
            alone = phase(server, None, seconds)
            slow = with_payments_waiting(server, fake, SLOW, waiting, seconds)
            fast = with_payments_waiting(server, fake, FAST, max(1, waiting // 10), seconds)
    finally:
        fake.close()
    print(
        f"\n== claims while payments wait on Stripe (the fake, its own process;"
        f" {CONNECTIONS} claiming connections, {seconds:.0f} s per phase) =="
    )
    print(
        f"{'phase':<44}{'claims/s':>10}{'ratio':>8}{'p50 ms':>9}{'p99 ms':>9}{'pays/s':>8}"
        f"{'waiting':>9}{'server cores':>14}{'wrk+fake':>10}{'refused':>9}{'errors':>8}"
    )
    rows = [
        ("(c) claims alone", alone, 0.0),
        (f"(d) ~{waiting} payments waiting {SLOW:.2f} s each", slow, SLOW),
        (f"(e) ~{max(1, waiting // 10)} payments waiting {FAST:.2f} s each", fast, FAST),
    ]
    for label, p, latency in rows:
        pays = p.provider_calls / p.seconds
        print(
            f"{label:<44}{p.claims_per_s:>10.0f}{p.claims_per_s / alone.claims_per_s:>8.2f}"
            f"{p.p50_ms:>9.2f}{p.p99_ms:>9.2f}{pays:>8.0f}{pays * latency:>9.0f}"
            f"{p.server_cores:>14.2f}{p.other_cores:>10.2f}{p.refused:>9}{p.errors:>8}"
        )
    print("waiting: payments at the fake at any moment (pays/s x its answer time, Little's law)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--rounds", type=int, default=2, help="(a) then (b), this many times")
    parser.add_argument("--in-flight", type=int, default=200, help="payments waiting in (d)")
    parser.add_argument(
        "--part", choices=["test", "stripe", "both"], default="both", help="(a)-(b), (c)-(e)"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="soldout-pay-bench-"))
    try:
        if args.part != "stripe":
            test_provider(work, args.duration, args.rounds)
        if args.part != "test":
            stripe(work, args.duration, args.in_flight)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
