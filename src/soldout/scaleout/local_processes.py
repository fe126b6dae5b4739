"""Processes of the servers started on this machine (`scaleout.local`): running
PostgreSQL as `nobody` when we are root (it refuses root), a process's children, and
waiting until processes are gone."""

from __future__ import annotations

import contextlib
import os
import pwd
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

__all__ = ["UNPRIVILEGED_USER", "alive", "children_of", "run_as_nobody", "wait_gone"]

UNPRIVILEGED_USER = "nobody"


def run_as_nobody(root: Path) -> dict[str, Any] | None:
    """Popen's arguments to run PostgreSQL as `nobody` when we are root, else None."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise RuntimeError(
            f"PostgreSQL refuses to run as root, and there is no {UNPRIVILEGED_USER!r} user "
            "to run it as: run this as another user"
        ) from None
    for folder in root.parents:
        st = folder.stat()
        mine, group = st.st_uid == user.pw_uid, st.st_gid == user.pw_gid
        bit = stat.S_IXUSR if mine else stat.S_IXGRP if group else stat.S_IXOTH
        if not st.st_mode & bit:
            raise RuntimeError(
                f"PostgreSQL runs as {UNPRIVILEGED_USER!r} (it refuses root), which cannot "
                f"reach {root} through {folder}: use a directory it can reach, or run this "
                "as another user"
            )
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def children_of(pid: int) -> list[int]:
    """The direct children of `pid`."""
    if not Path("/proc").is_dir():  # macOS and other systems without /proc
        pgrep = ["pgrep", "-P", str(pid)]
        found = subprocess.run(pgrep, capture_output=True, text=True, check=False)  # noqa: S603
        return [int(line) for line in found.stdout.split()]
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):  # gone meanwhile
            line = (entry / "stat").read_text()  # "pid (comm) state ppid ...", comm: any text
            if int(line[line.rindex(")") + 2 :].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def wait_gone(pids: list[int], timeout: float = 10) -> None:
    """Until none of `pids` runs (a zombie has let go of everything, shared memory too)."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.005)


def alive(pid: int) -> bool:
    if not Path("/proc").is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True
    try:
        line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return line[line.rindex(")") + 2] not in "ZX"
