"""`soldout backup` and `soldout restore`: a whole copy of an embedded store's data, made
while the server sells, and put back into a data directory no server holds.

What a data directory holds, and what a restore needs of it:

- `soldout.db`, the store: every sale, order, payment and fan, the uploaded images (blobs
  in `media`), the fan-token signing key. Copied (its -wal and -shm are in the copy).
- `soldout-test-payments.db`, the `test` provider's ledger, read by `reconcile` and by a
  start's `Checkout.resume`; `soldout-test-payments.secret`, its webhook secret. Copied.
- `admin.token`, the maker's token when it was generated. Copied.
- `soldout.db.lock`: which process serves; never copied.
- `mail/`: the .eml copies of e-mails "sent" to the pickup directory (no SMTP relay). Not
  copied: which e-mails were sent is in the store's outbox, so none is sent again.
- `spool/`: answers being streamed, emptied at each start. Not copied.

The two databases are copied from snapshots pinned by one statement, the store's first:
the provider's record is then never behind soldout's, which is the state a crash leaves and
a start already settles (a payment the provider captured just before the copy while its
order was not yet written is still `pending` in the copy; `serve` completes it on start).
A payment begun and captured in the microseconds between the two moments has no record in
the copy: `reconcile` names its money, as it names what a real provider took after a
backup (docs/backup.md).

A backup is written into a hidden sibling directory (0700, files 0600) and renamed to
PATH only once whole, with `soldout-backup.json` written last: a directory that lacks it
is never restored. A restore checks every database of the backup (`PRAGMA
integrity_check`) before anything is replaced, holds the target's lock as a server does
throughout, and with `force` moves what it replaces to DATA/replaced-TIME/ instead of
deleting it.

    made = make_backup(settings, Path("/backups/before-launch"))
    restored = restore_backup(made.path, Settings(data=Path("/srv/soldout")), force=False)
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soldout import __version__
from soldout.clock import Clock, SystemClock
from soldout.datadir import (
    PRIVATE_DIR,
    PRIVATE_FILE,
    Unusable,
    make_private,
    make_private_dir,
    store_files,
)
from soldout.settings import Settings
from soldout.store.sqlite.online_backup import (
    OnStep,
    copy_pinned,
    integrity_problems,
    pinned,
    pinned_schema,
)
from soldout.store.sqlite.store import lock_path, owning

__all__ = [
    "MANIFEST",
    "PARTS",
    "BackupMade",
    "BackupRefused",
    "Part",
    "Restored",
    "check_backup",
    "live_paths",
    "make_backup",
    "restore_backup",
]

MANIFEST = "soldout-backup.json"
FORMAT = 1


class BackupRefused(Exception):
    """A backup or a restore that would not be whole or would destroy something; its
    message says what to do instead."""


@dataclass(frozen=True, slots=True)
class Part:
    name: str  # its name in a backup, and in a data directory laid out by default
    what: str
    database: bool = False  # SQLite: copied from a pinned snapshot, checked when restored


STORE = Part("soldout.db", "the store", database=True)
LEDGER = Part("soldout-test-payments.db", "the test provider's ledger", database=True)
PARTS = (
    STORE,
    LEDGER,
    Part("soldout-test-payments.secret", "the test provider's webhook secret"),
    Part("admin.token", "the generated admin token"),
)
_COMPANIONS = ("-wal", "-shm", "-journal")  # a database's files beside it


def live_paths(settings: Settings) -> dict[Part, Path]:
    """Where each part lives for `settings` (`--store sqlite:///PATH` moves the databases)."""
    ledger = settings.payments_ledger
    paths = (
        settings.database,
        ledger,
        ledger.with_suffix(".secret"),
        settings.data / "admin.token",
    )
    return dict(zip(PARTS, paths, strict=True))


@dataclass(frozen=True, slots=True)
class BackupMade:
    path: Path
    parts: tuple[Part, ...]
    store_bytes: int
    seconds: float


def make_backup(
    settings: Settings, path: Path, *, clock: Clock | None = None, on_step: OnStep | None = None
) -> BackupMade:
    """Copy the store of `settings` (served or not) into the new directory `path`."""
    started = time.monotonic()
    sources = live_paths(settings)
    if not sources[STORE].is_file():
        raise BackupRefused(f"no soldout database at {sources[STORE]}")
    if path.exists() or path.is_symlink():
        raise BackupRefused(f"{path} exists: a backup is written to a new directory")
    make_private_dir(path.parent)
    partial = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    try:
        moment = (clock or SystemClock()).now()  # the snapshots are pinned right after
        parts = _copy_parts(sources, partial, on_step)
        manifest = {
            "soldout_backup": FORMAT,
            "made_at": moment.isoformat(),
            "soldout_version": __version__,
            "source": str(settings.data),
            "files": [part.name for part in parts],
        }
        _write_new(partial / MANIFEST, json.dumps(manifest, indent=2).encode())
        _sync(partial)
        if path.exists():
            raise BackupRefused(f"{path} appeared while the backup was made; nothing was written")
        partial.rename(path)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _sync(path.parent)
    size = (path / STORE.name).stat().st_size
    return BackupMade(path, parts, size, time.monotonic() - started)


def _copy_parts(sources: dict[Part, Path], into: Path, on_step: OnStep | None) -> tuple[Part, ...]:
    present = [part for part, source in sources.items() if source.is_file()]
    databases = [part for part in present if part.database]
    # Pinned in PARTS order, the store first, by one statement, before a page is copied.
    with pinned(*(sources[part] for part in databases)) as snapshot:
        for index, part in enumerate(databases):
            copy_pinned(snapshot, into / part.name, on_step=on_step, schema=pinned_schema(index))
    for part in databases:
        if problems := integrity_problems(into / part.name):
            raise BackupRefused(f"the copy of {part.what} is not whole: {'; '.join(problems)}")
        _sync(into / part.name)
    for part in present:
        if not part.database:
            _write_new(into / part.name, sources[part].read_bytes())
    return tuple(present)


# -- restore ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Restored:
    data: Path
    made_at: str
    parts: tuple[Part, ...]
    replaced: Path | None  # where what was there before went (`force`)


def check_backup(path: Path) -> tuple[dict[str, Any], tuple[Part, ...]]:
    """The backup's manifest and parts, or `BackupRefused` naming what is wrong with it."""
    if not path.is_dir():
        raise BackupRefused(f"no backup at {path}")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        names = list(manifest["files"])
        made_at = str(manifest["made_at"])
    except FileNotFoundError:
        raise BackupRefused(
            f"the backup {path} is not whole, nothing was changed: it has no {MANIFEST},"
            " which `soldout backup` writes last (a backup stopped half-way, or no backup)"
        ) from None
    except (ValueError, KeyError, TypeError) as error:
        raise BackupRefused(f"{path}/{MANIFEST} cannot be read ({error!r})") from None
    by_name = {part.name: part for part in PARTS}
    unknown = [name for name in names if name not in by_name]
    if unknown or STORE.name not in names:
        raise BackupRefused(
            f"{path} is not a backup this soldout can restore: it holds {names}"
            f" (made by soldout {manifest.get('soldout_version')}, {made_at})"
        )
    parts = tuple(by_name[name] for name in names)
    problems = [f"{part.name} is missing" for part in parts if not (path / part.name).is_file()]
    for part in parts:
        if part.database and not problems:
            problems += integrity_problems(path / part.name)
    if problems:
        raise BackupRefused(
            f"the backup {path} is not whole, nothing was changed: {'; '.join(problems)}"
        )
    return manifest, parts


