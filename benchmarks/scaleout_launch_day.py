"""The scale-out benchmark's launch day (`benchmarks/scaleout.py --launch-day`): a launch of
`--units` units opens to `--fans` fans pressing buy (one in ten five times, with the same
Idempotency-Key) through wrk (`benchmarks/scaleout.lua`, one connection per thread), against
the embedded process and against 2 workers; every answer is then checked against the store,
and the phases' times, latencies and CPU per part are printed. What it measures and how to
read it: `benchmarks/scaleout.py`'s docstring.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from benchmarks.claims_wrk import ADMIN
from benchmarks.scaleout_servers import (
    CORES,
    Soldout,
    backends,
    machine_busy,
    own_cpu,
    soldout,
    tree_cpu,
    wait_quiet,
)
from soldout.services.tokens import TokenSigner

HERE = Path(__file__).resolve().parent
REPEAT_OFFSETS = (0.5, 64.5, 1000.5, 10000.5)  # a repeater's 4 more presses, in presses later


def create_launch(base: str, units: int) -> str:
    now = datetime.now(UTC)
    skus = [{"code": "A", "name": "A", "price": 4900, "currency": "EUR", "cost": 1000}]
    with httpx.Client(base_url=base, timeout=30, trust_env=False) as admin:
        admin.headers["authorization"] = f"Bearer {ADMIN}"
        product = admin.post("/api/v1/products", json={"name": "Drop", "skus": skus})
        product.raise_for_status()
        body = {
            "product_id": product.json()["id"],
            "title": "launch day",
            "sale_opens_at": (now - timedelta(seconds=1)).isoformat(),
            "per_fan_limit": 1,
            "payment_window_seconds": 86400,  # nothing expires during the run
            "batch": {"A": units},
            "race": "fast",  # no waiting room, no proof of work: the claim path itself
        }
        made = admin.post("/api/v1/launches", json=body)
        made.raise_for_status()
        launch_id: str = made.json()["id"]
        return launch_id


def fan_id(i: int) -> str:
    return f"fan_bench{i + 1:06d}"


@dataclass
class Press:
    fan: int
    press: int  # 0: the first


def presses(fans: int) -> list[Press]:
    """Every fan presses once, in order; one in ten presses four more times with the same
    key: once at the same moment (a double-click: the next press, on another connection)
    and three retries later."""
    events: list[tuple[float, int, int]] = [(float(i), i, 0) for i in range(fans)]
    for i in range(9, fans, 10):
        events += [(i + off, i, n + 1) for n, off in enumerate(REPEAT_OFFSETS)]
    events.sort()
    return [Press(fan, n) for _, fan, n in events]


@dataclass
class Answer:
    status: int
    sent: float  # seconds (wall clock)
    answered: float
    what: str  # claim id, error code, or "lost"


def run_launch_day(
    server: Soldout, units: int, fans: int, connections: int, work: Path
) -> dict[str, Any]:
    t0 = time.monotonic()
    launch_id = create_launch(server.base, units)
    signer = TokenSigner(server.store.secret(), ADMIN)
    tokens = [signer.fan_token(fan_id(i)) for i in range(fans)]
    nonce = uuid.uuid4().hex[:12]
    order = presses(fans)
    folder = work / f"launch-{server.name}"
    folder.mkdir()
    files = [(folder / f"req-{t}.txt").open("w") for t in range(connections)]
    for seq, p in enumerate(order):  # thread t: every connections-th press, in order
        files[seq % connections].write(f"{seq} {tokens[p.fan]} {nonce}-{p.fan}\n")
    for f in files:
        f.close()
    prepared = time.monotonic() - t0
    env = {
        **os.environ,
        "LAUNCH_DIR": str(folder),
        "CLAIM_PATH": f"/api/v1/launches/{launch_id}/claims",
    }
    base_us = int(time.time() * 1e6)  # the Lua script's times count from it
    env["BASE_US"] = str(base_us)
    args = ["wrk", f"-t{connections}", f"-c{connections}", "-d3600s", "--timeout", "60s"]
    args += ["-s", str(HERE / "scaleout.lua"), server.base]
    wait_quiet(server)
    samples: list[Sample] = []
    with (folder / "wrk.out").open("wb") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            samples.append(sample(server, process.pid))
            while len(list(folder.glob("out-*.txt"))) < connections:
                if process.poll() is not None:
                    raise RuntimeError(f"wrk exited early:\n{(folder / 'wrk.out').read_text()}")
                time.sleep(0.2)  # polling wrk's threads' result files
                samples.append(sample(server, process.pid))  # (and the CPU counters)
            process.send_signal(signal.SIGINT)  # its main thread sleeps for -d: wake it
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    took = samples[-1].at - samples[0].at
    answers: dict[int, Answer] = {}
    resent = 0
    for out_file in folder.glob("out-*.txt"):
        for line in out_file.read_text().splitlines():
            if line.startswith("lost "):
                resent += int(line.removeprefix("lost "))
                continue
            seq, status, sent, answered, what = line.split(" ", 4)
            answers[int(seq)] = Answer(
                int(status), (base_us + int(sent)) / 1e6, (base_us + int(answered)) / 1e6, what
            )
    result = check_launch_day(server, launch_id, units, order, answers)
    result.update(
        prepared=prepared,
        resent=resent,
        took=took,
        wrk_out=(folder / "wrk.out").read_text(errors="replace"),
    )
    opening, last_unit = result["opening"], result["last_unit"]
    first, last = samples[0].at, samples[-1].at
    result["phases"] = {
        "whole run": phase(samples, first, last, answers),
        "selling": phase(samples, opening, last_unit, answers),
        "sold out": phase(samples, last_unit, last, answers),
    }
    if server.back is not None:
        with server.back.redis_client() as client:
            stock = client.hgetall(f"soldout:{{{launch_id}}}:stock")
        result["redis_stock"] = {k.decode(): int(v) for k, v in stock.items()}
    return result


@dataclass
class Sample:
    at: float  # time.time(), as the Lua script's clock
    cpu: dict[str, float]  # part: CPU seconds so far (wrk's and the driver's included)
    busy: float  # the machine's


def sample(server: Soldout, wrk_pid: int) -> Sample:
    cpu = server.cpu()
    cpu["wrk"] = tree_cpu(wrk_pid)
    cpu["driver"] = own_cpu()
    return Sample(time.time(), cpu, machine_busy())


def phase(samples: list[Sample], start: float, end: float, answers: dict[int, Answer]) -> Phase:
    """What each part spent between `start` and `end` (the samples around them)."""
    a = max((x for x in samples if x.at <= start), key=lambda x: x.at, default=samples[0])
    b = min((x for x in samples if x.at >= end), key=lambda x: x.at, default=samples[-1])
    span = max(b.at - a.at, 1e-9)
    count = sum(1 for x in answers.values() if start <= x.answered <= end)
    spent = {k: b.cpu[k] - a.cpu[k] for k in b.cpu}
    others = max(0.0, (b.busy - a.busy) - sum(spent.values()))
    driver = spent.pop("driver")
    return Phase(
        end - start,
        count,
        {k: v / span for k, v in spent.items()} | {"not ours (others)": others / span},
        {k: v * 1e6 / max(count, 1) for k, v in spent.items()},
        (b.busy - a.busy) / span,
        driver / span,
    )


@dataclass
class Phase:
    seconds: float
    answers: int
    cores: dict[str, float]  # part: cores busy on average
    per_answer_us: dict[str, float]  # part: CPU µs per answer
    busy: float  # cores, the whole machine
    driver: float  # cores, this script


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def check_launch_day(
    server: Soldout, launch_id: str, units: int, order: list[Press], answers: dict[int, Answer]
) -> dict[str, Any]:
    """Every answer against the store: nothing oversold, every 201 on record, every replay
    its key's claim."""
    rows = server.store.rows(
        "SELECT id, fan_id, idempotency_key, quantity, state FROM claims WHERE launch_id = ?",
        launch_id,
    )
    live = [r for r in rows if r[4] in ("held", "paid")]
    live_units = sum(int(r[3]) for r in live)
    claim_of_fan: dict[str, str] = {}
    fans_twice = 0
    for r in live:
        if r[1] in claim_of_fan:
            fans_twice += 1
        claim_of_fan[r[1]] = r[0]
    by_status: Counter[str] = Counter()
    created: list[tuple[float, str]] = []
    first_sold_out = float("inf")
    wrong_replays = replays = 0
    answered_otherwise = 0  # a press of a key that won, answered with anything but its claim
    won: dict[int, str] = {}  # fan -> claim id of its 201
    for seq, answer in answers.items():
        refused = answer.status >= 300 or answer.status == 0
        by_status[f"{answer.status} {answer.what}" if refused else str(answer.status)] += 1
        if answer.status == 201:
            created.append((answer.answered, answer.what))
            won[order[seq].fan] = answer.what
        elif answer.what == "sold_out":
            first_sold_out = min(first_sold_out, answer.answered)
    for seq, answer in answers.items():
        fan = order[seq].fan
        if answer.status == 200:
            replays += 1
            if answer.what != claim_of_fan.get(fan_id(fan)) or answer.what != won.get(fan):
                wrong_replays += 1
        elif fan in won and answer.status != 201:
            answered_otherwise += 1
    missing = len(order) - len(answers)
    created.sort()
    ids_201 = [c for _, c in created]
    opening = created[0][0] if created else float("nan")
    last_unit = created[units - 1][0] if len(created) >= units else float("nan")
    first_sent = min(a.sent for a in answers.values())
    last_answer = max(a.answered for a in answers.values())
    latency = defaultdict(list)
    for answer in answers.values():
        ms = (answer.answered - answer.sent) * 1000
        latency["all"].append(ms)
        latency[str(answer.status)].append(ms)
    server_times = [r for r in rows if r[4] in ("held", "paid")]
    return {
        "requests": len(order),
        "answered": len(answers),
        "missing": missing,
        "by_status": by_status,
        "opening_to_first_sold_out": first_sold_out - opening,
        "opening_to_last_unit": last_unit - opening,
        "start_to_opening": opening - first_sent,
        "opening": opening,
        "last_unit": first_sold_out if last_unit != last_unit else min(last_unit, first_sold_out),
        "whole": last_answer - first_sent,
        "latency": {k: (percentile(v, 50), percentile(v, 99)) for k, v in latency.items()},
        "live_units": live_units,
        "rows": len(rows),
        "distinct_201": len(set(ids_201)),
        "answers_201": len(ids_201),
        "ids_match": set(ids_201) == {r[0] for r in live},
        "fans_twice": fans_twice,
        "replays": replays,
        "wrong_replays": wrong_replays,
        "answered_otherwise": answered_otherwise,
        "oversold": live_units > units,
        "server_rows": len(server_times),
    }


