"""A start after a clean stop skips reading every page of an unchanged database; any
other start (after a crash, or on a file changed since) reads them all."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from soldout.datadir import Unusable
from soldout.domain.audit import AuditEntry
from soldout.store.sqlite import SqliteStore
from soldout.store.sqlite.store import check_database

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def a_store_with_rows(database: Path, *, crash_image: Path | None = None) -> None:
    """A store with some rows, stopped cleanly; `crash_image`: a copy of its files taken
    while it ran, as a SIGKILL leaves them (the log not folded back, no note)."""

    async def run() -> None:
        store = SqliteStore(database)
        await store.open()
        for n in range(300):
            await store.audit.add(AuditEntry(T0, "admin", "test", f"s{n}", {"x": "y" * 200}))
        if crash_image is not None:
            for suffix in ("", "-wal"):
                source = database.with_name(database.name + suffix)
                if source.exists():
                    crash_image.with_name(crash_image.name + suffix).write_bytes(
                        source.read_bytes()
                    )
        await store.close()

    asyncio.run(run())


def damage_a_page_keeping_size_and_time(database: Path) -> None:
    """The last page: one of the audit rows written last (a middle page can be the schema's,
    which every start reads)."""
    seen = database.stat()
    pages = seen.st_size // 4096
    with database.open("r+b") as file:
        file.seek(4096 * (pages - 1))
        file.write(os.urandom(4096))
    os.utime(database, ns=(seen.st_atime_ns, seen.st_mtime_ns))


def test_a_clean_stop_is_noted_and_the_next_start_skips_the_page_check(tmp_path: Path) -> None:
    database = tmp_path / "soldout.db"
    a_store_with_rows(database)
    note = tmp_path / "soldout.db.clean"
    assert note.exists()
    assert (
        not (tmp_path / "soldout.db-wal").exists()
        or not (tmp_path / "soldout.db-wal").stat().st_size
    )
    # (the one damage the skip lets through: a page changed under the same size and time)
    damage_a_page_keeping_size_and_time(database)
    check_database(database)  # skipped: the file is as the clean stop noted it
    assert not note.exists()  # used up: the server is about to write
    with pytest.raises(Unusable, match="is damaged"):
        check_database(database)  # no note any more: every page is read


def test_a_file_changed_after_a_clean_stop_is_checked(tmp_path: Path) -> None:
    database = tmp_path / "soldout.db"
    a_store_with_rows(database)
    with sqlite3.connect(database) as conn:  # changed by hand: a new time
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.execute("CREATE TABLE filler (n INTEGER PRIMARY KEY)")
    conn.close()
    damage_a_page_keeping_size_and_time(database)
    with pytest.raises(Unusable, match="is damaged"):
        check_database(database)


def test_a_crash_leaves_no_note_and_the_next_start_is_checked(tmp_path: Path) -> None:
    crashed = tmp_path / "crashed" / "soldout.db"
    crashed.parent.mkdir()
    a_store_with_rows(tmp_path / "soldout.db", crash_image=crashed)
    assert not crashed.with_name("soldout.db.clean").exists()
    assert crashed.with_name("soldout.db-wal").stat().st_size > 0  # the log still holds pages
    check_database(crashed)  # whole, and checked: every page read, the log folded back
    damage_a_page_keeping_size_and_time(crashed)
    with pytest.raises(Unusable, match="is damaged"):
        check_database(crashed)


def test_a_note_from_another_file_is_not_believed(tmp_path: Path) -> None:
    database = tmp_path / "soldout.db"
    a_store_with_rows(database)
    copy = tmp_path / "copy.db"
    copy.write_bytes(database.read_bytes())  # a restore: another inode, another time
    copy.with_name("copy.db.clean").write_text((tmp_path / "soldout.db.clean").read_text())
    damage_a_page_keeping_size_and_time(copy)
    with pytest.raises(Unusable, match="is damaged"):
        check_database(copy)
