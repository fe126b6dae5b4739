"""`soldout demo --scale-out`, as a user runs it: one command starts a PostgreSQL and a
Redis from the installed wheels, the owner and two workers; the demo's launch sells
through the workers; Ctrl-C (SIGTERM) stops everything it started."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, register

pytestmark = pytest.mark.timeout(300)


def _descendants(pid: int) -> set[int]:
    """Every process below `pid` (from /proc), to see that none is left after the stop."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads /proc")
def test_the_scale_out_demo_serves_through_its_workers_and_stops_whole(tmp_path: Path) -> None:
    port = free_port()
    # PostgreSQL runs as `nobody` under root: its folder goes in a temporary directory of
    # the test's own that `nobody` may enter, deleted afterwards
    scratch = Path(tempfile.mkdtemp(prefix="soldout-demo-test-"))
    scratch.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOLDOUT_")}
    env |= {"TMPDIR": str(scratch), "SOLDOUT_SIGNUP_LIMIT": "0"}
    started = time.monotonic()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "soldout", "demo", "--scale-out", "--workers", "2"),
            *("--data", str(tmp_path / "data"), "--port", str(port), "--opens-in", "0"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    said: list[str] = []
    try:
        while (line := lines.get(timeout=180)) is not None:
            said.append(line)
            if "serving after" in line:
                break
        assert any("serving after" in line for line in said), "\n".join(said)
        print(f"demo --scale-out served after {time.monotonic() - started:.1f} s")
        running = _descendants(process.pid)
        assert len(running) >= 5  # PostgreSQL, Redis, the owner, two workers (and theirs)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            [launch] = client.get("/api/v1/launches").json()
            sku = launch["skus"][0]["code"]
            fan = register(client)
            headers = {"authorization": f"Bearer {fan['token']}", "idempotency-key": "d1"}
            path = f"/api/v1/launches/{launch['id']}/claims"
            made = client.post(path, json={"sku": sku}, headers=headers)
            assert made.status_code == 201, made.text
            again = client.post(path, json={"sku": sku}, headers=headers)
            assert (again.status_code, again.json()) == (200, made.json())
            paid = client.post(
                f"/api/v1/claims/{made.json()['id']}/payment",
                json={"method": "test", "token": "tok_ok"},
                headers={**headers, "idempotency-key": "pay-d1"},
            )
            assert paid.status_code == 200, paid.text
            assert paid.json()["ship_date"]
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
            shutil.rmtree(scratch, ignore_errors=True)
    assert process.returncode == 0, "\n".join(said)
    assert not [pid for pid in running if Path(f"/proc/{pid}").exists()]