def restore_backup(
    backup: Path, settings: Settings, *, force: bool = False, clock: Clock | None = None
) -> Restored:
    """Put `backup` in place as the store of `settings`; refuses a store a server holds,
    and a data directory that is not empty unless `force`."""
    manifest, parts = check_backup(backup)  # before anything is touched
    targets = live_paths(settings)
    data = settings.data
    if backup.resolve() == data.resolve():
        raise BackupRefused(f"{backup} is the backup itself: restore it into another directory")
    make_private_dir(data)
    with owning(targets[STORE]):  # StoreInUse while a server holds it, as for `serve`
        found = _contents(data, targets[STORE])
        if found and not force:
            shown = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
            raise BackupRefused(
                f"{data} is not empty ({shown}): restoring replaces the store there. Add"
                " --force to replace it (what it replaces is moved to"
                f" {data}/replaced-TIME/), or restore into an empty directory"
            )
        _make_private(settings)
        with _staged(backup, parts, targets) as staged:
            replaced = _move_aside(targets, data, clock or SystemClock())
            for part, path in staged.items():
                path.replace(targets[part])
        for folder in {path.parent for path in targets.values()}:
            _sync(folder)
    return Restored(data, str(manifest["made_at"]), parts, replaced)


def _make_private(settings: Settings) -> None:
    """The store's files and the data directory readable by their owner alone (0755
    becomes 0700, 0644 0600), as a server makes them at start (`datadir.store_files`, by
    name: whatever else a folder holds is left alone): a directory that existed (`force`)
    is left no more open than a new one."""
    try:
        make_private(store_files(settings.data, settings.database, settings.payments_ledger))
    except Unusable as exc:
        raise BackupRefused(str(exc)) from None


def _contents(data: Path, database: Path) -> list[str]:
    """What the target holds besides the lock a restore itself takes."""
    lock = lock_path(database)
    found = sorted(entry.name for entry in data.iterdir() if entry != lock)
    if database.parent != data and database.exists():
        found.append(str(database))
    return found


@contextlib.contextmanager
def _staged(
    backup: Path, parts: tuple[Part, ...], targets: dict[Part, Path]
) -> Iterator[dict[Part, Path]]:
    """Each part copied beside its destination under a hidden name (a rename into place
    is then atomic); what was not moved into place is removed."""
    staged: dict[Part, Path] = {}
    try:
        for part in parts:
            target = targets[part]
            make_private_dir(target.parent)
            path = staged[part] = target.with_name(
                f".{target.name}.restoring-{secrets.token_hex(4)}"
            )
            if part.database:
                with pinned(backup / part.name) as snapshot:
                    copy_pinned(snapshot, path)
                _sync(path)
            else:
                _write_new(path, (backup / part.name).read_bytes())
        yield staged
    finally:
        for path in staged.values():
            path.unlink(missing_ok=True)


def _move_aside(targets: dict[Part, Path], data: Path, clock: Clock) -> Path | None:
    """Move every file a restore replaces (a database with its -wal: an old -wal beside a
    restored database would be replayed into it) to DATA/replaced-TIME/."""
    old = [
        path
        for part, target in targets.items()
        for path in [target, *(Path(f"{target}{end}") for end in _COMPANIONS if part.database)]
        if path.exists()
    ]
    if not old:
        return None
    aside = data / f"replaced-{clock.now():%Y%m%dT%H%M%SZ}"
    while aside.exists():
        aside = aside.with_name(f"{aside.name}-{secrets.token_hex(2)}")
    aside.mkdir(mode=PRIVATE_DIR)
    for path in old:
        shutil.move(path, aside / path.name)
    _sync(aside)
    return aside


def _write_new(path: Path, content: bytes) -> None:
    """A new file readable by its owner only, on disk before this returns."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())


def _sync(path: Path) -> None:
    """fsync a file, or a directory (its entries: a rename is durable once it returns)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
