"""Whether a database file is exactly as a clean stop left it, so that the next start may
skip reading every page of it (`check_database`).

A server that stops cleanly, its store healthy and its write-ahead log folded back into
the file, notes the file's size, modification time and inode beside it
(`soldout.db.clean`). The next start compares them before anything opens the file, and
forgets the note either way: the server is about to write. A crash, a restore, a copy or
an edit by hand leaves no note or a different file, and the whole check runs (reading
every page takes about 0.2 s per 100 MB: 5 s for a shop with a million orders).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from soldout.datadir import PRIVATE_FILE

__all__ = ["left_clean", "note_clean_stop"]


def _note(database: Path) -> Path:
    return database.with_name(database.name + ".clean")


def _identity(database: Path) -> dict[str, int] | None:
    """The file's size, modification time and inode; None while its log holds pages."""
    wal = database.with_name(database.name + "-wal")
    with contextlib.suppress(FileNotFoundError):
        if wal.stat().st_size > 0:
            return None
    try:
        seen = database.stat()
    except FileNotFoundError:
        return None
    return {"size": seen.st_size, "mtime_ns": seen.st_mtime_ns, "inode": seen.st_ino}


def note_clean_stop(database: Path) -> None:
    """After the last connection closed on a healthy store: the file as it was left."""
    identity = _identity(database)
    if identity is None:
        return
    note = _note(database)
    written = note.with_name(note.name + ".new")
    with contextlib.suppress(OSError):  # no note: the next start checks every page
        handle = os.open(written, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        with os.fdopen(handle, "w") as out:
            json.dump(identity, out)
        written.replace(note)


def left_clean(database: Path) -> bool:
    """Whether the file is the one a clean stop noted, unchanged; the note is used up."""
    note = _note(database)
    try:
        noted = json.loads(note.read_text())
    except (OSError, ValueError):
        return False
    finally:
        with contextlib.suppress(OSError):
            note.unlink()
    return bool(noted == _identity(database))
