"""The data directory and the files soldout keeps in it: private, writable, with room on
its disk, or one line that names the file at fault and says what to do.

Private, because the database holds the key that signs every fan's token (its `secrets`
table): whoever can read the file can forge any fan's token, and read every shipping
address. The directory is made 0700 and each file soldout writes there 0600 when it is
created (`make_private_dir`, `create_private`, `write_private`; SQLite gives a database's
-wal and -shm the database's own mode). At start `prepare_data_dir` takes group and world
access away from a store that has it (made by an older soldout, or copied in with `cp`)
and says so in one warning line; it stops the start, naming the `chmod` to run, only when
it cannot change a mode itself. docs/operations.md gives the reasons.

    warnings = prepare_data_dir(data, database, ledger, low_bytes=256 << 20)

A failure an operator can act on (a read-only or uncreatable directory, a damaged
database, a full disk) is raised as `Unusable`, whose text is that one line: `explain`
turns the `OSError` or SQLite error met on a path into it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "PRIVATE_DIR",
    "PRIVATE_FILE",
    "DiskReport",
    "DiskWatch",
    "Unusable",
    "check_writable",
    "create_private",
    "explain",
    "free_bytes",
    "make_private",
    "make_private_dir",
    "prepare_data_dir",
    "read_only_uri",
    "store_files",
    "write_private",
]

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_OTHERS = 0o077  # the group's and the world's bits
_ANOTHER_DIRECTORY = "or use another --data directory"


class Unusable(Exception):
    """A file or directory soldout cannot use. `str()` is the one line an operator
    reads: which path, what is wrong with it, what to do."""


def make_private_dir(path: Path) -> None:
    """Create the directory `path` and any missing parents, each with mode 0700 (mkdir's
    `parents` would make them as the umask says: world-writable under `umask 000`). One
    that exists is left as it is: `make_private` is what changes modes, saying so."""
    if path.is_dir():
        return
    missing = [path, *(p for p in path.parents if not p.exists())]
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        os.chmod(folder, PRIVATE_DIR)  # (mkdir's mode passes through the umask)


def create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists. Done before SQLite opens a new
    database, which then makes its -wal and -shm with the same mode."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))


def write_private(path: Path, data: bytes) -> None:
    """Write `path` whole with mode 0600, replacing what was there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(fd, PRIVATE_FILE)  # (a file that existed keeps its mode through O_CREAT)
        out.write(data)


def read_only_uri(path: Path) -> str:
    """The SQLite URI that opens `path` read-only (`mode=ro`): any write fails. Made with
    `as_uri`, so a `?` or `#` in a directory's name stays part of the path."""
    return path.absolute().as_uri() + "?mode=ro"


def make_private(paths: Iterable[Path]) -> str | None:
    """Take group and world access away from each of `paths` that exists. Returns the
    warning line naming what changed (None: nothing needed to). Raises `Unusable`, naming
    the chmod to run, when a mode cannot be changed (the file belongs to another user) or
    must not be (a shared directory such as /tmp given as the data directory)."""
    changed = []
    for path in paths:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            continue
        if not mode & _OTHERS:
            continue
        if stat.S_ISDIR(mode) and mode & stat.S_ISVTX:
            raise Unusable(
                f"{path} is shared by all users (its sticky bit is set, as on /tmp): give"
                f" soldout a directory of its own, such as --data {path / 'soldout'}"
            )
        private = stat.S_IMODE(mode) & ~_OTHERS
        try:
            os.chmod(path, private)
        except PermissionError:
            raise Unusable(
                f"{path} can be read by other users, and soldout may not change its mode"
                f" (another user owns it): run `chmod {private:o} {path}` as its owner or as"
                " root, then start again"
            ) from None
        changed.append(f"{path} {stat.S_IMODE(mode):o} -> {private:o}")
    if not changed:
        return None
    return "made private (other users could read the key that signs fans' tokens): " + (
        ", ".join(changed)
    )


def store_files(data: Path, database: Path, ledger: Path) -> Iterator[Path]:
    """What soldout keeps: the data directory, the database with its -wal, -shm and lock,
    the test provider's ledger and secret, the admin token, e-mails written to files, the
    spool of answers being sent. By name, so a data directory pointed at a folder that
    also holds other things never has those changed."""
    yield data
    yield data / "admin.token"
    for folder in {database.parent, ledger.parent}:
        if folder.is_dir():
            yield from folder.glob(f"{database.name}*")
            yield from folder.glob(f"{ledger.stem}*")
    for sub in (data / "mail", data / "spool"):
        yield sub
        if sub.is_dir():
            yield from sub.iterdir()


def check_writable(folder: Path, write: Callable[[int, bytes], int] = os.write) -> None:
    """Raise `Unusable` unless soldout can make a file in `folder` and write to it (a
    read-only mount, a directory soldout's user may not write, a full disk): a probe file,
    written, synced and removed at once. `write` is the seam a test fills the disk at."""
    probe = folder / f".soldout-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        try:
            write(fd, b"soldout")
            os.fsync(fd)
        finally:
            os.close(fd)
            probe.unlink()
    except OSError as error:  # named by the directory, not by the probe's own name
        raise explain(OSError(error.errno, error.strerror), folder) from None


