"""`soldout backup` and `soldout restore`: a backup taken in the middle of a sale, while the
server writes, restores elsewhere into a store that reconciles; a half-made or damaged
backup is never restored; a restore never overwrites a served store, nor (without
--force) anything at all.

The copy's consistency is first proven where it is decided, on SQLite itself: a write
lands between every two steps of the copy (the interleaving a busy server makes), and the
copy still holds exactly the moment it was pinned at.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sqlite3
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from soldout.cli import cli
from soldout.services.backup import MANIFEST, make_backup
from soldout.settings import Settings
from soldout.store.sqlite.online_backup import (
    copy_pinned,
    integrity_problems,
    pinned,
    pinned_schema,
)
from tests.support import ServerProcess, create_launch, shipping_address


def soldout(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "soldout", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def rows(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        return db.execute(sql).fetchall()


# -- the copy, on SQLite ------------------------------------------------------------------
def test_a_copy_holds_the_moment_it_was_pinned_at_while_another_connection_writes(
    tmp_path: Path,
) -> None:
    source = tmp_path / "live.db"
    writer = sqlite3.connect(source, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE units (id INTEGER PRIMARY KEY, state TEXT NOT NULL)")
    writer.executemany("INSERT INTO units (state) VALUES (?)", [("free" + "." * 400,)] * 2000)
    steps = 0

    def a_sale_goes_on(remaining: int, total: int) -> None:
        nonlocal steps
        steps += 1
        writer.execute("INSERT INTO units (state) VALUES ('sold')")
        writer.execute("UPDATE units SET state = 'sold' WHERE id = ?", (steps,))
        writer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    with pinned(source) as snapshot:
        pages = copy_pinned(
            snapshot, tmp_path / "copy.db", pages_per_step=1, on_step=a_sale_goes_on
        )

    assert steps == pages > 200  # one page a step, never started over
    assert rows(source, "SELECT count(*) FROM units WHERE state = 'sold'") == [(2 * steps,)]
    copy = tmp_path / "copy.db"
    assert rows(copy, "SELECT count(*), min(state) FROM units") == [(2000, "free" + "." * 400)]
    assert integrity_problems(copy) == []
    assert rows(copy, "PRAGMA journal_mode") == [("delete",)]  # one file, no -wal needed
    assert mode(copy) == 0o600
    writer.close()


def test_databases_pinned_together_are_copied_as_they_were_when_pinned(tmp_path: Path) -> None:
    writers = {}
    for name in ("store", "ledger"):
        writer = writers[name] = sqlite3.connect(tmp_path / f"{name}.db", isolation_level=None)
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("CREATE TABLE lines (id INTEGER PRIMARY KEY, pad TEXT NOT NULL)")
        writer.executemany("INSERT INTO lines (pad) VALUES (?)", [("." * 400,)] * 300)

    def both_change() -> None:
        for writer in writers.values():
            writer.execute("INSERT INTO lines (pad) VALUES ('later')")
            writer.execute("UPDATE lines SET pad = 'later' WHERE id = 1")
            writer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    with pinned(tmp_path / "store.db", tmp_path / "ledger.db") as snapshot:
        both_change()  # after the pin, before a page is copied
        for index, name in enumerate(writers):  # one page a step, both changing between
            copy_pinned(
                snapshot,
                tmp_path / f"copy-{name}.db",
                pages_per_step=1,
                on_step=lambda remaining, total: both_change(),
                schema=pinned_schema(index),
            )

    for name, writer in writers.items():
        assert (
            rows(tmp_path / f"{name}.db", "SELECT count(*) FROM lines WHERE pad = 'later'")[0][0]
            > 2
        )  # the writes went on through both copies
        copy = tmp_path / f"copy-{name}.db"
        assert rows(copy, "SELECT count(*), max(pad) FROM lines") == [(300, "." * 400)]
        assert integrity_problems(copy) == []
        writer.close()


def test_what_is_not_a_whole_database_is_named(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_bytes(b"not a database at all" * 100)
    assert "notes.db: file is not a database" in integrity_problems(tmp_path / "notes.db")
    assert integrity_problems(tmp_path / "gone.db") == ["gone.db is missing"]


# -- a backup in the middle of a sale -------------------------------------------------------
BUYERS = 24
BATCH = 5000
WAYS = ("hold", "cancel", "decline", "pay", "pay", "pay", "pay", "pay")  # of eight fans


class Sale:
    """Fans who register, claim and then pay (most), decline, cancel or keep the unit
    held, over and over until told to stop."""

    def __init__(self, server: ServerProcess, launch_id: str) -> None:
        self.server, self.launch_id = server, launch_id
        self.orders: list[str] = []
        self.fans = 0
        self.stop = asyncio.Event()
        self._waiting: list[tuple[int, asyncio.Event]] = []

    async def buyer(self) -> None:
        async with httpx.AsyncClient(base_url=self.server.base_url, timeout=30) as http:
            while not self.stop.is_set():
                self.fans += 1
                await self.one_fan(http, WAYS[self.fans % len(WAYS)])

    async def one_fan(self, http: httpx.AsyncClient, way: str) -> None:
        name = uuid.uuid4().hex[:12]
        joined = await http.post(
            "/api/v1/fans",
            json={"email": f"{name}@fans.test", "name": name, "shipping": shipping_address()},
        )
        assert joined.status_code == 201, joined.text
        fan = {"authorization": f"Bearer {joined.json()['token']}"}
        held = await http.post(
            f"/api/v1/launches/{self.launch_id}/claims",
            json={"sku": "A"},
            headers={**fan, "idempotency-key": uuid.uuid4().hex},
        )
        assert held.status_code == 201, held.text
        claim_id = held.json()["id"]
        if way == "cancel":
            assert (await http.delete(f"/api/v1/claims/{claim_id}", headers=fan)).is_success
        elif way in ("pay", "decline"):
            paid = await http.post(
                f"/api/v1/claims/{claim_id}/payment",
                json={"method": "test", "token": "tok_ok" if way == "pay" else "tok_decline"},
                headers={**fan, "idempotency-key": uuid.uuid4().hex},
            )
            assert paid.status_code == (200 if way == "pay" else 402), paid.text
            if way == "pay":
                self.orders.append(paid.json()["id"])
                for count, reached in self._waiting:
                    if len(self.orders) >= count:
                        reached.set()

    async def until(self, orders: int) -> None:
        reached = asyncio.Event()
        self._waiting.append((orders, reached))
        if len(self.orders) < orders:
            await reached.wait()


def backup_in_the_middle_of_a_sale(server: ServerProcess, backup: Path) -> tuple[int, int]:
    """(orders before the backup started, orders in all) of a sale during which `soldout
    backup` ran; the sale goes on after the backup is whole."""
    with server.admin() as admin:
        launch = create_launch(admin, batch={"A": BATCH})

    async def run() -> tuple[int, int]:
        sale = Sale(server, launch["id"])
        buyers = [asyncio.create_task(sale.buyer()) for _ in range(BUYERS)]
        await sale.until(40)
        before = len(sale.orders)
        made = await asyncio.to_thread(soldout, "backup", backup, "--data", server.data)
        assert made.returncode == 0, made.stdout + made.stderr
        during = len(sale.orders) - before
        await sale.until(len(sale.orders) + 40)
        sale.stop.set()
        await asyncio.gather(*buyers)
        assert during > 0, "nobody paid while the backup was made"
        return before, len(sale.orders)

    return asyncio.run(run())


def test_a_backup_taken_mid_sale_restores_elsewhere_and_reconciles(
    server: ServerProcess, tmp_path: Path
) -> None:
    backup = tmp_path / "backups" / "mid-sale"
    before, final = backup_in_the_middle_of_a_sale(server, backup)

    assert mode(backup) == 0o700
    assert {p.name for p in backup.iterdir()} == {
        MANIFEST,
        "soldout.db",
        "soldout-test-payments.db",
        "soldout-test-payments.secret",  # no admin.token: it came from SOLDOUT_ADMIN_TOKEN
    }
    assert {mode(p) for p in backup.iterdir()} == {0o600}
    assert [p.name for p in backup.parent.iterdir()] == ["mid-sale"]  # nothing half-made

    restored = tmp_path / "restored"
    put_back = soldout("restore", backup, "--data", restored)
    assert put_back.returncode == 0, put_back.stdout + put_back.stderr
    database = restored / "soldout.db"
    orders = rows(database, "SELECT count(*) FROM orders")[0][0]
    assert before <= orders < final  # a moment in the middle of the sale

    # The copy is one moment of the store: nothing oversold, every order with its unit and
    # its captured payment. The ledger was pinned an instant after it, so the one
    # disagreement possible is money the provider captured for an order the copy lacks:
    # its payment `pending` in the copy (what a crash leaves, and a start settles), or a
    # payment begun within that instant, of which the copy has no record (what a backup
    # always leaves with a real provider: money to look into, named until refunded).
    checked = soldout("reconcile", "--data", restored)
    assert f"checked {orders} orders" in checked.stdout, checked.stdout + checked.stderr
    pending = {row[0] for row in rows(database, "SELECT id FROM payments WHERE state = 'pending'")}
    known = {row[0] for row in rows(database, "SELECT id FROM payments")}
    unknown = set()
    for kind, subject in mismatches(checked.stdout):
        assert kind == "money_without_order", checked.stdout
        assert subject in pending or subject not in known, checked.stdout
        if subject not in known:
            unknown.add(subject)

    restarted = ServerProcess(restored)
    restarted.start()
    restarted.stop()
    settled = soldout("reconcile", "--data", restored)
    if unknown:
        assert settled.returncode == 1, settled.stdout + settled.stderr
        assert set(mismatches(settled.stdout)) == {("money_without_order", p) for p in unknown}
    else:
        assert settled.returncode == 0, settled.stdout + settled.stderr
        assert "ok: no mismatch" in settled.stdout


def mismatches(report: str) -> list[tuple[str, str]]:
    """(kind, subject) of each mismatch `soldout reconcile` printed."""
    found = []
    for line in report.splitlines()[1:-1]:
        kind, subject, _ = line.split(": ", 2)
        found.append((kind, subject))
    return found


# -- what is refused ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of a stopped server that sold two units, with a generated
    admin token."""
    server = ServerProcess(tmp_path_factory.mktemp("sold") / "data")
    server.env["SOLDOUT_ADMIN_TOKEN"] = ""  # generated, kept in DATA/admin.token
    server.start()
    try:
        token = (server.data / "admin.token").read_text().strip()
        with server.client(token) as admin:
            launch = create_launch(admin, batch={"A": 5})

        async def two_orders() -> None:
            sale = Sale(server, launch["id"])
            async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
                for _ in range(2):
                    await sale.one_fan(http, "pay")

        asyncio.run(two_orders())
    finally:
        server.stop()
    return server.data


