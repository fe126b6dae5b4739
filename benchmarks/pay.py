"""Claim-then-pay against claims alone, over the wire, in one run; then claims while
hundreds of payments wait on a slow provider.

    .venv/bin/python -m benchmarks.pay [--duration 10] [--rounds 2] [--in-flight 200]
                                       [--part test|stripe|both]

A real `soldout serve` (Granian, one process, SQLite with group commit) on loopback, driven
by wrk (Debian package `wrk`) with a Lua script (`benchmarks/pay_wrk.py`). Each round runs,
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
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from benchmarks.claims_wrk import free_port
from benchmarks.pay_shop import check_one_payment, paid_units, serving
from benchmarks.pay_wrk import (
    CONNECTIONS,
    Phase,
    Server,
    children_cpu,
    cpu_seconds,
    finish,
    phase,
    settle,
)

ROOT = Path(__file__).resolve().parent.parent
TEST_PAY = '{"method":"test","token":"tok_ok"}'
STRIPE_PAY = '{"method":"card"}'
STRIPE_KEY = "sk_test_soldout_benchmark_fake_key_0123456789"
STRIPE_SECRET = "whsec_soldout_benchmark_fake_signing_secret"  # noqa: S105 (the fake's)

SLOW, FAST = 0.3, 0.03  # seconds the fake Stripe takes to answer, in (d) and (e)

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