def _phase_cell(ph: Phase, part: str) -> str:
    if part not in ph.cores:
        return "-"
    if part not in ph.per_answer_us:
        return f"{ph.cores[part]:.2f}"
    return f"{ph.cores[part]:.2f} / {ph.per_answer_us[part]:.0f}"


def print_launch_day(results: dict[str, dict[str, Any]], units: int, fans: int, conns: int) -> None:
    names = list(results)
    first = next(iter(results.values()))
    repeaters = len(range(9, fans, 10))
    print(
        f"\n== launch day: {units:,} units, {fans:,} fans ({repeaters:,} press 5 times, same key):"
        f" {first['requests']:,} presses, {conns} connections (wrk: 1 per thread) =="
    )

    def row(label: str, values: list[str]) -> None:
        print(f"{label:<48}" + "".join(f"{v:>18}" for v in values))

    def each(fn: Callable[[dict[str, Any]], str]) -> list[str]:
        return [fn(results[n]) for n in names]

    row("", names)
    row(
        "opening (first 201) -> first sold_out",
        each(lambda r: f"{r['opening_to_first_sold_out']:.2f} s"),
    )
    row(
        f"opening -> the {units:,}th 201 (last unit)",
        each(lambda r: f"{r['opening_to_last_unit']:.2f} s"),
    )
    row(
        "units sold per second (opening -> last unit)",
        each(lambda r: f"{units / r['opening_to_last_unit']:,.0f}"),
    )
    row("first press -> opening", each(lambda r: f"{r['start_to_opening']:.2f} s"))
    row("first press -> last answer", each(lambda r: f"{r['whole']:.2f} s"))
    row("answers per second (whole run)", each(lambda r: f"{r['answered'] / r['whole']:,.0f}"))
    for key, label in (
        ("all", "all answers"),
        ("201", "201 created"),
        ("200", "200 replays"),
        ("409", "409 (sold out)"),
    ):
        row(
            f"p50 / p99 ms: {label}",
            each(
                lambda r, k=key: (
                    "{:.1f} / {:.1f}".format(*r["latency"][k]) if k in r["latency"] else "-"
                )
            ),
        )
    statuses = sorted({s for r in results.values() for s in r["by_status"]})
    for status in statuses:
        row(f"answers: {status}", each(lambda r, s=status: f"{r['by_status'].get(s, 0):,}"))
    row("presses without an answer", each(lambda r: f"{r['missing']:,}"))
    row("presses sent again (broken connection)", each(lambda r: f"{r['resent']:,}"))
    row("check: units held+paid in the store", each(lambda r: f"{r['live_units']:,}"))
    row("check: distinct claim ids among 201s", each(lambda r: f"{r['distinct_201']:,}"))
    row("check: 201 ids == the store's held ids", each(lambda r: "yes" if r["ids_match"] else "NO"))
    row("check: fans holding 2 claims", each(lambda r: f"{r['fans_twice']:,}"))
    row(
        "check: replays not their key's claim",
        each(lambda r: f"{r['wrong_replays']:,} of {r['replays']:,}"),
    )
    row("check: presses of a won key not its claim", each(lambda r: f"{r['answered_otherwise']:,}"))
    row("oversold", each(lambda r: "YES" if r["oversold"] else "no"))
    for name in ("selling", "sold out", "whole run"):
        print(f"{name}: cores busy on average (of {CORES}), and CPU µs per answer")
        row(f"  {name}: seconds", each(lambda r, n=name: f"{r['phases'][n].seconds:.1f}"))
        row(f"  {name}: answers", each(lambda r, n=name: f"{r['phases'][n].answers:,}"))
        row("  cores: machine (all)", each(lambda r, n=name: f"{r['phases'][n].busy:.2f}"))
        parts = sorted({p for r in results.values() for p in r["phases"][name].cores})
        for part in parts:
            row(
                f"  cores / µs per answer: {part}",
                each(lambda r, n=name, p=part: _phase_cell(r["phases"][n], p)),
            )
    row("preparation (launch, tokens, wrk files)", each(lambda r: f"{r['prepared']:.1f} s"))
    row("wrk ran", each(lambda r: f"{r['took']:.1f} s"))
    for name, r in results.items():
        if "redis_stock" in r:
            print(f"{name}: Redis stock after the run: {r['redis_stock']}")
        errors = [x for x in r["wrk_out"].splitlines() if "error" in x.lower()]
        if errors:
            print(f"{name}: wrk: {'; '.join(errors)}")


def launch_day(args: argparse.Namespace, work: Path) -> None:
    results: dict[str, dict[str, Any]] = {}
    t0 = time.monotonic()
    with soldout(work, "ld-embedded", None) as server:
        results["embedded"] = run_launch_day(server, args.units, args.fans, args.connections, work)
    with backends(work, "ld") as back, soldout(work, "ld-w2", back, 2) as server:
        results["2 workers"] = run_launch_day(server, args.units, args.fans, args.connections, work)
    print_launch_day(results, args.units, args.fans, args.connections)
    print(f"\nthe whole launch-day benchmark took {time.monotonic() - t0:.0f} s")
