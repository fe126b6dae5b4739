"""The data directory's rules (`soldout.datadir`): each problem an operator can act on
becomes one line naming the file and what to do; a store others can read is made private,
or refused with the chmod to run."""

from __future__ import annotations

import errno
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from soldout.datadir import (
    DiskWatch,
    Unusable,
    check_writable,
    explain,
    make_private,
    make_private_dir,
    prepare_data_dir,
)

AS_ROOT = os.geteuid() == 0


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def one_line(problem: Unusable) -> str:
    text = str(problem)
    assert "\n" not in text
    return text


def test_a_full_disk_at_the_probe_is_one_line_naming_the_directory(tmp_path: Path) -> None:
    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(Unusable) as caught:
        check_writable(tmp_path, write=full)
    line = one_line(caught.value)
    assert line.startswith(f"no space left on the disk holding {tmp_path}")
    assert "free some space" in line
    assert list(tmp_path.iterdir()) == []  # the probe is gone


def test_sqlite_saying_the_disk_is_full_is_the_same_line(tmp_path: Path) -> None:
    database = tmp_path / "soldout.db"
    conn = sqlite3.connect(database)
    conn.execute("CREATE TABLE t (b BLOB)")
    conn.execute("PRAGMA max_page_count = 3")  # the file may grow no further: SQLITE_FULL
    with pytest.raises(sqlite3.OperationalError) as full:
        conn.execute("INSERT INTO t VALUES (zeroblob(100000))")
    conn.close()
    line = one_line(explain(full.value, database))
    assert line.startswith(f"no space left on the disk holding {database}")


def test_garbage_instead_of_a_database_is_named_as_damaged(tmp_path: Path) -> None:
    database = tmp_path / "soldout.db"
    database.write_bytes(os.urandom(8192))
    with pytest.raises(sqlite3.DatabaseError) as garbage:
        sqlite3.connect(database).execute("SELECT * FROM sqlite_master").fetchall()
    line = one_line(explain(garbage.value, database))
    assert line.startswith(f"{database} is damaged")
    assert "restore it from a backup" in line


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (errno.EROFS, "is read-only"),
        (errno.EACCES, "permission denied"),
        (errno.ENOTDIR, "cannot be made"),
    ],
)
def test_each_os_error_names_its_own_file_and_what_to_do(
    tmp_path: Path, code: int, says: str
) -> None:
    error = OSError(code, os.strerror(code), str(tmp_path / "data" / "admin.token"))
    line = one_line(explain(error, tmp_path))
    assert line.startswith(str(tmp_path / "data" / "admin.token"))
    assert says in line
    assert "--data directory" in line


def test_a_data_directory_under_a_file_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    data = tmp_path / "file" / "data"
    with pytest.raises(Unusable) as caught:
        prepare_data_dir(data, data / "soldout.db", data / "soldout-test-payments.db")
    assert "cannot be made" in one_line(caught.value)


@pytest.mark.skipif(AS_ROOT, reason="root writes into a 0500 directory: the mode stops no one")
def test_a_read_only_data_directory_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o500)
    try:
        with pytest.raises(Unusable) as caught:
            prepare_data_dir(data, data / "soldout.db", data / "soldout-test-payments.db")
    finally:
        data.chmod(0o700)
    assert one_line(caught.value).startswith(f"{data}: permission denied")


def test_a_readable_store_is_made_private_with_one_warning(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    for name in ("soldout.db", "soldout.db-wal", "admin.token", "notes.txt"):
        (data / name).write_text("x")
        (data / name).chmod(0o644)
    warnings = prepare_data_dir(data, data / "soldout.db", data / "soldout-test-payments.db")
    assert len(warnings) == 1
    assert f"{data / 'soldout.db'} 644 -> 600" in warnings[0]
    assert f"{data} 755 -> 700" in warnings[0]
    assert mode(data) == 0o700
    for name in ("soldout.db", "soldout.db-wal", "admin.token"):
        assert mode(data / name) == 0o600, name
    assert mode(data / "notes.txt") == 0o644  # not soldout's: left alone
    assert prepare_data_dir(data, data / "soldout.db", data / "soldout-test-payments.db") == []


def test_a_shared_directory_is_never_made_private(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp
    with pytest.raises(Unusable) as caught:
        make_private([shared])
    assert "a directory of its own" in one_line(caught.value)
    assert mode(shared) == 0o1777


def test_disk_watch_says_low_before_full_and_not_writable_once_gone(tmp_path: Path) -> None:
    ok = DiskWatch((tmp_path,), low_bytes=1 << 20, usage=lambda path: 2 << 20).report()
    assert (ok.writable, ok.low, ok.free_bytes) == (True, False, 2 << 20)
    low = DiskWatch((tmp_path,), low_bytes=1 << 20, usage=lambda path: 4096).report()
    assert (low.writable, low.low) == (True, True)
    gone = DiskWatch((tmp_path / "removed",), low_bytes=1 << 20).report()
    assert (gone.writable, gone.free_bytes) == (False, None)


def test_missing_parents_of_the_data_directory_are_private_too(tmp_path: Path) -> None:
    """Under `umask 000` the parents came out world-writable (0777)."""
    was = os.umask(0)
    try:
        make_private_dir(tmp_path / "shop" / "data" / "mail")
    finally:
        os.umask(was)
    for folder in ("shop", "shop/data", "shop/data/mail"):
        assert stat.S_IMODE((tmp_path / folder).stat().st_mode) == 0o700, folder
