"""A rehearsal beside a real shop: its made-up product, fans, launch, claims and orders are
marked with the run's id, unreachable for real fans (and the real shop for them), out of
the real shop's orders, exports, margins, referral tops and duplicate-buyer groups, and
removed whole while the server runs.

In-process (httpx over ASGI, a fake clock), on the memory store and on SQLite; the end of
the file runs `soldout rehearse` itself against a server process holding a real sale.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from soldout.api.app import build_app
from soldout.clock import FakeClock
from soldout.rehearsal.command import rehearse
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from soldout.store.sqlite import SqliteStore
from tests.support import (
    ADMIN_TOKEN,
    ServerProcess,
    create_launch,
    error,
    register,
    shipping_address,
)

ADMIN = "adm_in_process_token"
ORIGIN = "http://soldout.test"
HOME = "1 Main Street, Springfield"  # a real fan's address, which made-up fans share too
RUN = "run1"


@dataclass
class Shop:
    platform: Platform
    clock: FakeClock
    http: httpx.AsyncClient
    real_launch: str = ""
    real_product: str = ""
    real_fans: list[dict[str, Any]] = field(default_factory=list)

    @property
    def admin(self) -> dict[str, str]:
        return {"authorization": f"Bearer {ADMIN}"}

    async def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        answer = await self.http.request(method, path, **kw)
        assert answer.status_code == status, answer.text
        return answer.json()

    async def product(self, path: str = "/api/v1/products") -> str:
        skus = [
            {"code": c, "name": c, "price": 2500, "cost": 1500, "currency": "EUR"}
            for c in ("A", "B")
        ]
        made = await self.ok(
            "POST", path, 201, headers=self.admin, json={"name": "Model One", "skus": skus}
        )
        return str(made["id"])

    async def launch(
        self, product_id: str, path: str = "/api/v1/launches", **rules: Any
    ) -> dict[str, Any]:
        body = {
            "product_id": product_id,
            "title": "a launch",
            "sale_opens_at": (self.clock.now() - timedelta(seconds=1)).isoformat(),
            "batch": {"A": 5, "B": 5},
            "race": "fast",
            **rules,
        }
        made: dict[str, Any] = await self.ok("POST", path, 201, headers=self.admin, json=body)
        return made

    async def fan(self, path: str = "/api/v1/fans", **extra: Any) -> dict[str, Any]:
        body = {"email": f"{uuid.uuid4().hex[:10]}@fans.test", "name": "A fan", **extra}
        real = path == "/api/v1/fans"
        if real:  # a real fan's orders need somewhere to ship (a rehearsal's never ship)
            body.setdefault("shipping", shipping_address())
        headers = {} if real else self.admin
        made: dict[str, Any] = await self.ok("POST", path, 201, headers=headers, json=body)
        return made

    async def claim(self, fan: dict[str, Any], launch_id: str, sku: str = "A") -> httpx.Response:
        return await self.http.post(
            f"/api/v1/launches/{launch_id}/claims",
            json={"sku": sku},
            headers={
                "authorization": f"Bearer {fan['token']}",
                "idempotency-key": uuid.uuid4().hex,
            },
        )

    async def buy(self, fan: dict[str, Any], launch_id: str, sku: str = "A") -> str:
        held = await self.claim(fan, launch_id, sku)
        assert held.status_code == 201, held.text
        paid = await self.ok(
            "POST",
            f"/api/v1/claims/{held.json()['id']}/payment",
            json={"method": "test", "token": "tok_ok"},
            headers={
                "authorization": f"Bearer {fan['token']}",
                "idempotency-key": uuid.uuid4().hex,
            },
        )
        return str(paid["id"])


async def _shop(platform: Platform, clock: FakeClock, *, seed: bool = True) -> AsyncIterator[Shop]:
    """The platform served in-process; `seed`: first make the real shop (a launch, two
    fans, one referred by the other, who each buy)."""
    await platform.start(sweep=False)
    transport = httpx.ASGITransport(app=build_app(platform))
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as http:
        shop = Shop(platform, clock, http)
        if seed:
            shop.real_product = await shop.product()
            shop.real_launch = (await shop.launch(shop.real_product, title="Real"))["id"]
            first = await shop.fan(address=HOME)
            second = await shop.fan(referral_code=first["referral_code"])
            shop.real_fans = [first, second]
            await shop.buy(first, shop.real_launch, "A")
            await shop.buy(second, shop.real_launch, "B")
        try:
            yield shop
        finally:
            await platform.stop()


def _platform(store: Any, clock: FakeClock) -> Platform:
    return Platform(store, TokenSigner(b"k" * 32, ADMIN), clock=clock)


@pytest.fixture(params=["memory", "sqlite"])
async def shop(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Shop]:
    clock = FakeClock()
    store = InMemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.db")
    async for made in _shop(_platform(store, clock), clock):
        yield made


@dataclass
class Run:
    launch_id: str
    product_id: str
    fans: list[dict[str, Any]]
    orders: list[str]


async def rehearse_in(shop: Shop, run: str = RUN) -> Run:
    """What `soldout rehearse` makes, through the same API: a product, fans (two at the real
    fan's address, two referred by another made-up fan), a launch that refuses accounts
    beyond one per address, three paid orders and a held claim."""
    base = f"/api/v1/rehearsals/{run}"
    product = await shop.product(f"{base}/products")
    launch = await shop.launch(
        product, f"{base}/launches", title="Rehearsal", duplicate_rule="cancel", duplicate_limit=2
    )
    leader = await shop.fan(f"{base}/fans")
    fans = [
        leader,
        await shop.fan(f"{base}/fans", referral_code=leader["referral_code"]),
        await shop.fan(f"{base}/fans", referral_code=leader["referral_code"]),
        await shop.fan(f"{base}/fans", address=HOME),
        await shop.fan(f"{base}/fans", address=HOME),
    ]
    orders = [await shop.buy(f, launch["id"]) for f in fans[1:4]]
    held = await shop.claim(fans[0], launch["id"], "B")
    assert held.status_code == 201, held.text
    return Run(launch["id"], product, fans, orders)


async def real_books(shop: Shop) -> dict[str, Any]:
    """What the maker reads about the real shop: orders, export, margin, referrers,
    duplicate groups, the public list."""
    admin = shop.admin
    export = await shop.http.get("/api/v1/orders.csv", headers=admin)
    assert export.status_code == 200
    return {
        "orders": await shop.ok("GET", "/api/v1/orders", headers=admin),
        "export": export.text,
        "margin": await shop.ok(
            "GET", f"/api/v1/launches/{shop.real_launch}/margin", headers=admin
        ),
        "top": await shop.ok("GET", "/api/v1/referrals/top", headers=admin),
        "tree": await shop.ok(
            "GET", f"/api/v1/referrals/tree/{shop.real_fans[0]['id']}", headers=admin
        ),
        "duplicates": await shop.ok(
            "GET", f"/api/v1/launches/{shop.real_launch}/duplicates", headers=admin
        ),
        "public": [launch["id"] for launch in await shop.ok("GET", "/api/v1/launches")],
    }


# -- apart while it runs ---------------------------------------------------------------


async def test_a_rehearsal_and_the_real_shop_cannot_reach_each_other(shop: Shop) -> None:
    run = await rehearse_in(shop)
    real_fan, made_up = shop.real_fans[0], run.fans[4]  # (one who holds nothing yet)
    rid, real = run.launch_id, shop.real_launch

    def as_fan(fan: dict[str, Any]) -> dict[str, str]:
        return {"authorization": f"Bearer {fan['token']}"}

    # Nobody but the run's own fans and the admin sees its launch.
    assert rid not in [x["id"] for x in await shop.ok("GET", "/api/v1/launches")]
    for headers in ({}, as_fan(real_fan)):
        assert error(await shop.http.get(f"/api/v1/launches/{rid}", headers=headers)) == (
            404,
            "not_found",
            None,
        )
    seen = await shop.ok("GET", f"/api/v1/launches/{rid}", headers=as_fan(made_up))
    assert seen["rehearsal"] == RUN
    assert (await shop.ok("GET", f"/api/v1/launches/{rid}", headers=shop.admin))["id"] == rid
    assert (await shop.http.get(f"/launches/{rid}")).status_code == 404  # the storefront
    # A real fan can neither buy, queue, solve, nor reserve there; a made-up fan not at
    # the real launch (a real unit must never go to a rehearsal).
    assert error(await shop.claim(real_fan, rid)) == (404, "not_found", None)
    assert error(await shop.claim(made_up, real)) == (404, "not_found", None)
    for path in ("waiting-room", "challenge", "reservations"):
        for fan, launch in ((real_fan, rid), (made_up, real)):
            answer = await shop.http.post(f"/api/v1/launches/{launch}/{path}", headers=as_fan(fan))
            assert error(answer)[:2] == (404, "not_found"), (path, answer.text)
    assert (await shop.claim(made_up, rid, "A")).status_code == 201


async def test_only_the_admin_makes_a_rehearsals_data(shop: Shop) -> None:
    run = await rehearse_in(shop)
    fan_token = {"authorization": f"Bearer {shop.real_fans[0]['token']}"}
    body = {"email": "me@fans.test", "name": "Me"}
    made_up = await shop.http.post(f"/api/v1/rehearsals/{RUN}/fans", json=body, headers=fan_token)
    assert error(made_up) == (403, "forbidden", None)
    assert error(await shop.http.post(f"/api/v1/rehearsals/{RUN}/fans", json=body))[0] == 401
    marked = await shop.http.post("/api/v1/fans", json={**body, "rehearsal": RUN})
    assert error(marked) == (422, "invalid", "rehearsal")
    assert error(await shop.http.get("/api/v1/rehearsals", headers=fan_token))[0] == 403
    # Referral codes do not cross: a made-up fan cannot credit a real one, nor the reverse.
    crossing = [
        (f"/api/v1/rehearsals/{RUN}/fans", shop.real_fans[0]["referral_code"]),
        ("/api/v1/fans", run.fans[0]["referral_code"]),
    ]
    for path, code in crossing:
        answer = await shop.http.post(
            path, json={"email": f"{uuid.uuid4().hex}@f.test", "name": "x", "referral_code": code},
            headers=shop.admin if "rehearsals" in path else {},
        )  # fmt: skip
        assert error(answer) == (422, "invalid", "referral_code"), path
    # A rehearsal sells its own product, a real launch a real one: a rehearsal's orders
    # never join a real production queue (nor move a real fan's ship date).
    for product, path in (
        (shop.real_product, f"/api/v1/rehearsals/{RUN}/launches"),
        (run.product_id, "/api/v1/launches"),
    ):
        body = {"product_id": product, "title": "x", "batch": {"A": 1}}
        body["sale_opens_at"] = shop.clock.now().isoformat()
        answer = await shop.http.post(path, json=body, headers=shop.admin)
        assert error(answer) == (422, "rehearsal_product", "product_id"), path
    fan = {"email": "odd@fans.test", "name": "Odd"}
    bad_run = await shop.http.post("/api/v1/rehearsals/a%20b/fans", json=fan, headers=shop.admin)
    assert error(bad_run) == (422, "invalid", "run")


async def test_a_rehearsal_stays_out_of_the_real_books(shop: Shop) -> None:
    before = await real_books(shop)
    run = await rehearse_in(shop)
    assert await real_books(shop) == before  # orders, export, margin, referrers, groups
    assert len(before["orders"]["orders"]) == 2
    # The rehearsal's own launch still lists its orders, and its own duplicate groups:
    # the two made-up fans at the real fan's address (and only they: the real fan is not
    # counted in a rehearsal, nor they in the real launch).
    listed = await shop.ok("GET", f"/api/v1/orders?launch_id={run.launch_id}", headers=shop.admin)
    assert sorted(o["id"] for o in listed["orders"]) == sorted(run.orders)
    # Two made-up fans share the real fan's address: the limit is two, so a group only if
    # the real fan were counted in the rehearsal (and the real launch's groups are as
    # before, above: they are not counted there either).
    groups = await shop.ok(
        "GET", f"/api/v1/launches/{run.launch_id}/duplicates", headers=shop.admin
    )
    assert groups["groups"] == []
    top = await shop.ok("GET", f"/api/v1/referrals/top?rehearsal={RUN}", headers=shop.admin)
    assert [(t["fan_id"], t["referred_paid_orders"]) for t in top] == [(run.fans[0]["id"], 2)]
    overview = await shop.ok("GET", "/api/v1/rehearsals", headers=shop.admin)
    assert overview["real"] == {"products": 1, "launches": 1, "fans": 2, "orders": 2}
    assert [
        (r["run"], r["launches"], r["products"], r["fans"], r["orders"], r["claims"])
        for r in overview["runs"]
    ] == [(RUN, 1, 1, 5, 3, 4)]


async def test_the_admin_lists_a_rehearsal_apart_and_never_as_a_fans_page(shop: Shop) -> None:
    run = await rehearse_in(shop)
    admin = shop.http
    signed = await admin.post("/admin/signin", data={"token": ADMIN}, headers={"origin": ORIGIN})
    assert signed.status_code == 303
    page = (await admin.get("/admin/launches")).text
    real_part, _, rehearsal_part = page.partition('id="rehearsals"')
    assert f"/admin/launches/{shop.real_launch}" in real_part
    assert f'href="/launches/{shop.real_launch}"' in real_part  # its storefront page
    assert run.launch_id not in real_part
    assert f"/admin/launches/{run.launch_id}" in rehearsal_part
    assert f'href="/launches/{run.launch_id}"' not in page  # fans never see it
    assert "never shown to fans" in rehearsal_part
    assert f"/admin/rehearsals/{RUN}/remove" in page


# -- removal -----------------------------------------------------------------------------


async def test_removing_a_rehearsal_leaves_exactly_the_real_shop(shop: Shop) -> None:
    before = await real_books(shop)
    run = await rehearse_in(shop)
    engine = shop.platform.engine
    removal = await shop.ok("DELETE", f"/api/v1/rehearsals/{RUN}", headers=shop.admin)
    assert removal == {
        "run": RUN,
        "launches": 1,
        "products": 1,
        "fans": 5,
        "claims": 4,
        "orders": 3,
        "payments": 3,
        "refunds_failed": 0,
    }
    assert await real_books(shop) == before
    overview = await shop.ok("GET", "/api/v1/rehearsals", headers=shop.admin)
    assert overview == {"real": {"products": 1, "launches": 1, "fans": 2, "orders": 2}, "runs": []}
    # Gone from memory: launches, claims, orders, payments, held claims, fans' marks.
    assert [b.launch.id for b in engine.books()] == [shop.real_launch]
    assert {o.launch_id for o in engine.orders.all()} == {shop.real_launch}
    assert len(engine.checkout.all()) == 2
    assert engine.ledger.all_held() == []
    assert engine.rehearsals.runs() == {}
    # Gone from the record: the product, the fans; the money went back at the provider.
    store = shop.platform.store
    assert [p.id for p in await store.products.all()] == [shop.real_product]
    assert await store.fans.get(run.fans[0]["id"]) is None
    assert await store.notifications.for_fan(run.fans[1]["id"], 10) == []
    reconciliation = await shop.ok("GET", "/api/v1/reconciliation", headers=shop.admin)
    assert (reconciliation["ok"], reconciliation["mismatches"]) == (True, [])
    # A removed fan's token still verifies, but reaches nothing: never a real unit.
    assert error(await shop.claim(run.fans[1], shop.real_launch))[:2] == (404, "not_found")
    assert error(await shop.claim(run.fans[1], run.launch_id))[:2] == (404, "not_found")
    # Twice removes nothing; the removal is in the audit log.
    again = await shop.ok("DELETE", f"/api/v1/rehearsals/{RUN}", headers=shop.admin)
    assert (again["launches"], again["fans"], again["orders"]) == (0, 0, 0)
    logged = [e for e in await store.audit.recent(20) if e.action == "rehearsal.remove"]
    assert [e.subject for e in logged] == [RUN, RUN]
    assert logged[-1].detail["orders"] == 3


async def test_removing_a_drawn_rehearsal_forgets_its_draw_and_its_seed() -> None:
    clock = FakeClock()
    store = InMemoryStore()
    async for shop in _shop(_platform(store, clock), clock):
        base = f"/api/v1/rehearsals/{RUN}"
        product = await shop.product(f"{base}/products")
        draw = await shop.launch(
            product,
            f"{base}/launches",
            mode="draw",
            sale_opens_at=(clock.now() + timedelta(seconds=60)).isoformat(),
            batch={"A": 1},
        )
        fans = [await shop.fan(f"{base}/fans") for _ in range(3)]
        for fan in fans:
            entered = await shop.http.post(
                f"/api/v1/launches/{draw['id']}/reservations",
                json={"sku": "A"},
                headers={"authorization": f"Bearer {fan['token']}"},
            )
            assert entered.status_code == 201, entered.text
        seed = f"draw-seed:{draw['id']}"
        assert seed in store.secrets
        clock.advance(61)
        await shop.platform.engine.expire_due()  # the draw: one winner holds the unit
        assert len(shop.platform.engine.ledger.all_held()) == 1
        removal = await shop.ok("DELETE", base, headers=shop.admin)
        assert (removal["launches"], removal["fans"], removal["claims"]) == (1, 3, 1)
        assert seed not in store.secrets
        assert shop.platform.engine.ledger.all_held() == []
        assert await shop.platform.engine.expire_due() == 0  # nothing of it left to wake for
        assert [r.launch_id for r in await store.reservations.all()] == []
        reconciliation = await shop.ok("GET", "/api/v1/reconciliation", headers=shop.admin)
        assert (reconciliation["ok"], reconciliation["mismatches"]) == (True, [])


async def test_a_restart_keeps_a_rehearsal_apart_and_a_removal_removed(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "soldout.db"
    async for shop in _shop(_platform(SqliteStore(path), clock), clock):
        run = await rehearse_in(shop)
        await rehearse_in(shop, "run2")
        real_fan, real_launch = shop.real_fans[0], shop.real_launch
        before = await real_books(shop)
    async for shop in _shop(_platform(SqliteStore(path), clock), clock, seed=False):
        # On start, the marks come back from the record: still apart.
        assert error(await shop.claim(real_fan, run.launch_id))[:2] == (404, "not_found")
        assert error(await shop.claim(run.fans[4], real_launch))[:2] == (404, "not_found")
        assert (await shop.claim(run.fans[4], run.launch_id, "B")).status_code == 201
        await shop.ok("DELETE", f"/api/v1/rehearsals/{RUN}", headers=shop.admin)
    async for shop in _shop(_platform(SqliteStore(path), clock), clock, seed=False):
        shop.real_launch, shop.real_fans = real_launch, [real_fan]
        runs = await shop.ok("GET", "/api/v1/rehearsals", headers=shop.admin)
        assert [r["run"] for r in runs["runs"]] == ["run2"]
        assert run.launch_id not in [b.launch.id for b in shop.platform.engine.books()]
        assert await real_books(shop) == before


# -- `soldout rehearse` against a server holding a real sale ----------------------------

SMALL = """
name = "beside-a-real-shop"

[launch]
race = "fast"
opens_in_seconds = 1.0
payment_window_seconds = 30

[[launch.skus]]
code = "A"
price = 1000
cost = 700
batch = 15

[crowd]
fans = 40
arrival = { mean_seconds = 0.2, sd_seconds = 0.3 }
reaction = { mean_seconds = 0.1, sd_seconds = 0.05 }
pay_delay = { mean_seconds = 0.2, sd_seconds = 0.1 }
retry_pause_seconds = 0.3
abandon_share = 0.1
referral_share = 0.3
patience_seconds = 4

[bots]
accounts = 5
patience_seconds = 3

[run]
max_seconds = 30
max_requests = 5000
"""


@pytest.fixture(scope="module")
def real_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("real") / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(rehearse, list(args), catch_exceptions=False)


def test_soldout_rehearse_beside_a_real_sale_leaves_it_untouched(
    real_shop: ServerProcess, tmp_path: Path
) -> None:
    with real_shop.admin() as admin, real_shop.client() as anyone:
        launch = create_launch(admin, batch={"A": 5})
        buyer = register(anyone)
        auth = {"authorization": f"Bearer {buyer['token']}"}
        claim = anyone.post(
            f"/api/v1/launches/{launch['id']}/claims",
            json={"sku": "A"},
            headers={**auth, "idempotency-key": "k1"},
        )
        assert claim.status_code == 201, claim.text
        paid = anyone.post(
            f"/api/v1/claims/{claim.json()['id']}/payment",
            json={"method": "test", "token": "tok_ok"},
            headers={**auth, "idempotency-key": "p1"},
        )
        assert paid.status_code == 200, paid.text

        def books() -> dict[str, Any]:
            return {
                "launches": [
                    {k: v for k, v in x.items() if k not in ("server_time", "poll_after_seconds")}
                    for x in anyone.get("/api/v1/launches").json()
                ],
                "orders": admin.get("/api/v1/orders").json(),
                "export": admin.get("/api/v1/orders.csv").text,
                "margin": admin.get(f"/api/v1/launches/{launch['id']}/margin").json(),
                "top": admin.get("/api/v1/referrals/top").json(),
            }

        before = books()
        scenario = tmp_path / "small.toml"
        scenario.write_text(SMALL)
        target = ("--target", real_shop.base_url, "--admin-token", ADMIN_TOKEN, "--quiet")
        # Refused: the server holds a real sale, and the flag was not given.
        refused = invoke(str(scenario), *target, "--run-dir", str(tmp_path / "refused"))
        assert refused.exit_code == 1
        assert "holds real data (1 products, 1 launches, 1 fans, 1 orders)" in refused.output
        assert "--allow-real-data" in refused.output
        assert admin.get("/api/v1/rehearsals").json()["runs"] == []  # nothing was made
        # Allowed: it runs, every check passes, and the real shop reads as before.
        run_dir = tmp_path / "run"
        ran = invoke(str(scenario), *target, "--allow-real-data", "--run-dir", str(run_dir))
        assert ran.exit_code == 0, ran.output
        record = json.loads((run_dir / "run.json").read_text())
        assert record["ok"] is True
        assert record["rules"]["rehearsal"] == record["run_id"]
        assert books() == before
        runs = admin.get("/api/v1/rehearsals").json()["runs"]
        assert [(r["run"], r["launches"], r["fans"]) for r in runs] == [(record["run_id"], 1, 45)]
        assert runs[0]["orders"] > 0
        command = (  # the command to remove it, alone on one line, to paste whole
            f"soldout rehearse --clean --run {record['run_id']} --target {target[1]}"
            ' --admin-token "$SOLDOUT_ADMIN_TOKEN"'
        )
        assert command in ran.output.splitlines()
        # Removed with one command, while the server runs; the real sale still stands.
        cleaned = invoke("--clean", *target[:-1])
        assert cleaned.exit_code == 0, cleaned.output
        assert re.search(
            rf"removed rehearsal {record['run_id']}: 1 launches, 45 fans", cleaned.output
        )
        assert admin.get("/api/v1/rehearsals").json()["runs"] == []
        assert books() == before
        reconciliation = admin.get("/api/v1/reconciliation").json()
        assert (reconciliation["ok"], reconciliation["mismatches"]) == (True, [])
        assert admin.get(f"/api/v1/launches/{record['launch_id']}").status_code == 404
    # And after a restart, nothing of it comes back.
    real_shop.stop()
    real_shop.start()
    with real_shop.admin() as admin:
        assert admin.get("/api/v1/rehearsals").json()["runs"] == []
        assert admin.get(f"/api/v1/launches/{record['launch_id']}").status_code == 404
        assert admin.get("/api/v1/orders").json() == before["orders"]


def test_clean_needs_a_target_and_run_goes_with_clean() -> None:
    no_target = invoke("--clean")
    assert no_target.exit_code == 2
    assert "--clean needs --target and --admin-token" in no_target.output
    assert invoke("--clean", "tuesday-noon", "--target", "http://127.0.0.1:1").exit_code == 2
    assert "--run goes with --clean" in invoke("tuesday-noon", "--run", "abc").output
    assert "give a SCENARIO" in invoke().output
