"""The store's contract, proven once per adapter: the in-memory fake, SQLite and PostgreSQL.

For every repository method of `soldout.store.ports`, a round trip a user relies on:
write, then read back through the port (after a reopen, where the data outlives the
process), in the promised order, with the promised errors. What only a real database can
break (a failing write fails alone in its group commit, writes land in the order they were
issued) runs on SQLite and PostgreSQL.

PostgreSQL: one server for the session, a fresh database per test (tests/postgres.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from soldout.domain.addresses import ShippingAddress
from soldout.domain.audit import AuditEntry
from soldout.domain.board import Idea, IdeaKind, IdeaStatus
from soldout.domain.claims import Claim, ClaimState, Order, OrderEvent, OrderStatus
from soldout.domain.codes import PriorityCode
from soldout.domain.errors import Conflict
from soldout.domain.fans import ERASED_NAME, Fan, Reservation, erased_email
from soldout.domain.fulfilment import Adjustment, ProductionPlan, Rate
from soldout.domain.launches import Launch, LaunchRules, Mode
from soldout.domain.media import MediaItem
from soldout.domain.money import Money
from soldout.domain.notifications import Notification
from soldout.domain.payments import PaymentRecord, PaymentState
from soldout.domain.polls import Poll, PollOption
from soldout.domain.products import Product, Sku
from soldout.domain.refunds import PartRefund
from soldout.domain.rehearsals import RunRecord
from soldout.domain.sessions import Session, SessionKind
from soldout.domain.shop import Shop
from soldout.domain.team import AdminAccount, Invite, Role
from soldout.store.memory import InMemoryStore
from soldout.store.ports import ClaimTally, EmailOutcome, OrderFilter, Store
from soldout.store.postgresql import PostgresStore
from soldout.store.rows_board import BoardMark, BoardPut, BoardUnmark
from soldout.store.sqlite import SqliteStore

pytest_plugins = ["tests.postgres"]

T0 = datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Stores:
    """The store under test, and the same data opened again as a restarted process would."""

    def __init__(self, kind: str, tmp_path: Path, url: str | None) -> None:
        self.kind, self._path, self._url = kind, tmp_path / "soldout.db", url
        self.store = self._make()

    def _make(self) -> Store:
        if self.kind == "sqlite":
            return SqliteStore(self._path)
        if self.kind == "postgresql":
            assert self._url is not None
            return PostgresStore(self._url)
        return InMemoryStore()

    async def reopen(self) -> Store:
        if isinstance(self.store, InMemoryStore):
            self.store = self.store.crash_copy()
            return self.store
        await self.store.close()
        self.store = self._make()
        await self.store.open()
        return self.store


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Stores]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    made = Stores(request.param, tmp_path, url)
    await made.store.open()
    try:
        yield made
    finally:
        await made.store.close()


@pytest.fixture
def store(stores: Stores) -> Store:
    return stores.store


def real_only(stores: Stores) -> None:
    if stores.kind == "memory":
        pytest.skip("the fake checks no constraint and commits nothing")


# -- what the tests write -------------------------------------------------------------------


def product(n: int = 1, *codes: str) -> Product:
    skus = tuple(
        Sku(code, f"Size {code}", Money(1000 + i, "EUR"), Money(400, "EUR"))
        for i, code in enumerate(codes or ("A", "B"))
    )
    return Product(f"prd_{n}", f"Lamp {n}", "Bright", skus, at(n), specs=(("W", "5"),))


def launch(n: int = 1, **changes: object) -> Launch:
    made = Launch(
        id=f"lch_{n}",
        product_id="prd_1",
        title=f"Drop {n}",
        sale_opens_at=at(60),
        rules=LaunchRules(
            mode=Mode.FIRST_COME,
            reservation_required=True,
            per_fan_limit=2,
            registered_before=at(30),
        ),
        batch={"B": 5, "A": 10},  # not in alphabetical order: the order is kept
        created_at=at(n),
        sale_closes_at=at(3600),
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def fan(n: int, **changes: object) -> Fan:
    made = Fan(f"fan_{n:02d}", f"f{n}@fans.test", f"Fan {n}", f"REF{n:02d}", None, at(n))
    return replace(made, **changes)  # type: ignore[arg-type]


def claim(n: int, fan_id: str = "fan_01", **changes: object) -> Claim:
    made = Claim(
        f"clm_{n:03d}", "lch_1", fan_id, "A", 1, 1000, "EUR", at(100 + n), at(1000 + n), f"k{n}"
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def payment(n: int, claim_id: str, **changes: object) -> PaymentRecord:
    made = PaymentRecord(
        f"pay_{n}", claim_id, "fan_01", "test", "card", 1000, "EUR", f"p{n}", "fp", at(n), at(n)
    )
    return replace(made, **changes)  # type: ignore[arg-type]


def order(n: int, claim_id: str, fan_id: str = "fan_01", **changes: object) -> Order:
    made = Order(
        f"ord_{n}",
        claim_id,
        "lch_1",
        fan_id,
        "A",
        1,
        1000,
        "EUR",
        at(200 + n),
        "card",
        "r",
        f"p{n}",
    )
    return replace(made, **changes)  # type: ignore[arg-type]


async def sale(store: Store, fans: int = 2) -> None:
    """A product, its launch and some fans."""
    await store.products.add(product())
    await store.launches.add(launch())
    for n in range(1, fans + 1):
        await store.fans.add(fan(n))


async def paid(
    store: Store, n: int, fan_id: str = "fan_01", launch_id: str = "lch_1", **changes: object
) -> Order:
    """A claim settled into an order (and its payment captured)."""
    made = order(n, f"clm_{n:03d}", fan_id, launch_id=launch_id, **changes)
    await store.claims.add(claim(n, fan_id, launch_id=launch_id))
    pay = payment(n, made.claim_id)
    await store.payments.add(pay)
    captured = replace(pay, state=PaymentState.CAPTURED, reference="ch_1", updated_at=at(300))
    await store.claims.settle(made.claim_id, made.paid_at, made, captured)
    return made


# -- the catalogue ---------------------------------------------------------------------------


async def test_products_round_trip_in_creation_order(stores: Stores, store: Store) -> None:
    second, first = product(2, "X"), product(1, "A", "B", "C")
    await store.products.add(first)
    await store.products.add(second)
    changed = replace(
        first,
        name="Lamp, again",
        images=("med_1",),
        skus=(Sku("C", "Now first", Money(5, "EUR"), Money(1, "EUR")), first.skus[0]),
    )
    await store.products.update(changed)  # B removed, C changed and moved first
    store = await stores.reopen()
    assert await store.products.all() == [changed, second]
    assert await store.products.get("prd_2") == second
    assert await store.products.get("prd_9") is None


async def test_launches_round_trip_and_updates_land_in_order(stores: Stores, store: Store) -> None:
    await store.products.add(product())
    made = launch(1, draw_units={"A": 3})
    await store.launches.add(made)
    await store.launches.add(launch(2))
    paused = replace(made, paused_at=at(70), batch={**made.batch, "C": 1})
    cancelled = replace(paused, cancelled_at=at(80))
    await asyncio.gather(store.launches.update(paused), store.launches.update(cancelled))
    store = await stores.reopen()
    launches = await store.launches.all()
    assert launches == [cancelled, launch(2)]
    assert list(launches[0].batch) == ["B", "A", "C"]


async def test_codes_round_trip(stores: Stores, store: Store) -> None:
    await sale(store)
    codes = [
        PriorityCode("CODE1", "lch_1", "A", at(1), expires_at=at(99)),
        PriorityCode("CODE2", "lch_1", "B", at(2), any_sku=True, granted_to="fan_01"),
    ]
    await store.codes.add_many(codes)
    store = await stores.reopen()
    assert await store.codes.all() == codes


# -- fans ------------------------------------------------------------------------------------


async def test_fans_round_trip_and_a_duplicate_email_fails_alone(
    stores: Stores, store: Store
) -> None:
    home = ShippingAddress("Ann", "1 Road", "Ghent", "BE", "+3212345678")
    first = fan(1, address="1 road ghent", shipping=home, locale="nl", time_zone="Europe/Brussels")
    referred = fan(2, referred_by="fan_01", phone="+3212345678")
    results = await asyncio.gather(  # all three queued in one tick: one group commit
        store.fans.add(first),
        store.fans.add(replace(fan(3), email=first.email)),
        store.fans.add(referred),
        return_exceptions=True,
    )
    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], Conflict)
    assert results[1].code == "email_taken"
    await store.fans.add(fan(4))
    store = await stores.reopen()
    assert await store.fans.get("fan_01") == first
    assert await store.fans.get("fan_03") is None
    assert await store.fans.by_email("f2@fans.test") == referred
    assert await store.fans.by_referral_code("REF04") == fan(4)
    assert await store.fans.by_email("nobody@fans.test") is None
    assert await store.fans.referral_pairs() == [("fan_02", "fan_01")]
    assert await store.fans.contacts() == [
        ("fan_01", "1 road ghent", None),
        ("fan_02", None, "+3212345678"),
    ]


async def test_a_fan_update_is_read_back_at_once(stores: Stores, store: Store) -> None:
    await store.fans.add(fan(1))
    assert await store.fans.get("fan_01") == fan(1)  # (now in the SQL stores' memory)
    moved = fan(1, name="Ann B", address="2 road", locale="fr", time_zone="Europe/Paris")
    await store.fans.update(moved)
    assert await store.fans.get("fan_01") == moved
    store = await stores.reopen()
    assert await store.fans.get("fan_01") == moved


async def test_erasing_a_fan(stores: Stores, store: Store) -> None:
    await sale(store)
    drawn = launch(2, drawn_at=at(90))
    await store.launches.add(drawn)
    await store.fans.update(fan(1, address="1 road", phone="+3212345678"))
    home = ShippingAddress("Ann", "1 Road", "Ghent", "BE", "+3212345678")
    await paid(store, 1, shipping=home)
    await store.reservations.add(Reservation("res_1", "lch_1", "fan_01", at(5)))
    await store.reservations.add(Reservation("res_2", "lch_2", "fan_01", at(6), "A"))
    await store.notifications.add_many([Notification("ntf_1", "fan_01", "hi", "Hi", at(7))])
    await store.fans.erase("fan_01", at(500))
    store = await stores.reopen()
    gone = await store.fans.get("fan_01")
    assert gone is not None
    assert (gone.name, gone.email, gone.address, gone.phone) == (
        ERASED_NAME,
        erased_email("fan_01"),
        None,
        None,
    )
    assert gone.erased_at == at(500)
    assert await store.fans.erased() == ["fan_01"]
    assert [o.shipping for o in await store.orders.all()] == [None]
    assert await store.notifications.for_fan("fan_01", 10) == []
    assert [r.id for r in await store.reservations.all()] == ["res_2"]  # the drawn one


# -- the sale --------------------------------------------------------------------------------


async def test_reservations_round_trip_in_order(stores: Stores, store: Store) -> None:
    await sale(store, fans=3)
    made = [  # in the order of their times, as the engine makes them (the fake keeps that)
        Reservation("res_c", "lch_1", "fan_01", at(4)),
        Reservation("res_b", "lch_1", "fan_02", at(5), "A"),
        Reservation("res_a", "lch_1", "fan_03", at(6)),
    ]
    await asyncio.gather(*(store.reservations.add(r) for r in made))
    store = await stores.reopen()
    assert await store.reservations.all() == made


async def test_claims_round_trip_with_codes_and_closing(stores: Stores, store: Store) -> None:
    await sale(store)
    await store.codes.add_many([PriorityCode("CODE1", "lch_1", "B", at(1), any_sku=True)])
    coded = claim(2, priority_code="CODE1", sku="A")
    await asyncio.gather(*(store.claims.add(c) for c in (claim(1), coded, claim(3), claim(4))))
    await store.claims.release_many(["clm_001", "clm_002"], ClaimState.EXPIRED, at(900))
    await store.claims.release_many(["clm_001"], ClaimState.CANCELLED, at(950))  # not held
    made = await paid(store, 5)
    await store.claims.unsell(made.claim_id, at(960))
    await store.claims.unsell("clm_003", at(970))  # held, not paid: unchanged
    store = await stores.reopen()
    claims = {c.id: c for c in await store.claims.all()}
    assert list(claims) == ["clm_001", "clm_002", "clm_003", "clm_004", "clm_005"]
    assert claims["clm_001"] == replace(claim(1), state=ClaimState.EXPIRED, closed_at=at(900))
    assert claims["clm_002"] == replace(coded, state=ClaimState.EXPIRED, closed_at=at(900))
    assert claims["clm_003"] == claim(3)
    assert claims["clm_005"].state is ClaimState.CANCELLED
    assert claims["clm_005"].closed_at == at(960)
    (code,) = await store.codes.all()
    assert (code.redeemed_by_claim, code.sku) == ("clm_002", "A")


async def test_a_claim_that_fails_fails_alone(stores: Stores, store: Store) -> None:
    real_only(stores)
    await sale(store)
    bad = claim(2, quantity=0)  # against the schema's check
    results = await asyncio.gather(
        *(store.claims.add(c) for c in (claim(1), bad, claim(3))), return_exceptions=True
    )
    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], Exception)
    for n in range(4, 14):  # and again: whatever a failed batch left behind does not stay
        good, failed = await asyncio.gather(
            store.claims.add(claim(n)), store.claims.add(claim(1)), return_exceptions=True
        )
        assert good is None
        assert isinstance(failed, Exception)
    store = await stores.reopen()
    assert [c.id for c in await store.claims.all()] == [
        "clm_001",
        *(f"clm_{n:03d}" for n in range(3, 14)),
    ]


async def test_a_release_is_never_durable_after_the_later_claim(
    stores: Stores, store: Store
) -> None:
    """The unit a release freed is taken again in the same tick: both land, in order."""
    await sale(store)
    await store.claims.add(claim(1))
    released = store.claims.release_many(["clm_001"], ClaimState.EXPIRED, at(900))
    again = store.claims.add(claim(2, "fan_02"))
    cancelled = replace(launch(), cancelled_at=at(901))
    updated = store.launches.update(cancelled)
    await asyncio.gather(released, again, updated)
    store = await stores.reopen()
    states = {c.id: c.state for c in await store.claims.all()}
    assert states == {"clm_001": ClaimState.EXPIRED, "clm_002": ClaimState.HELD}
    assert (await store.launches.all())[0].cancelled_at == at(901)


# -- after the sale --------------------------------------------------------------------------


async def test_orders_round_trip(stores: Stores, store: Store) -> None:
    await sale(store)
    second = await paid(store, 2, "fan_02")
    first = await paid(store, 1)
    refunds = (  # part refunds, one whose provider's answer is not recorded yet
        PartRefund("rfd_1", "k1", 250, "scratched", at(398), at(399)),
        PartRefund("rfd_2", "k2", 1, "late", at(399)),
    )
    shipped = replace(
        first,
        status=OrderStatus.SHIPPED,
        shipped_at=at(400),
        carrier="DHL",
        tracking_number="1Z",
        refunds=refunds,
    )
    await store.orders.update([replace(shipped, carrier="UPS"), shipped])  # the last wins
    await store.orders.record_dates([("scheduled", "2030-02-01", "2030-01-30", second.id)])
    events = [
        OrderEvent(first.id, at(400), "shipped", "DHL 1Z"),
        OrderEvent(first.id, at(401), "x", "y"),
    ]
    await store.orders.add_events(events)
    store = await stores.reopen()
    dated = replace(
        second,
        status=OrderStatus.SCHEDULED,
        ship_date=date(2030, 2, 1),
        notified_ship_date=date(2030, 1, 30),
    )
    assert await store.orders.all() == [shipped, dated]
    assert await store.orders.for_fan("fan_02") == [dated]
    assert await store.orders.events(first.id) == events
    assert await store.orders.events(second.id) == []
    page = await store.orders.page(None, 1, OrderFilter())
    assert [(r.order, r.email, r.name) for r in page] == [(shipped, "f1@fans.test", "Fan 1")]
    after = (shipped.paid_at.isoformat(), shipped.id)
    assert [r.order for r in await store.orders.page(after, 5, OrderFilter())] == [dated]
    assert await store.orders.page(None, 5, OrderFilter(status="paid")) == []
    found = await store.orders.page(None, 5, OrderFilter(launch_id="lch_1", sku="A"))
    assert len(found) == 2


async def test_payments_and_webhook_events(stores: Stores, store: Store) -> None:
    await sale(store)
    await store.claims.add(claim(1))
    first, second = payment(2, "clm_001"), payment(1, "clm_001", created_at=at(3))
    await store.payments.add(first)
    await store.payments.add(second)
    declined = replace(first, state=PaymentState.DECLINED, reason="no", updated_at=at(9))
    await store.payments.update(declined)
    assert await store.payments.note_event("test", "evt_1", at(10)) is True
    assert await store.payments.note_event("test", "evt_1", at(11)) is False
    assert await store.payments.note_event("test", "evt_2", at(12)) is True
    store = await stores.reopen()
    assert await store.payments.all() == [declined, second]
    assert await store.payments.last_event_at("test") == at(12)
    assert await store.payments.last_event_at("stripe") is None


async def test_plans_round_trip(stores: Stores, store: Store) -> None:
    await store.products.add(product())
    plan = ProductionPlan(date(2030, 1, 2), 5, (Rate(date(2030, 1, 2), 10),))
    changed = replace(plan, adjustments=(Adjustment(date(2030, 1, 5), -3, "holiday"),))
    await store.plans.put("prd_1", "A", plan, at(1))
    await store.plans.put("prd_1", "B", plan, at(1))
    await store.plans.put("prd_1", "A", changed, at(2))
    store = await stores.reopen()
    assert sorted(await store.plans.all()) == [("prd_1", "A", changed), ("prd_1", "B", plan)]


async def test_notifications_and_the_email_outbox(stores: Stores, store: Store) -> None:
    await store.fans.add(fan(1))
    await store.fans.add(fan(2, rehearsal="run_1"))
    rung: list[str] = []
    store.notifications.on_email(lambda: rung.append("ring"))
    notes = [
        Notification("ntf_1", "fan_01", "a", "A", at(1), {"n": 1}),
        Notification("ntf_2", "fan_01", "b", "B", at(2), email=False),
        Notification("ntf_3", "fan_02", "c", "C", at(3)),  # a rehearsal's fan: never mailed
        Notification("ntf_4", "fan_01", "d", "D", at(4)),
    ]
    await store.notifications.add_many(notes)
    await asyncio.sleep(0)
    assert rung == ["ring"]
    await store.notifications.remember(
        {"opens:lch_1": "5"}, [Notification("ntf_5", "fan_01", "e", "E", at(5))], at(5)
    )
    assert await store.notifications.email_backlog() == 3
    assert await store.notifications.next_email_at() == at(1)
    due = await store.notifications.due_emails(at(4), 10)
    assert [(e.notification.id, e.to, e.name, e.attempts) for e in due] == [
        ("ntf_1", "f1@fans.test", "Fan 1", 0),
        ("ntf_4", "f1@fans.test", "Fan 1", 0),
    ]
    assert due[0].notification == notes[0]
    assert [e.notification.id for e in await store.notifications.due_emails(at(9), 1)] == ["ntf_1"]
    await store.notifications.emails_done(
        [
            EmailOutcome("ntf_1", "sent", 1, at(6)),
            EmailOutcome("ntf_4", "pending", 1, at(6), next_at=at(60), error="busy"),
        ]
    )
    await store.notifications.emails_done([EmailOutcome("ntf_1", "failed", 2, at(7))])  # late
    await store.notifications.emails_done(  # one message twice: each over what the last left
        [
            EmailOutcome("ntf_5", "pending", 1, at(8), next_at=at(70)),
            EmailOutcome("ntf_5", "sent", 2, at(9)),
        ]
    )
    store = await stores.reopen()
    assert await store.notifications.email_counts() == {"sent": 2, "pending": 1, "none": 2}
    assert await store.notifications.next_email_at() == at(60)
    assert [e.notification.id for e in await store.notifications.due_emails(at(59), 5)] == []
    assert [e.attempts for e in await store.notifications.due_emails(at(60), 5)] == [1]
    newest = await store.notifications.for_fan("fan_01", 2)
    assert [n.id for n in newest] == ["ntf_5", "ntf_4"]
    assert [n.email for n in await store.notifications.for_fan("fan_02", 5)] == [False]
    assert await store.notifications.reminders() == {"opens:lch_1": "5"}


async def test_audit_newest_first(stores: Stores, store: Store) -> None:
    entries = [AuditEntry(at(n), "admin:x", f"act.{n}", "lch_1", {"n": n}) for n in range(3)]
    for entry in entries:
        await store.audit.add(entry)
    store = await stores.reopen()
    assert await store.audit.recent(2) == [entries[2], entries[1]]


# -- targeted reads: what the engine loads of its live launches ------------------------------


async def test_claims_of_launches_of_a_fan_and_their_tally(stores: Stores, store: Store) -> None:
    await sale(store, fans=3)
    for n in (2, 3):
        await store.launches.add(launch(n))
    made = [
        claim(1),
        claim(2, "fan_02", launch_id="lch_2", quantity=2),
        claim(3, "fan_02", sku="B", quantity=3),
        claim(5, "fan_03"),
        claim(4, created_at=at(105)),  # written after 5, made at the same time: by id
        claim(6, "fan_03", launch_id="lch_3"),
        claim(7, "fan_02", quantity=2),
    ]
    for made_claim in made:
        await store.claims.add(made_claim)
    await store.claims.release_many(["clm_001", "clm_002"], ClaimState.EXPIRED, at(900))
    await store.claims.release_many(["clm_003"], ClaimState.CANCELLED, at(910))
    await paid(store, 8, "fan_03")
    unsold = await paid(store, 9)
    await store.claims.unsell(unsold.claim_id, at(920))
    store = await stores.reopen()
    assert await store.claims.get("clm_003") == replace(
        made[2], state=ClaimState.CANCELLED, closed_at=at(910)
    )
    assert await store.claims.get("clm_404") is None
    first = await store.claims.of_launches(["lch_1"])
    assert [c.id for c in first] == [f"clm_{n:03d}" for n in (1, 3, 4, 5, 7, 8, 9)]
    assert first[0] == replace(made[0], state=ClaimState.EXPIRED, closed_at=at(900))
    assert [(c.id, c.state) for c in first[-2:]] == [
        ("clm_008", ClaimState.PAID),
        ("clm_009", ClaimState.CANCELLED),
    ]
    others = await store.claims.of_launches(("lch_2", "lch_3", "lch_9"))
    assert [c.id for c in others] == ["clm_002", "clm_006"]
    assert await store.claims.of_launches([]) == []
    assert await store.claims.of_launches({"lch_9"}) == []
    assert [c.id for c in await store.claims.for_fan("fan_02")] == [
        "clm_002",
        "clm_003",
        "clm_007",
    ]
    assert await store.claims.for_fan("fan_99") == []
    tally = await store.claims.tally()
    assert {type(n) for t in tally for n in (t.claims, t.units)} == {int}  # no Decimal
    assert tally == [
        ClaimTally("lch_1", "A", ClaimState.CANCELLED, 1, 1),  # sold, then refunded
        ClaimTally("lch_1", "A", ClaimState.EXPIRED, 1, 1),
        ClaimTally("lch_1", "A", ClaimState.HELD, 3, 4),
        ClaimTally("lch_1", "A", ClaimState.PAID, 1, 1),
        ClaimTally("lch_1", "B", ClaimState.CANCELLED, 1, 3),
        ClaimTally("lch_2", "A", ClaimState.EXPIRED, 1, 2),
        ClaimTally("lch_3", "A", ClaimState.HELD, 1, 1),
    ]


async def test_a_tally_of_no_claims_is_empty(store: Store) -> None:
    assert await store.claims.tally() == []
    assert await store.orders.in_queue() == []
    assert await store.payments.unsettled() == []


async def test_orders_of_launches_by_claim_and_in_the_queue(stores: Stores, store: Store) -> None:
    await sale(store)
    await store.launches.add(launch(2))
    first = await paid(store, 1)
    other = await paid(store, 2, "fan_02", launch_id="lch_2")
    shipped = await paid(store, 3)
    refunded = await paid(store, 4, "fan_02")
    early = await paid(store, 5, paid_at=at(150))  # written last, paid first
    await store.claims.add(claim(6))  # held: no order
    await store.orders.update(
        [
            replace(shipped, status=OrderStatus.SHIPPED, shipped_at=at(400), carrier="DHL"),
            replace(refunded, status=OrderStatus.REFUNDED, refunded_at=at(401)),
        ]
    )
    await store.orders.record_dates([("scheduled", "2030-02-01", None, first.id)])
    store = await stores.reopen()
    scheduled = replace(first, status=OrderStatus.SCHEDULED, ship_date=date(2030, 2, 1))
    assert await store.orders.get(first.id) == scheduled
    assert await store.orders.get("ord_404") is None
    assert await store.orders.for_claim("clm_002") == other
    assert await store.orders.for_claim("clm_006") is None
    assert await store.orders.for_claim("clm_404") is None
    of_first = await store.orders.of_launches(["lch_1"])
    assert [o.id for o in of_first] == ["ord_5", "ord_1", "ord_3", "ord_4"]
    assert [o.status for o in of_first[2:]] == [OrderStatus.SHIPPED, OrderStatus.REFUNDED]
    assert await store.orders.of_launches(("lch_2", "lch_9")) == [other]
    assert await store.orders.of_launches([]) == []
    assert await store.orders.in_queue() == [early, scheduled, other]
    assert await store.orders.counts() == {"lch_1": 4, "lch_2": 1}
    # (ord_3's units are spent, whether refunded afterwards or not; ord_4 never shipped)
    assert await store.orders.shipped() == [("lch_1", "A", shipped.quantity)]
    assert await store.orders.returned() == []  # (ord_4 was refunded before it shipped)
    back = replace(shipped, status=OrderStatus.REFUNDED, shipped_at=at(400), refunded_at=at(500))
    await store.orders.update([back])
    store = await stores.reopen()
    assert await store.orders.returned() == [("lch_1", "A", shipped.quantity)]
    assert await store.orders.shipped() == [("lch_1", "A", shipped.quantity)]


async def test_orders_of_referred_fans(stores: Stores, store: Store) -> None:
    await store.products.add(product())
    await store.launches.add(launch())
    await store.fans.add(fan(1))
    await store.fans.add(fan(2, referred_by="fan_01"))
    await store.fans.add(fan(3, referred_by="fan_01"))
    own = await paid(store, 1)  # fan 1 was referred by nobody
    late = await paid(store, 2, "fan_02", paid_at=at(260))
    early = await paid(store, 3, "fan_03", paid_at=at(250))
    refunded = await paid(store, 4, "fan_02")
    await store.orders.update([replace(refunded, status=OrderStatus.REFUNDED, refunded_at=at(9))])
    store = await stores.reopen()
    assert own.fan_id == "fan_01"
    assert await store.orders.referred() == [(early.id, "fan_03"), (late.id, "fan_02")]
    assert await store.orders.counts() == {"lch_1": 4}
    assert await store.orders.shipped() == []


async def test_payments_of_claims_of_launches_and_unsettled(stores: Stores, store: Store) -> None:
    await sale(store)
    await store.launches.add(launch(2))
    for made_claim in (claim(1), claim(2, launch_id="lch_2"), claim(3)):
        await store.claims.add(made_claim)
    made = [
        payment(1, "clm_001", created_at=at(5)),  # written first, made with pay_5: by id
        payment(2, "clm_001", state=PaymentState.DECLINED, reason="no"),
        payment(3, "clm_003", state=PaymentState.AUTHORIZED, reference="ch_3"),
        payment(4, "clm_002"),
        payment(5, "clm_003", state=PaymentState.CAPTURED, reference="ch_5"),
        payment(6, "clm_002", state=PaymentState.REFUNDED, reason="gone"),
        payment(7, "clm_003", state=PaymentState.FAILED, reason="stopped"),
    ]
    for record in made:
        await store.payments.add(record)
    authorized = replace(
        made[3], state=PaymentState.AUTHORIZED, reference="ch_4", updated_at=at(20)
    )
    await store.payments.update(authorized)  # still awaited
    await store.payments.update(replace(made[2], state=PaymentState.CAPTURED, updated_at=at(21)))
    store = await stores.reopen()
    assert await store.payments.get("pay_4") == authorized
    assert await store.payments.get("pay_404") is None
    of_two = await store.payments.of_claims(["clm_003", "clm_001"])
    assert [p.id for p in of_two] == ["pay_2", "pay_3", "pay_1", "pay_5", "pay_7"]
    assert of_two[0] == made[1]
    many = [f"clm_{n:05d}" for n in range(3000)] + ["clm_002"]  # none of the others exist
    assert [p.id for p in await store.payments.of_claims(many)] == ["pay_4", "pay_6"]
    assert await store.payments.of_claims([]) == []
    assert [p.id for p in await store.payments.of_launches(["lch_2"])] == ["pay_4", "pay_6"]
    both = await store.payments.of_launches({"lch_1", "lch_2", "lch_9"})
    assert [p.id for p in both] == [f"pay_{n}" for n in (2, 3, 4, 1, 5, 6, 7)]
    assert await store.payments.of_launches([]) == []
    assert await store.payments.of_launches(["lch_9"]) == []
    assert await store.payments.unsettled() == [authorized, made[0]]


async def test_reservations_and_codes_of_launches(stores: Stores, store: Store) -> None:
    await sale(store, fans=3)
    await store.launches.add(launch(2))
    made = [
        Reservation("res_c", "lch_1", "fan_01", at(4)),
        Reservation("res_b", "lch_2", "fan_01", at(5), "A"),
        Reservation("res_a", "lch_1", "fan_02", at(6)),
    ]
    for reservation in made:
        await store.reservations.add(reservation)
    codes = [
        PriorityCode("CODE1", "lch_2", "A", at(1)),
        PriorityCode("CODE2", "lch_1", "B", at(2), granted_to="fan_03"),
        PriorityCode("CODE3", "lch_1", "A", at(3), expires_at=at(99)),
    ]
    await store.codes.add_many(codes)
    await store.claims.add(claim(1, priority_code="CODE3"))  # spends it
    store = await stores.reopen()
    assert await store.reservations.of_launches(["lch_1"]) == [made[0], made[2]]
    assert await store.reservations.of_launches(("lch_2", "lch_9")) == [made[1]]
    assert await store.reservations.of_launches([]) == []
    assert await store.reservations.for_fan("fan_01") == [made[0], made[1]]
    assert await store.reservations.for_fan("fan_03") == []
    assert await store.reservations.counts() == {"lch_1": 2, "lch_2": 1}
    spent = replace(codes[2], redeemed_by_claim="clm_001")
    assert await store.codes.of_launches(["lch_1"]) == [codes[1], spent]
    assert await store.codes.of_launches({"lch_2", "lch_9"}) == [codes[0]]
    assert await store.codes.of_launches([]) == []


# -- the shop around the sale ----------------------------------------------------------------


async def test_media_shop_and_links(stores: Stores, store: Store) -> None:
    item = MediaItem("med_1", "image/png", 2, 3, b"\x89PNG\x00\xff", at(1))
    await store.media.add(item)
    await store.media.add(replace(item, width=9))  # the same id: nothing changes
    assert await store.shop.get() == Shop()
    await store.shop.put(Shop(name="Lamps", tagline="Light", logo="med_1"))
    assert await store.links.use("key_1", at(100), at(1)) is True
    assert await store.links.use("key_1", at(100), at(2)) is False
    assert await store.links.use("key_2", at(10), at(3)) is True
    assert await store.links.use("key_3", at(100), at(50)) is True  # key_2 expired: forgotten
    store = await stores.reopen()
    assert await store.media.get("med_1") == item
    assert await store.media.get("med_2") is None
    assert await store.shop.get() == Shop(name="Lamps", tagline="Light", logo="med_1")
    assert await store.links.spent("key_1") is True
    assert await store.links.spent("key_2") is False
    assert await store.links.use("key_1", at(100), at(60)) is False


async def test_secrets_are_made_once_and_kept(stores: Stores, store: Store) -> None:
    made = await store.secret("token-signing")
    assert len(made) == 32
    assert await store.secret("token-signing") == made
    assert await store.secret("other") != made
    store = await stores.reopen()
    assert await store.secret("token-signing") == made


async def test_rehearsals_marks_and_purge(stores: Stores, store: Store) -> None:
    await sale(store, fans=1)
    await store.products.add(replace(product(2), rehearsal="run_1"))
    await store.launches.add(launch(2, product_id="prd_2", rehearsal="run_1"))
    await store.fans.add(fan(2, rehearsal="run_1"))
    await store.fans.add(fan(3, rehearsal="run_1", referred_by="fan_02"))
    await store.claims.add(claim(1, "fan_02", launch_id="lch_2"))
    await store.codes.add_many([PriorityCode("CODE9", "lch_2", "A", at(1))])
    await store.reservations.add(Reservation("res_9", "lch_2", "fan_02", at(5)))
    await store.notifications.add_many([Notification("ntf_9", "fan_02", "a", "A", at(1))])
    await store.plans.put("prd_2", "A", ProductionPlan(date(2030, 1, 2)), at(1))
    assert sorted(await store.rehearsals.marks()) == [("fan_02", "run_1"), ("fan_03", "run_1")]
    assert await store.rehearsals.real_fans() == 1
    record = RunRecord(
        "run_1",
        launch_ids=("lch_2",),
        product_ids=("prd_2",),
        fan_ids=("fan_02", "fan_03"),
        claim_ids=("clm_001",),
        secrets=("draw:lch_2",),
    )
    await store.rehearsals.purge(record)
    store = await stores.reopen()
    assert await store.rehearsals.marks() == []
    assert [p.id for p in await store.products.all()] == ["prd_1"]
    assert [launch.id for launch in await store.launches.all()] == ["lch_1"]
    assert await store.claims.all() == []
    assert await store.codes.all() == []
    assert await store.reservations.all() == []
    assert await store.plans.all() == []
    assert await store.fans.get("fan_02") is None


# -- who may get in --------------------------------------------------------------------------


def account(n: int, email: str | None = None) -> AdminAccount:
    return AdminAccount(
        f"acc_{n}", email or f"a{n}@shop.test", f"Admin {n}", Role.STAFF, "hash", at(n), "owner"
    )


async def test_team_accounts_and_invites(stores: Stores, store: Store) -> None:
    await store.team.add(account(1))
    with pytest.raises(Conflict) as taken:
        await store.team.add(account(2, "a1@shop.test"))
    assert taken.value.code == "email_taken"
    await store.team.add(account(3))
    promoted = replace(account(3), role=Role.OWNER, name="Boss", password_hash="new")
    await store.team.update(promoted)
    invites = [
        Invite(f"inv_{n}", f"i{n}@shop.test", Role.STAFF, "owner", at(n), at(100 + n))
        for n in range(1, 5)
    ]
    for invite in invites:
        await store.team.invite(invite)
    await store.team.cancel("inv_2")
    assert await store.team.accept("inv_1", account(4, "i1@shop.test"), at(50)) is True
    assert await store.team.accept("inv_1", account(5), at(51)) is False  # used
    assert await store.team.accept("inv_3", account(6), at(200)) is False  # expired
    with pytest.raises(Conflict):  # the e-mail is taken: the invite stays open
        await store.team.accept("inv_4", account(7, "a1@shop.test"), at(52))
    await store.team.remove("acc_1")
    store = await stores.reopen()
    assert await store.team.accounts() == [promoted, account(4, "i1@shop.test")]
    assert [i.id for i in await store.team.invites()] == ["inv_3", "inv_4"]


async def test_the_makers_emails_go_to_team_accounts_that_want_them(
    stores: Stores, store: Store
) -> None:
    """A notification whose `fan_id` is a team account's is mailed to the account's address
    (not to a member who turned the maker's e-mails off); removing the member drops what
    is still pending for them."""
    await store.fans.add(fan(1))
    await store.team.add(account(1))
    await store.team.add(account(2))
    await store.team.update(replace(account(2), maker_mail=False))
    await store.notifications.add_many(
        [
            Notification("ntf_1", "acc_1", "team_sold_out", "Sold out", at(1), {"n": 1}),
            Notification("ntf_2", "acc_2", "team_sold_out", "Sold out", at(1), {"n": 1}),
            Notification("ntf_3", "fan_01", "a", "A", at(2)),
            Notification("ntf_4", "acc_9", "team_sold_out", "Sold out", at(3)),  # no one
        ]
    )
    store = await stores.reopen()
    assert [a.maker_mail for a in await store.team.accounts()] == [True, False]
    due = await store.notifications.due_emails(at(9), 10)
    assert [(e.notification.id, e.to, e.name, e.locale) for e in due] == [
        ("ntf_1", "a1@shop.test", "Admin 1", None),
        ("ntf_3", "f1@fans.test", "Fan 1", None),
    ]
    assert await store.notifications.next_email_at() == at(1)
    await store.team.remove("acc_1")
    assert [e.notification.id for e in await store.notifications.due_emails(at(9), 10)] == ["ntf_3"]
    assert await store.notifications.email_backlog() == 1


async def test_sessions_and_token_generations(stores: Stores, store: Store) -> None:
    sessions = [
        Session("d1", SessionKind.FAN, "fan_01", at(1), at(100)),
        Session("d2", SessionKind.ADMIN, "acc_1", at(2), at(10)),
        Session("d3", SessionKind.FAN, "fan_02", at(3), at(100)),
    ]
    for session in sessions:
        await store.sessions.add(session)
    assert sorted(s.digest for s in await store.sessions.live(at(5))) == ["d1", "d2", "d3"]
    await store.sessions.end(["d1"], at(20))  # and d2, expired, is forgotten
    await store.sessions.set_generation("fan_01", 1, at(1))
    await store.sessions.set_generation("fan_01", 2, at(2))
    await store.sessions.set_generation("fan_02", 1, at(3))
    store = await stores.reopen()
    assert await store.sessions.live(at(5)) == [sessions[2]]
    assert sorted(await store.sessions.generations()) == [("fan_01", 2), ("fan_02", 1)]


async def test_the_ideas_board_records_and_marks(stores: Stores, store: Store) -> None:
    idea = Idea("ida_1", "prd_1", "fan_1", IdeaKind.IDEA, "Dark mode", "*please*", "ui", at(0))
    poll = Poll("pol_1", "prd_1", "Which?", (PollOption("1", "Black", "A"),), at(1), at(99))
    await store.board.write(
        [
            BoardPut(idea, at(0)),
            BoardMark("ida_1", "fan_1", "", at(0)),
            BoardMark("ida_1", "fan_2", "", at(2)),
            BoardPut(poll, at(1)),
            BoardMark("pol_1", "fan_2", "1", at(3)),
        ]
    )
    shipped = replace(idea, status=IdeaStatus.SHIPPED, release_id="rls_1")
    async with store.transaction() as tx:  # a change in a block, beside a notification
        tx.board.write([BoardPut(shipped, at(4)), BoardUnmark("ida_1", "fan_2")])
        tx.notifications.add_many([Notification("ntf_b", "fan_1", "idea_shipped", "!", at(4))])
    await store.board.write([BoardMark("pol_1", "fan_2", "2", at(5))])  # an answer changed
    loaded = await (await stores.reopen()).board.load()
    assert loaded.records == [poll, shipped]
    assert [(m.subject, m.fan_id, m.value, m.at) for m in loaded.marks] == [
        ("ida_1", "fan_1", "", at(0)),
        ("pol_1", "fan_2", "2", at(5)),
    ]
