"""How long "the sale opens in 10 minutes" takes to reach 100,000 reserved fans.

    .venv/bin/python -m benchmarks.email_fanout [--fans 100000] [--connections 4] [--rounds 2]

A real platform on SQLite in a temporary directory holds a launch opening in 10 minutes
and 100,000 fans who reserved it (bulk-inserted rows, a third each in English, Dutch and
Chinese, in three time zones). The platform starts as `soldout serve` starts it, with its
reminders and its outbox running in the background, and an SMTP relay that is an aiosmtpd
server in another process on loopback, which accepts and counts every message. Measured
from the end of start-up to the last message the relay accepted:

- soldout: the reminder writes 100,000 notifications (chunks of 5,000, each with its
  progress mark), the outbox reads them a page at a time, writes each in its fan's
  language and zone, sends it over `--connections` reused SMTP sessions and records it
  `sent`;
- baseline, in the same run against the same relay: the same number of messages of the
  same size pushed through aiosmtplib straight, over the same number of sessions, each
  session carrying as many messages as soldout's (`MESSAGES_PER_SESSION`), with no store,
  no rendering and nothing recorded.

Last, soldout once more with a relay in memory that takes every message at once: what is
left is soldout's own cost per message (reading, writing in the fan's language, recording).

Each of `--rounds` rounds (default 2) runs soldout on a fresh store, then the baseline;
the best of each is compared (interference from other work on a shared machine only ever
adds time). Also printed: how long the event loop was held at most while the fan-out ran
(a claim arriving then would wait that long; on a loaded machine this includes time the
process was not scheduled at all), and the relay's own CPU time (when it nears the
elapsed time, the relay is the limit, not soldout).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosmtplib
import uvloop

from soldout.domain.launches import LaunchRules
from soldout.domain.money import Money
from soldout.domain.products import Sku
from soldout.ids import new_id
from soldout.mail import MailSettings, sender_address
from soldout.mail.config import SmtpConfig
from soldout.mail.smtp import MESSAGES_PER_SESSION, SmtpTransport
from soldout.mail.transport import Connection, Envelope
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.sqlite import SqliteStore

LANGUAGES = [("en", "Europe/London"), ("nl", "Europe/Amsterdam"), ("zh_Hans", "Asia/Shanghai")]
SENDER = "shop@shop.example"


# -- the relay: aiosmtpd in its own process ----------------------------------------------
class _Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


def sink(port: int) -> None:
    """Accept every message, count it; on SIGTERM print the count and the CPU time."""
    from aiosmtpd.smtp import SMTP

    handler = _Sink()

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, done.set)
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink.local", data_size_limit=1 << 20),
            "127.0.0.1",
            port,
            backlog=256,
        )
        print("ready", flush=True)
        await done.wait()
        server.close()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(f"{handler.count} {usage.ru_utime + usage.ru_stime:.2f}", flush=True)

    uvloop.run(serve())


class Relay:
    def __init__(self, port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.email_fanout", "--sink", str(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the relay did not start")

    def stop(self) -> tuple[int, float]:
        """(messages it accepted, its CPU seconds)."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        count, cpu = out.split()
        return int(count), float(cpu)


