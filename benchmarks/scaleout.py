"""Scale-out benchmark: claims/s of N workers (Redis decides, PostgreSQL records) against the
embedded single process, measured in the same run, and what each claim costs each part.

    .venv/bin/python -m benchmarks.scaleout [--duration 10] [--connections 64]
    .venv/bin/python -m benchmarks.scaleout --launch-day [--units 100000] [--fans 300000]

On loopback, with wrk (`benchmarks/claims.lua`, as `claims_wrk.py`), one run measures:
 1. the baseline: `soldout serve`, one process on its embedded SQLite store: durable
    claims/s (a batch too large to sell out, 2,000 fans, a unique Idempotency-Key per
    request) and sold-out answers/s (a launch whose only unit is taken);
 2. the same two against `soldout serve --redis ... --workers 1`, then `--workers 2`, on a
    private PostgreSQL and a private Redis (no persistence) started for the run, on free
    ports; a table of req/s, p50/p99 and the ratio to the baseline's same run;
 3. over each durable run, what one claim cost each part in CPU microseconds, from the
    servers' own counters: the workers and the owner (/proc: utime+stime of each process
    and its children), Redis (INFO cpu used_cpu_sys+user; INFO commandstats' EVALSHA usec),
    PostgreSQL (/proc of the postmaster and its backends, exited ones included; WAL bytes;
    pg_stat_statements, preloaded on the private server), and wrk's own;
 4. from the 2-worker costs, a projection for 4, 8 and 16 workers on a 3-node Redis
    Cluster: the claims/s each part could sustain at those costs, and the first to give out.

`--launch-day` instead: `--units` units, `--fans` distinct fans each pressing buy once and
one in ten pressing five times with the same Idempotency-Key (a double-click at once, three
retries later: each must be answered as a replay), from the opening to sold out, against
the embedded process and against 2 workers. Fans' tokens are minted here with the store's
`token-signing` secret (`TokenSigner`), read from the store once the server started (the
claim path does not look the fan up, and neither store holds a fan row for them).
wrk (`benchmarks/scaleout.lua`) runs one connection per thread, so each answer is tied to
its press (that costs wrk several times the CPU per request of claims.lua's one thread: its
share is printed); then every answer is checked against the store (nothing oversold, every
201 on record, every replay the same claim as its key's 201). Printed: the time from the
opening (the first 201) to the first sold_out and to the last unit's 201, answers' p50/p99,
counts by status, the checks, and for the selling phase, the sold-out phase and the whole
run the cores each part kept busy and its CPU µs per answer.

How to read it: ratios are against the baseline measured in the same run on the same
machine; absolute numbers move 15-25 % between runs on a shared machine. Everything (wrk,
the workers, the owner, Redis, PostgreSQL) shares this machine's cores: the "cores busy"
lines say where they went, and a part's µs/claim is what it spent, not what it would
spend alone. Before each measured run it waits (15 s at most) for other processes to use
less than 0.3 cores; "others" is what they used during the run: well above 0 (a test
suite beside it), and the run measured the neighbours too. The projection multiplies the
costs out; it is an estimate, never a measurement of a cluster. Not a timed test: it
asserts nothing about speed. SCALEOUT_KEEP=1 keeps the temporary directory (logs, wrk's
per-press answers) for a look after the run.

The servers, their processes' CPU and their counters are in `benchmarks/scaleout_servers.py`;
the launch day in `benchmarks/scaleout_launch_day.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.claims_wrk import ADMIN, Result, setup_server
from benchmarks.scaleout_launch_day import launch_day
from benchmarks.scaleout_servers import (
    CORES,
    Soldout,
    backends,
    counters,
    machine_busy,
    own_cpu,
    pg_statements,
    soldout,
    timed_wrk,
    wait_quiet,
)

WORKER_COUNTS = (1, 2)
PROJECTED = (4, 8, 16)  # workers, in the projection
CLUSTER_NODES = 3
PG_CORES = 8  # the PostgreSQL server assumed by the projection
ASSUMED = (
    "Assumed: each worker has a core of its own at the measured µs/claim; the owner is one\n"
    "process (it adopts every claim from the `made` stream) on one core; Redis is single-\n"
    f"threaded, {CLUSTER_NODES} nodes if claims spread over launches (one launch's keys share\n"
    "one hash slot: a single hot launch is served by ONE node, the `1 launch` column);\n"
    f"PostgreSQL has {PG_CORES} cores at the measured CPU/claim (its group commit batches\n"
    "more under more load, so this is pessimistic for CPU; fsync latency is not modelled)."
)


@dataclass
class SetupRun:
    name: str
    durable: Result
    sold_out: Result
    wrk_cpu: dict[str, float]  # run: seconds
    others: dict[str, float]  # run: cores used by processes not this benchmark's
    recorded: int  # rows of the durable launch
    owner_held: int | None  # what the launch's stats say (the owner's view)
    cost_us: dict[str, float]  # part: CPU µs per durable claim
    sold_out_us: dict[str, float]  # part: CPU µs per sold-out answer
    cores: dict[str, float]  # part: cores busy on average over the durable run
    redis_us: dict[str, tuple[float, float]] = field(default_factory=dict)  # cmd: calls, usec
    wal_per_claim: float = 0.0
    statements: list[tuple[Any, ...]] = field(default_factory=list)
    restarts: int = 0


def measure_setup(server: Soldout, seconds: float, connections: int, work: Path) -> SetupRun:
    big, gone, fans = asyncio.run(setup_server(server.base))
    tokens = work / f"tokens-{server.name}.txt"
    tokens.write_text("\n".join(fans) + "\n")
    claims_big = f"/api/v1/launches/{big}/claims"
    claims_gone = f"/api/v1/launches/{gone}/claims"
    timed_wrk(server.port, claims_gone, connections, 2, tokens)  # warm-up
    pids_before = server.roles()
    pg_statements(server, reset=True)
    wait_quiet(server)
    before, driver = counters(server), own_cpu()
    durable, wrk_durable = timed_wrk(server.port, claims_big, connections, seconds, tokens)
    mid, driver = counters(server), own_cpu() - driver  # the cores busy: while wrk ran
    time.sleep(1.0)  # the costs: what the owner adopts after the last answer counts too
    after = counters(server)
    statements = pg_statements(server, reset=False)
    rows = server.store.rows("SELECT count(*) FROM claims WHERE launch_id = ?", big)
    recorded = int(rows[0][0])
    with httpx.Client(base_url=server.base, timeout=30, trust_env=False) as admin:
        admin.headers["authorization"] = f"Bearer {ADMIN}"
        stats = admin.get(f"/api/v1/launches/{big}/stats").json()
    owner_held = int(stats["skus"]["A"]["held"]) if server.back is not None else None
    wait_quiet(server)
    cpu0, busy0, driver0 = server.cpu(), machine_busy(), own_cpu()
    sold_out, wrk_sold_out = timed_wrk(server.port, claims_gone, connections, seconds, tokens)
    cpu1, busy1, driver1 = server.cpu(), machine_busy(), own_cpu()
    spent = {k: cpu1[k] - cpu0[k] for k in cpu1}
    busy = (busy1 - busy0) - sum(spent.values()) - (driver1 - driver0) - wrk_sold_out
    per_answer = {k: v * 1e6 / max(sold_out.requests, 1) for k, v in spent.items()}
    per_answer["wrk"] = wrk_sold_out * 1e6 / max(sold_out.requests, 1)
    pids_after = server.roles()
    claims = max(recorded, 1)
    wall = mid.at - before.at
    cost = {k: (after.cpu[k] - before.cpu[k]) * 1e6 / claims for k in after.cpu}
    cost["wrk"] = wrk_durable * 1e6 / claims
    cores = {k: (mid.cpu[k] - before.cpu[k]) / wall for k in mid.cpu}
    cores["wrk"] = wrk_durable / wall
    cores["machine (all)"] = (mid.busy - before.busy) / wall
    ours = sum(cores[k] for k in mid.cpu) + cores["wrk"] + driver / wall
    cores["not ours (others)"] = max(0.0, cores["machine (all)"] - ours)
    run = SetupRun(
        server.name,
        durable,
        sold_out,
        {"durable": wrk_durable, "sold out": wrk_sold_out},
        {"durable": cores["not ours (others)"], "sold out": max(0.0, busy / seconds)},
        recorded,
        owner_held,
        cost,
        per_answer,
        cores,
        restarts=sum(len(set(pids_after[r]) - set(pids_before[r])) for r in pids_after),
    )
    if server.back is not None:
        for command, (calls, usec) in after.redis.items():
            was = before.redis.get(command, (0, 0))
            if calls > was[0]:
                run.redis_us[command] = ((calls - was[0]) / claims, (usec - was[1]) / claims)
        run.wal_per_claim = (int(after.wal) - int(before.wal)) / claims
        run.statements = statements
    return run


# --- the default run: tables --------------------------------------------------------------


def print_throughput(runs: list[SetupRun], seconds: float, connections: int) -> None:
    base = runs[0]
    print(
        f"\n== 1-2. claims/s on loopback: {connections} connections, {seconds:.0f} s per run"
        f" (wrk, {1 if connections <= 64 else 2} thread) =="
    )
    print(
        f"{'setup':<30}{'run':<16}{'req/s':>9}{'ratio':>7}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'non-2xx':>9}{'errors':>7}{'wrk CPU':>9}{'others':>8}"
    )
    for run in runs:
        for label, r, b, key in (
            ("durable claims", run.durable, base.durable, "durable"),
            ("sold-out answers", run.sold_out, base.sold_out, "sold out"),
        ):
            print(
                f"{run.name:<30}{label:<16}{r.rps:>9.0f}{r.rps / b.rps:>7.2f}"
                f"{r.p50_us / 1000:>8.2f}{r.p99_us / 1000:>8.2f}{r.non2xx:>9}{r.errors:>7}"
                f"{run.wrk_cpu[key] / seconds:>9.0%}{run.others[key]:>8.2f}"
            )
    print("(ratio: to the embedded process's same run; sold-out answers are 409s by design;")
    print(" wrk CPU: the load generator's share of one core during that run; others: cores")
    print(" used meanwhile by processes not this benchmark's, e.g. a test suite: then re-run)")
    for run in runs:
        granted = run.durable.requests - run.durable.non2xx - run.durable.errors
        line = f"{run.name}: durable claims recorded {run.recorded:,} (wrk counted {granted:,} 2xx)"
        if run.owner_held is not None:
            line += f", the owner's stats hold {run.owner_held:,}"
        if run.restarts:
            line += f"; {run.restarts} process(es) restarted by the supervisor during the runs"
        print(line)


def print_costs(runs: list[SetupRun], cores: int) -> None:
    print("\n== 3. CPU per durable claim (µs), from the servers' counters over the durable run ==")
    names = [r.name for r in runs]
    parts = ["soldout process", "workers", "owner", "Redis", "PostgreSQL", "wrk"]
    print(f"{'part':<44}" + "".join(f"{n:>26}" for n in names))

    def row(label: str, values: list[str]) -> None:
        print(f"{label:<44}" + "".join(f"{v:>26}" for v in values))

    labels = {
        "soldout process": "the single process (/proc)",
        "workers": "workers, together (/proc)",
        "owner": "owner (/proc)",
        "Redis": "Redis: INFO cpu (sys+user)",
        "PostgreSQL": "PostgreSQL: postmaster + backends (/proc)",
        "wrk": "wrk (rusage)",
    }
    for part in parts:
        row(labels[part], [f"{r.cost_us[part]:.0f}" if part in r.cost_us else "-" for r in runs])
    row(
        "Redis: EVALSHA usec (commandstats)",
        [f"{r.redis_us['evalsha'][1]:.1f}" if "evalsha" in r.redis_us else "-" for r in runs],
    )
    row(
        "Redis: EVALSHA calls",
        [f"{r.redis_us['evalsha'][0]:.2f}" if "evalsha" in r.redis_us else "-" for r in runs],
    )
    row(
        "PostgreSQL: statement time (pg_stat_statements)",
        [
            f"{sum(s[1] for s in r.statements) * 1000 / max(r.recorded, 1):.1f}"
            if r.statements
            else "-"
            for r in runs
        ],
    )
    row(
        "PostgreSQL: WAL bytes per claim",
        [f"{r.wal_per_claim:.0f}" if r.statements else "-" for r in runs],
    )
    print("per sold-out answer (µs of CPU, over the sold-out run):")
    for part in parts:
        row(
            f"  {part}",
            [f"{r.sold_out_us[part]:.0f}" if part in r.sold_out_us else "-" for r in runs],
        )
    print(f"\ncores busy on average during the durable run (this machine has {cores}):")
    for part in [*parts, "machine (all)", "not ours (others)"]:
        row(f"  {part}", [f"{r.cores[part]:.2f}" if part in r.cores else "-" for r in runs])
    for r in runs:
        if r.redis_us:
            top = sorted(r.redis_us.items(), key=lambda kv: -kv[1][1])[:8]
            shown = ", ".join(f"{k} {c:.2f}x {u:.1f}µs" for k, (c, u) in top)
            print(f"{r.name}: Redis commands per claim (calls x usec; those a script calls are")
            print(f"    counted in EVALSHA's usec too): {shown}")
        if r.statements:
            print(f"{r.name}: PostgreSQL statements per claim (calls, ms of execution in all):")
            for calls, total, _rows, query in r.statements[:6]:
                print(f"    {calls / max(r.recorded, 1):6.3f} x  {total:9.1f} ms  {query}")


def print_projection(run: SetupRun, embedded: SetupRun) -> None:
    worker_us = run.cost_us["workers"]
    owner_us = run.cost_us["owner"]
    redis_us = max(run.cost_us["Redis"], 1e-9)
    pg_us = max(run.cost_us["PostgreSQL"], 1e-9)
    print(f"\n== 4. projection from the {run.name} costs: claims/s each part could sustain ==")
    print(
        f"per claim: worker {worker_us:.0f} µs, owner {owner_us:.0f} µs, Redis {redis_us:.0f} µs"
        f" (INFO cpu), PostgreSQL {pg_us:.0f} µs"
    )
    print(
        f"{'workers':>8}{'workers':>12}{'owner':>10}{'Redis':>12}{'Redis':>12}"
        f"{'PostgreSQL':>12}  first bottleneck"
    )
    print(
        f"{'':>8}{'(1 core ea)':>12}{'(1 core)':>10}{f'{CLUSTER_NODES} nodes':>12}"
        f"{'1 launch':>12}{f'{PG_CORES} cores':>12}"
    )
    for n in PROJECTED:
        capacity = {
            "workers": n * 1e6 / worker_us,
            "owner": 1e6 / owner_us,
            "Redis cluster": CLUSTER_NODES * 1e6 / redis_us,
            "PostgreSQL": PG_CORES * 1e6 / pg_us,
        }
        one_launch = 1e6 / redis_us
        first = min(capacity, key=lambda k: capacity[k])
        first_one = min({**capacity, "Redis (1 node)": one_launch}.items(), key=lambda kv: kv[1])
        print(
            f"{n:>8}{capacity['workers']:>12,.0f}{capacity['owner']:>10,.0f}"
            f"{capacity['Redis cluster']:>12,.0f}{one_launch:>12,.0f}"
            f"{capacity['PostgreSQL']:>12,.0f}  {first}"
            + (f" (one hot launch: {first_one[0]})" if first_one[0] != first else "")
        )
    single = embedded.cost_us["soldout process"]
    print(
        f"a worker spends {worker_us / single:.1f}x the embedded process's {single:.0f} µs per"
        f" durable claim: {worker_us / single:.1f} workers' cores match one embedded core"
    )
    if "evalsha" in run.redis_us:
        script_us = run.redis_us["evalsha"][1]
        print(
            f"Redis at its scripts' own time only (EVALSHA {script_us:.0f} µs/claim, no network"
            f" I/O): {1e6 / script_us:,.0f} claims/s per node"
        )
    if run.name == f"--workers {WORKER_COUNTS[-1]}":
        print(ASSUMED)


# --- main ---------------------------------------------------------------------------------


def default_run(args: argparse.Namespace, work: Path) -> None:
    runs = []
    with soldout(work, "embedded", None) as server:
        runs.append(measure_setup(server, args.duration, args.connections, work))
    for workers in WORKER_COUNTS:
        name = f"w{workers}"
        with backends(work, name) as back, soldout(work, name, back, workers) as server:
            run = measure_setup(server, args.duration, args.connections, work)
            run.name = f"--workers {workers}"
            runs.append(run)
    runs[0].name = "embedded (SQLite)"
    print_throughput(runs, args.duration, args.connections)
    print_costs(runs, CORES)
    for run in runs[1:]:  # the 1-worker costs were measured on a machine with CPU to spare
        print_projection(run, runs[0])
    last = runs[-1]
    print(
        f"\nWhat this {CORES}-core machine hides: wrk, the workers, the owner, Redis and\n"
        f"PostgreSQL all share its {CORES} cores. In the {last.name} durable run the machine was\n"
        f"{last.cores['machine (all)']:.2f} cores busy and the workers together got"
        f" {last.cores['workers']:.2f} of them (the owner\n"
        f"{last.cores['owner']:.2f}, Redis {last.cores['Redis']:.2f}, PostgreSQL"
        f" {last.cores['PostgreSQL']:.2f}, wrk {last.cores['wrk']:.2f}, other processes"
        f" {last.cores['not ours (others)']:.2f}):\n"
        "a second worker here takes CPU from the first, so 1 -> 2 workers cannot show scaling;\n"
        "the per-claim costs above are what the projection stands on. Loopback also hides the\n"
        "network: a claim on a worker makes two Redis round trips and waits for a PostgreSQL\n"
        "commit, each a real network hop in a deployment (latency, not CPU); and PostgreSQL's\n"
        "fsync here is this machine's disk."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--launch-day", action="store_true", help="the launch day instead")
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--fans", type=int, default=300_000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    if args.launch_day and args.units > args.fans:
        sys.exit("--units must not exceed --fans (each fan may buy one)")

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # cleaned up as for Ctrl-C
    work = Path(tempfile.mkdtemp(prefix="soldout-scaleout-"))
    work.chmod(0o755)  # PostgreSQL, as `nobody`, must reach its folder in here
    started = time.monotonic()
    try:
        (launch_day if args.launch_day else default_run)(args, work)
        print(f"(the benchmark took {time.monotonic() - started:.0f} s)")
    except KeyboardInterrupt:
        print("interrupted: stopping what was started", file=sys.stderr)
        sys.exit(130)
    finally:
        if not os.environ.get("SCALEOUT_KEEP"):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