@pytest.fixture(scope="module")
def backup(sold: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("backups") / "b1"
    made = invoke("backup", path, "--data", sold)
    assert made.exit_code == 0, made.output
    assert f"backed up {sold} to {path} in " in made.output
    assert (path / "admin.token").read_text() == (sold / "admin.token").read_text()
    return path


def test_a_backup_holds_the_store_and_the_ledger_as_they_were_when_it_began(
    sold: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(sold, data)
    settings = Settings(data=data)
    databases = (settings.database, settings.payments_ledger)
    changed = []

    def a_payment_goes_on(remaining: int, total: int) -> None:
        """After the store's first step: soldout's record, then the provider's."""
        if not changed:
            for database in databases:
                with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as db:
                    db.execute("CREATE TABLE later (id INTEGER PRIMARY KEY)")
            changed.append(total)

    made = make_backup(settings, tmp_path / "b", on_step=a_payment_goes_on)

    assert changed
    later = "SELECT count(*) FROM sqlite_master WHERE name = 'later'"
    for database in databases:
        assert rows(database, later) == [(1,)]
        assert rows(made.path / database.name, later) == [(0,)], database.name


def test_a_backup_is_a_data_directory_that_reconciles(backup: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(backup, copy)  # reconcile opens the ledger: keep the module's backup as made
    checked = soldout("reconcile", "--data", copy)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "checked 2 orders, 2 payments" in checked.stdout


def test_a_backup_is_never_written_over_anything(backup: Path, sold: Path) -> None:
    again = invoke("backup", backup, "--data", sold)
    assert again.exit_code == 1
    assert f"{backup} exists: a backup is written to a new directory" in again.output


def test_a_backup_that_fails_half_way_leaves_nothing(sold: Path, tmp_path: Path) -> None:
    def the_disk_fills(remaining: int, total: int) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        make_backup(Settings(data=sold), tmp_path / "b", on_step=the_disk_fills)
    assert list(tmp_path.iterdir()) == []


def test_restore_puts_the_backup_in_an_empty_directory(backup: Path, tmp_path: Path) -> None:
    target = tmp_path / "new"
    put_back = invoke("restore", backup, "--data", target)
    assert put_back.exit_code == 0, put_back.output
    assert "start it with: soldout serve --data" in put_back.output
    assert mode(target) == 0o700
    assert {p.name for p in target.iterdir()} == {
        "soldout.db",
        "soldout.db.lock",
        "soldout-test-payments.db",
        "soldout-test-payments.secret",
        "admin.token",
    }
    assert {mode(p) for p in target.iterdir() if p.name != "soldout.db.lock"} == {0o600}
    assert rows(target / "soldout.db", "SELECT count(*) FROM orders") == [(2,)]


def test_restore_refuses_a_store_a_server_holds(backup: Path, server: ServerProcess) -> None:
    for force in ([], ["--force"]):
        refused = invoke("restore", backup, "--data", server.data, *force)
        assert refused.exit_code == 1
        assert "another soldout process is serving" in refused.output
    with server.client() as http:
        assert http.get("/healthz").status_code == 200
    assert not [p for p in server.data.iterdir() if p.name.startswith(("replaced", "."))]


def test_restore_refuses_a_directory_that_is_not_empty_unless_forced(
    backup: Path, tmp_path: Path
) -> None:
    target = tmp_path / "used"
    assert invoke("restore", backup, "--data", target).exit_code == 0
    (target / "soldout.db-wal").write_bytes(b"a stale WAL of the old store")
    (target / "notes.txt").write_text("the maker's own")
    before = {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}

    refused = invoke("restore", backup, "--data", target)
    assert refused.exit_code == 1
    assert f"{target} is not empty" in refused.output
    assert "--force" in refused.output
    assert {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()} == before

    forced = invoke("restore", backup, "--data", target, "--force")
    assert forced.exit_code == 0, forced.output
    (aside,) = target.glob("replaced-*")
    assert f"what was there before is in {aside}" in forced.output
    assert (aside / "soldout.db-wal").read_bytes() == before["soldout.db-wal"]
    assert (aside / "soldout.db").read_bytes() == before["soldout.db"]
    assert not (target / "soldout.db-wal").exists()  # never replayed into the restored store
    assert (target / "notes.txt").read_text() == "the maker's own"
    assert integrity_problems(target / "soldout.db") == []


def test_a_forced_restore_leaves_an_open_directory_private(backup: Path, tmp_path: Path) -> None:
    """docs/backup.md: a restore lands in a 0700 directory, its files 0600; one that
    existed with 0755 stayed so. As `serve` at start, only soldout's own files change: a
    file of the maker's beside them keeps its mode."""
    target = tmp_path / "open"
    target.mkdir()
    target.chmod(0o755)
    (target / "notes.txt").write_text("the maker's own")
    (target / "notes.txt").chmod(0o644)

    forced = invoke("restore", backup, "--data", target, "--force")

    assert forced.exit_code == 0, forced.output
    assert mode(target) == 0o700
    files = [p for p in target.iterdir() if p.is_file() and p.name != "soldout.db.lock"]
    theirs = {p.name: mode(p) for p in files if p.name != "notes.txt"}
    assert theirs == {name: 0o600 for name in theirs}
    assert "soldout.db" in theirs
    assert mode(target / "notes.txt") == 0o644


def overwrite_a_page(backup: Path) -> None:
    with (backup / "soldout.db").open("r+b") as db:
        db.seek(4096 * 2 + 8)
        db.write(b"\xff" * 512)


def truncate_the_store(backup: Path) -> None:
    database = backup / "soldout.db"
    database.write_bytes(database.read_bytes()[: database.stat().st_size // 2])


def lose_the_ledger(backup: Path) -> None:
    (backup / "soldout-test-payments.db").unlink()


def half_made(backup: Path) -> None:
    (backup / MANIFEST).unlink()  # what a backup interrupted before its rename lacks


@pytest.mark.parametrize(
    "damage", [overwrite_a_page, truncate_the_store, lose_the_ledger, half_made]
)
def test_restore_refuses_a_backup_that_is_not_whole_before_touching_anything(
    backup: Path, tmp_path: Path, damage: Any
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(backup, broken)
    damage(broken)
    target = tmp_path / "live"
    assert invoke("restore", backup, "--data", target).exit_code == 0
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    refused = invoke("restore", broken, "--data", target, "--force")
    assert refused.exit_code == 1
    assert "is not whole, nothing was changed" in refused.output, refused.output
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
