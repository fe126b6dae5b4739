"""`soldout serve --workers N` starts the owner and the workers as child processes: no
secret of the operator's is on their command lines, which every user of the machine can
read (`ps`, /proc/PID/cmdline); the Redis URL was, password and all."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support import ServerProcess

pytestmark = pytest.mark.scale_out_too


def children_of(pid: int) -> list[str]:
    """The command lines of the processes whose parent is `pid`."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"\nPPid:\t{pid}\n" in status.read_text():
                found.append((status.parent / "cmdline").read_bytes().replace(b"\0", b" "))
        except OSError:
            continue  # (it ended meanwhile)
    return [line.decode() for line in found]


def test_no_url_with_a_secret_is_on_a_childs_command_line(shared_server: ServerProcess) -> None:
    if "--workers" not in shared_server.args:
        pytest.skip("one process: no children")
    assert shared_server.process is not None
    children = children_of(shared_server.process.pid)
    assert len([c for c in children if " serve " in c]) == 3  # the owner and two workers
    for secret in (shared_server.env["SOLDOUT_REDIS"], shared_server.env["SOLDOUT_STORE"]):
        assert not [c for c in children if secret in c], secret


def test_the_owner_listens_on_the_port_its_operator_set(shared_server: ServerProcess) -> None:
    """`SOLDOUT_OWNER_PORT` (`--owner-port`): the owner's /metrics and health stay where a
    monitor looks for them, run after run (it was a free port chosen at each start)."""
    if "--workers" not in shared_server.args:
        pytest.skip("one process: no owner apart")
    assert shared_server.process is not None
    port = shared_server.env["SOLDOUT_OWNER_PORT"]
    [owner] = [c for c in children_of(shared_server.process.pid) if "--role owner" in c]
    assert f"--host 127.0.0.1 --port {port}" in owner
    health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
