"""The data directory as an operator meets it: every file soldout writes is private (the
database holds the key that signs fans' tokens), a store others could read is made
private with one warning, and a directory, database or disk soldout cannot use stops
`serve` and `demo` with one line naming the file, never a traceback. `soldout reconcile`
creates and changes nothing; `/healthz` tells of a disk filling up before a write fails.
See docs/operations.md."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from soldout.api.app import build_app
from soldout.cli import cli
from soldout.datadir import DiskWatch
from soldout.domain.errors import StorageUnavailable
from soldout.mail.pickup import PickupDirectory
from soldout.mail.transport import Envelope
from soldout.payments import TestPayments
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore
from soldout.store.sqlite import SqliteStore
from tests.support import ServerProcess, claim, create_launch, eventually, free_port, register


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def not_private(data: Path) -> list[str]:
    """Every directory under `data` that is not 0700 and every file that is not 0600."""
    found = [] if mode(data) == 0o700 else [f"{data} {mode(data):o}"]
    for path in data.rglob("*"):
        wanted = 0o700 if path.is_dir() else 0o600
        if mode(path) != wanted:
            found.append(f"{path} {mode(path):o}")
    return found


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most shells give (022): files are made world-readable unless soldout
    says otherwise, so a test under it shows that soldout does."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


async def test_the_store_its_ledger_and_mail_files_are_made_private(
    tmp_path: Path, usual_umask: None
) -> None:
    data = tmp_path / "data"
    ledger = data / "soldout-test-payments.db"
    payments = TestPayments(ledger, secret=b"s")
    platform = Platform(SqliteStore(data / "soldout.db"), TokenSigner(None, "a"), payments=payments)
    await platform.start(sweep=False)  # writes the token-signing key: the WAL is in use
    try:
        pickup = await PickupDirectory(data / "mail").open()
        await pickup.send(Envelope("ntf_1", "shop@example.test", "ann@fans.test", b"Hello"))
        names = {p.name for p in data.rglob("*")}
        assert {"soldout.db-wal", "soldout.db-shm", "soldout.db.lock"} <= names
        assert {"soldout-test-payments.db-wal", "ntf_1.eml"} <= names
        assert not_private(data) == []
    finally:
        await platform.stop()


def test_every_file_a_running_shop_writes_is_private(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env={"SOLDOUT_ADMIN_TOKEN": ""})  # one is made
    server.start()
    try:
        token = (server.data / "admin.token").read_text().strip()
        with server.client(token) as admin, server.client() as anyone:
            launch = create_launch(admin, batch={"A": 5})
            fan = register(anyone)
            held = claim(anyone, launch["id"], fan["token"])
            assert held.status_code == 201, held.text
            paid = anyone.post(
                f"/api/v1/claims/{held.json()['id']}/payment",
                json={"method": "test", "token": "tok_ok"},
                headers={"authorization": f"Bearer {fan['token']}", "idempotency-key": "p1"},
            )
            assert paid.status_code == 200, paid.text
        # the order's confirmation, written to DATA/mail (no relay configured)
        eventually(lambda: list((server.data / "mail").glob("*.eml")), bool, timeout=20)
        names = {p.name for p in server.data.rglob("*")}
        assert {"soldout.db", "soldout.db-wal", "admin.token", "soldout-test-payments.db"} <= names
        assert not_private(server.data) == []
    finally:
        server.stop()


def test_a_store_others_could_read_is_made_private_at_start_with_one_warning(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "data")
    server.start()
    server.stop()
    server.data.chmod(0o755)  # as an older soldout, or a `cp`, left it
    for path in server.data.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    server.start()
    try:
        with server.client() as anyone:
            assert anyone.get("/healthz").status_code == 200
        warnings = [line for line in server.log.read_text().splitlines() if "WARNING" in line]
        assert len(warnings) == 1, warnings
        assert warnings[0].startswith("WARNING soldout.datadir: made private")
        assert f"{server.data / 'soldout.db'} 644 -> 600" in warnings[0]
        assert not_private(server.data) == []
    finally:
        server.stop()
    # with JSON logs, the warning is a JSON line like every other (it was plain text)
    server.data.chmod(0o755)
    as_json = ServerProcess(server.data, env={"SOLDOUT_LOG_FORMAT": "json"})
    as_json.start()
    as_json.stop()
    said = [line for line in as_json.log.read_text().splitlines() if "made private" in line]
    assert len(said) == 1, said
    line = json.loads(said[0])
    assert (line["level"], line["logger"]) == ("WARNING", "soldout.datadir")
    assert line["message"].startswith("made private")


def made_store(database: Path) -> None:
    """A real store, as a server leaves it when it stops."""

    async def open_and_close() -> None:
        store = SqliteStore(database)
        await store.open()
        await store.close()

    asyncio.run(open_and_close())


def start(command: str, data: Path) -> tuple[int, str]:
    """`soldout serve|demo --data DATA` in this process, as far as it gets: (exit code,
    everything it printed)."""
    result = CliRunner().invoke(cli, [command, "--data", str(data), "--port", str(free_port())])
    return result.exit_code, result.output


@pytest.mark.parametrize("command", ["serve", "demo"])
def test_garbage_for_a_database_stops_the_start_with_one_line(tmp_path: Path, command: str) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "soldout.db").write_bytes(os.urandom(64 * 1024))
    (data / "soldout.db").chmod(0o600)
    code, said = start(command, data)
    assert code == 1
    assert "Traceback" not in said
    assert said.strip().splitlines() == [
        f"Error: {data / 'soldout.db'} is damaged, not a readable soldout database (SQLite:"
        " file is not a database): restore it from a backup, or move it (with its -wal and"
        " -shm) aside to start empty"
    ]


def test_a_database_damaged_inside_stops_the_start_before_it_is_served(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    database = data / "soldout.db"
    made_store(database)  # then a sale's worth of rows
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")  # every page in the one file
        conn.execute("CREATE TABLE filler (n INTEGER PRIMARY KEY, text TEXT)")
        conn.executemany("INSERT INTO filler VALUES (?, ?)", ((n, "x" * 200) for n in range(2000)))
    conn.close()
    pages = database.stat().st_size // 4096
    with database.open("r+b") as file:  # garbage over a page in the middle
        file.seek(4096 * (pages // 2))
        file.write(os.urandom(4096))
    code, said = start("serve", data)
    assert code == 1
    assert "Traceback" not in said
    (line,) = said.strip().splitlines()
    assert line.startswith(f"Error: {database} is damaged")


def test_a_data_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file, not a directory")
    code, said = start("serve", tmp_path / "file" / "data")
    assert code == 1
    assert "Traceback" not in said
    (line,) = said.strip().splitlines()
    assert line.startswith(f"Error: {tmp_path / 'file' / 'data'} cannot be made")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0500 directory anyway")
def test_a_read_only_data_directory_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o500)
    try:
        code, said = start("serve", data)
    finally:
        data.chmod(0o700)
    assert code == 1
    (line,) = said.strip().splitlines()
    assert line.startswith(f"Error: {data}: permission denied")


def test_reconcile_on_a_missing_data_directory_makes_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none"
    result = CliRunner().invoke(cli, ["reconcile", "--data", str(missing)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: no soldout database at {missing / 'soldout.db'}"
    ]
    assert not missing.exists()


def _files(data: Path) -> dict[str, tuple[int, str]]:
    return {
        p.name: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in data.iterdir()
    }


def test_reconcile_opens_everything_read_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made_store(data / "soldout.db")
    before = _files(data)
    result = CliRunner().invoke(cli, ["reconcile", "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "ok: no mismatch" in result.output
    after = _files(data)
    # the record untouched, nothing made (the test provider's ledger or secret); SQLite's
    # read-only WAL protocol alone may leave an empty -wal and its -shm, made private
    assert {name: after[name] for name in before} == before
    assert set(after) - set(before) <= {"soldout.db-wal", "soldout.db-shm"}
    assert not_private(data) == []


async def test_a_full_disk_at_commit_is_logged_as_one_line_naming_the_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "soldout.db"
    store = SqliteStore(database)
    await store.open()
    try:

        def fill(conn: sqlite3.Connection) -> None:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk is full"
            conn.execute("INSERT INTO secrets (name, value) VALUES ('big', zeroblob(100000))")

        with caplog.at_level(logging.CRITICAL), pytest.raises(StorageUnavailable):
            await store.writer.submit(fill, savepoint=False)
    finally:
        await store.close()
    (record,) = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert record.getMessage() == (
        "commit failed, no more writes until restarted: no space left on the disk holding"
        f" {database}: free some space there (or move the data directory to a larger disk),"
        " then start soldout again"
    )


@pytest.mark.parametrize(
    ("free", "status", "code"),
    [(10 << 30, "ok", 200), (100 << 20, "low_disk", 200)],
)
async def test_healthz_tells_of_a_disk_filling_up(
    tmp_path: Path, free: int, status: str, code: int
) -> None:
    disk = DiskWatch((tmp_path,), low_bytes=256 << 20, usage=lambda path: free)
    body = await _health(build_app(_platform(), disk=disk))
    assert body == (code, status, {"writable": True, "free_bytes": free, "low_bytes": 256 << 20})


async def test_healthz_is_503_once_the_data_directory_cannot_be_written(tmp_path: Path) -> None:
    gone = tmp_path / "data"  # removed under the running server (or never mounted)
    body = await _health(build_app(_platform(), disk=DiskWatch((gone,), low_bytes=0)))
    assert body == (503, "not_writable", {"writable": False, "free_bytes": None, "low_bytes": 0})


def _platform() -> Platform:
    return Platform(InMemoryStore(), TokenSigner(b"k" * 32, "adm"))


async def _health(app: object) -> tuple[int, str, dict[str, object]]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        response = await client.get("/healthz")
    body = response.json()
    return response.status_code, body["status"], body["disk"]