# -- the store: a launch in 10 minutes, and its reservations as bulk rows ----------------
async def seed(database: Path, fans: int) -> str:
    platform = Platform(SqliteStore(database), TokenSigner(b"k" * 32, "adm"))
    await platform.start(sweep=False)
    try:
        sku = Sku("A", "Model One 64 GB black", Money(19900, "EUR"), Money(9000, "EUR"))
        product = await platform.catalog.create_product("Model One", "", [sku])
        book = await platform.catalog.create_launch(
            product_id=product.id,
            title="Model One, second batch",
            sale_opens_at=datetime.now(UTC) + timedelta(minutes=10),
            rules=LaunchRules(),
            batch={"A": 1000},
        )
    finally:
        await platform.stop()
    run = new_id("bulk")
    at = datetime.now(UTC) - timedelta(days=1)
    fan_rows, reservations = [], []
    for i in range(fans):
        n = f"{run}{i:08d}"
        locale, zone = LANGUAGES[i % 3]
        when = (at + timedelta(milliseconds=i)).isoformat()
        fan_rows.append((f"fan_{n}", f"fan{n}@fans.test", f"Fan {i}", f"R{n}", when, locale, zone))
        reservations.append((f"res_{n}", book.launch.id, f"fan_{n}", when))
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO fans (id, email, name, referral_code, created_at, locale, time_zone)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            fan_rows,
        )
        conn.executemany(
            "INSERT INTO reservations (id, launch_id, fan_id, created_at) VALUES (?, ?, ?, ?)",
            reservations,
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return book.launch.id


# -- soldout: reminders and outbox running as in `soldout serve` --------------------------
class _Instant:
    """A relay that takes every message at once (in memory): what is left is soldout's
    own cost (reading, writing, recording), and aiosmtplib's is gone."""

    description = "memory"

    async def open(self) -> Connection:
        return self

    async def send(self, envelope: Envelope) -> None:
        await asyncio.sleep(0)  # a turn of the loop, as a network reply would give

    async def close(self) -> None:
        return None


class Counted:
    """The SMTP transport, counting what the relay accepted and when the last one was."""

    def __init__(self, inner: SmtpTransport | _Instant, target: int) -> None:
        self._inner = inner
        self.target = target
        self.accepted = 0
        self.last = 0.0
        self.done = asyncio.Event()
        self.samples: list[Envelope] = []

    @property
    def description(self) -> str:
        return self._inner.description

    async def open(self) -> Connection:
        return _CountedConnection(await self._inner.open(), self)


class _CountedConnection:
    def __init__(self, inner: Connection, counter: Counted) -> None:
        self._inner = inner
        self._counter = counter

    async def send(self, envelope: Envelope) -> None:
        await self._inner.send(envelope)
        c = self._counter
        c.accepted += 1
        c.last = time.perf_counter()
        if len(c.samples) < 30:
            c.samples.append(envelope)
        if c.accepted >= c.target:
            c.done.set()

    async def close(self) -> None:
        await self._inner.close()


async def lag_watch(stop: asyncio.Event, lags: list[float]) -> None:
    """How late a 5 ms timer fires: the longest the loop was held by one callback."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.005)
        lags.append(time.perf_counter() - before - 0.005)


async def soldout_fanout(
    database: Path, port: int | None, fans: int, connections: int
) -> dict[str, Any]:
    """Through the relay on `port`, or (None) one that takes every message at once."""
    inner: SmtpTransport | _Instant = _Instant()
    if port is not None:
        inner = SmtpTransport(SmtpConfig.from_url(f"smtp://127.0.0.1:{port}", timeout=60))
    transport = Counted(inner, fans)
    mail = MailSettings(
        transport,
        sender_address(SENDER, "shop.example"),
        "https://shop.example",
        connections=connections,
    )
    platform = Platform(SqliteStore(database), TokenSigner(b"k" * 32, "adm"), mail=mail)
    loaded = time.perf_counter()
    await platform.start()  # reminders and outbox in the background, as in `soldout serve`
    gc.collect()
    gc.freeze()  # as `soldout serve` does after start-up (api/server.py)
    start = time.perf_counter()
    stop, lags = asyncio.Event(), []
    watcher = asyncio.create_task(lag_watch(stop, lags))
    await transport.done.wait()
    stop.set()
    await watcher
    counts = await platform.store.notifications.email_counts()
    await platform.stop()
    lags.sort()
    return {
        "start_up": start - loaded,
        "elapsed": transport.last - start,
        "counts": counts,
        "samples": transport.samples,
        "lag_max": lags[-1] if lags else 0.0,
        "lag_p99": lags[int(len(lags) * 0.99)] if lags else 0.0,
    }


# -- baseline: aiosmtplib straight --------------------------------------------------------
async def baseline(port: int, samples: list[Envelope], count: int, connections: int) -> float:
    """The same number of messages, of the same sizes, over the same number of sessions
    (each as long as soldout's), with nothing else: seconds to the last one accepted."""
    shares = [
        count // connections + (1 if i < count % connections else 0) for i in range(connections)
    ]
    last = 0.0

    async def worker(share: int, offset: int) -> None:
        nonlocal last
        smtp: aiosmtplib.SMTP | None = None
        for n in range(share):
            if smtp is None or n % MESSAGES_PER_SESSION == 0:
                if smtp is not None:
                    await smtp.quit()
                smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
                await smtp.connect()
            sample = samples[(offset + n) % len(samples)]
            await smtp.sendmail(SENDER, [sample.recipient], sample.data)
            last = time.perf_counter()
        if smtp is not None:
            await smtp.quit()

    start = time.perf_counter()
    await asyncio.gather(*(worker(share, i) for i, share in enumerate(shares)))
    return last - start


def run(fans: int, connections: int, port: int, rounds: int) -> None:
    """Each round runs soldout, then the baseline: interference from other work on the
    machine only ever adds time, so the best of each is compared."""
    gc.set_threshold(50_000, 20, 100)  # as `soldout serve` sets it (api/server.py)
    print(f"fans: {fans:,}; SMTP sessions: {connections}; relay: aiosmtpd on 127.0.0.1:{port}")
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    ours: list[dict[str, Any]] = []
    bases: list[float] = []
    relay = Relay(port)
    try:
        for r in range(rounds):
            with tempfile.TemporaryDirectory(prefix="soldout-mail-") as folder:
                database = Path(folder) / "soldout.db"
                uvloop.run(seed(database, fans))
                ours.append(uvloop.run(soldout_fanout(database, port, fans, connections)))
            # the baseline sends the messages soldout sent (their sizes and languages)
            bases.append(uvloop.run(baseline(port, ours[0]["samples"], fans, connections)))
            line = ours[-1]
            print(
                f"round {r + 1}: soldout {line['elapsed']:6.1f} s ({fans / line['elapsed']:,.0f}"
                f" msg/s), baseline {bases[-1]:6.1f} s ({fans / bases[-1]:,.0f} msg/s);"
                f" loop held at most {line['lag_max'] * 1000:.0f} ms"
                f" (p99 {line['lag_p99'] * 1000:.1f} ms)"
            )
    finally:
        accepted, relay_cpu = relay.stop()
    with tempfile.TemporaryDirectory(prefix="soldout-mail-") as folder:
        database = Path(folder) / "soldout.db"
        uvloop.run(seed(database, fans))
        alone = uvloop.run(soldout_fanout(database, None, fans, connections))
    for line in ours:
        assert line["counts"].get("sent", 0) == fans, line["counts"]
    assert accepted == 2 * rounds * fans, (accepted, "every message of every round, once")
    size = sum(len(e.data) for e in ours[0]["samples"]) / len(ours[0]["samples"])
    best, base = min(o["elapsed"] for o in ours), min(bases)
    print(f"start-up (engine and store loaded): {ours[0]['start_up']:.1f} s")
    print(f"soldout:  {best:6.1f} s to the last message accepted, {fans / best:7,.0f} msg/s (best)")
    print(f"baseline: {base:6.1f} s, {fans / base:7,.0f} msg/s (aiosmtplib straight, best)")
    print(f"ratio soldout/baseline throughput: {base / best:.2f}")
    print(f"average message: {size / 1024:.1f} KiB; relay CPU, all rounds: {relay_cpu:.1f} s")
    own = alone["elapsed"]
    print(
        f"soldout with a relay in memory (its own cost): {own:.1f} s,"
        f" {own / fans * 1e6:.0f} us per message ({fans / own:,.0f} msg/s on one core)"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fans", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="soldout runs (and baselines)")
    parser.add_argument("--port", type=int, default=0, help="the relay's port (0: a free one)")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sink is not None:
        sink(args.sink)
        return
    port = args.port or _free_port()
    run(args.fans, args.connections, port, args.rounds)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


if __name__ == "__main__":
    main()
