"""The sale history `benchmarks.history` starts from, made through the store's own port
(one generator for both stores): closed launches with their orders, payments, history and
e-mails, and one live launch."""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

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
