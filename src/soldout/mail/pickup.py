"""Without a relay (`SOLDOUT_SMTP_URL` unset), each message becomes an .eml file in a
directory (`DATA/mail/`): what would have been sent, readable in any mail program, and
nothing pretends to have reached a fan. The outbox records them as `sent` *to this
directory*, and soldout says so when it starts."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from soldout.datadir import make_private_dir, write_private
from soldout.mail.transport import Connection, Envelope, Unreachable

__all__ = ["PickupDirectory"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class PickupDirectory:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def description(self) -> str:
        return f"the directory {self.folder} (no SOLDOUT_SMTP_URL: nothing is sent)"

    async def open(self) -> Connection:
        try:
            make_private_dir(self.folder)  # 0700, each message 0600: fans' addresses
        except OSError as error:
            raise Unreachable(f"cannot write to {self.folder}: {error.strerror}") from None
        return _Writer(self.folder)


class _Writer:
    def __init__(self, folder: Path) -> None:
        self._folder = folder

    async def send(self, envelope: Envelope) -> None:
        """Written whole, then renamed: a reader never sees half a message."""
        name = _UNSAFE.sub("_", envelope.notification_id) + ".eml"
        final = self._folder / name
        partial = self._folder / f".{name}.part"

        def write() -> None:
            write_private(partial, envelope.data)
            os.replace(partial, final)

        try:
            await asyncio.to_thread(write)
        except OSError as error:
            raise Unreachable(f"cannot write {final}: {error.strerror}") from None

    async def close(self) -> None:
        return None