def prepare_data_dir(data: Path, database: Path, ledger: Path, *, low_bytes: int = 0) -> list[str]:
    """Before a server starts: the data directory made (0700) if missing, the store's files
    made private, the directories writable, the disk's free space looked at. Returns the
    warnings to show (what was made private; a disk with less than `low_bytes` free);
    raises `Unusable` for what stops a start."""
    warnings = []
    try:
        make_private_dir(data)
        make_private_dir(database.parent)
    except OSError as error:
        raise explain(error, data) from None
    made_private = make_private(store_files(data, database, ledger))
    if made_private:
        warnings.append(made_private)
    for folder in dict.fromkeys((data, database.parent)):
        check_writable(folder)
    free = min(free_bytes(folder) for folder in {data, database.parent})
    if free < low_bytes:
        warnings.append(
            f"only {free >> 20} MB free on the disk holding {database}"
            f" (SOLDOUT_LOW_DISK_MB: {low_bytes >> 20}): free some space before a sale"
        )
    return warnings


def free_bytes(path: Path) -> int:
    """Bytes free on the disk holding `path`, as soldout's user may use them."""
    return shutil.disk_usage(path).free


@dataclass(frozen=True, slots=True)
class DiskReport:
    writable: bool
    free_bytes: int | None  # None: the disk could not be asked (the path is gone)
    low: bool


@dataclass(frozen=True, slots=True)
class DiskWatch:
    """What `/healthz` tells of the store's disk before a write fails there: whether
    soldout may still write each of `paths` (the data directory, the database) and
    whether the free space is under `low_bytes`. `usage` is the free-space seam
    (`free_bytes`), injected by tests to fill a disk."""

    paths: tuple[Path, ...]
    low_bytes: int
    usage: Callable[[Path], int] = free_bytes

    def report(self) -> DiskReport:
        # os.access: a mode soldout's user may not write, a read-only mount, a path gone;
        # two system calls a path, no write.
        writable = all(os.access(path, os.W_OK) for path in self.paths)
        try:
            free: int | None = min(self.usage(path) for path in self.paths)
        except OSError:
            free = None
        return DiskReport(writable, free, free is not None and free < self.low_bytes)


_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS,)
_DENIED = (errno.EACCES, errno.EPERM)
_NO_PLACE = (errno.ENOENT, errno.ENOTDIR, errno.EEXIST)


def explain(error: BaseException, path: Path) -> Unusable:
    """The one line an operator reads for `error`, met using `path`: the path at fault
    (the error's own file name when it has one), what is wrong, what to do.
    Understands `OSError`, SQLite's errors (by their code) and SQLAlchemy's wrapping of
    them (Alembic's migrations)."""
    cause = getattr(error, "orig", None) or error
    if isinstance(cause, OSError):
        where = Path(cause.filename) if cause.filename else path
        return _line(where, cause.errno, "", cause.strerror or str(cause))
    if isinstance(cause, sqlite3.Error):
        name = getattr(cause, "sqlite_errorname", "") or ""
        return _line(path, None, name, str(cause))
    return Unusable(f"cannot use {path}: {cause}")


def _line(path: Path, code: int | None, sqlite: str, words: str) -> Unusable:
    if code in _FULL or sqlite == "SQLITE_FULL":
        return Unusable(
            f"no space left on the disk holding {path}: free some space there (or move the"
            " data directory to a larger disk), then start soldout again"
        )
    if code in _READ_ONLY or sqlite.startswith("SQLITE_READONLY"):
        return Unusable(
            f"{path} is read-only ({words}): make it writable for the user soldout runs as,"
            f" {_ANOTHER_DIRECTORY}"
        )
    if code in _DENIED or sqlite in ("SQLITE_PERM", "SQLITE_AUTH"):
        return Unusable(
            f"{path}: permission denied: let the user soldout runs as read and write it"
            f" (chown or chmod), {_ANOTHER_DIRECTORY}"
        )
    if code in _NO_PLACE:
        return Unusable(
            f"{path} cannot be made ({words}): a part of that path is missing or is a file;"
            f" {_ANOTHER_DIRECTORY.removeprefix('or ')}"
        )
    if sqlite == "SQLITE_NOTADB" or sqlite.startswith("SQLITE_CORRUPT"):
        return Unusable(
            f"{path} is damaged, not a readable soldout database (SQLite: {words}): restore"
            " it from a backup, or move it (with its -wal and -shm) aside to start empty"
        )
    if sqlite.startswith("SQLITE_CANTOPEN"):
        return Unusable(
            f"{path} cannot be opened: check that its directory exists and that the user"
            f" soldout runs as may write there, {_ANOTHER_DIRECTORY}"
        )
    return Unusable(f"cannot use {path}: {words}")
