"""`soldout demo`, run twice on one data directory as a maker trying it out would: the
second run says where the admin token it made the first time is kept, and that token
opens the admin API."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tests.support import free_port


def demo_until_serving(data: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    """Start `soldout demo`; return it and what it printed up to its admin token line (its
    output goes on being read, so the demo never blocks on a full pipe)."""
    env = {k: v for k, v in os.environ.items() if k != "SOLDOUT_ADMIN_TOKEN"}
    process = subprocess.Popen(
        [sys.executable, "-m", "soldout", "demo", "--data", str(data), "--port", str(port)],
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
        lines.put(None)  # the demo exited

    threading.Thread(target=pump, daemon=True).start()
    said: list[str] = []
    while (line := lines.get(timeout=60)) is not None:
        said.append(line)
        if line.strip().startswith("admin token"):
            break
    return process, said


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_a_second_demo_run_says_where_its_admin_token_is(tmp_path: Path) -> None:
    data, port = tmp_path / "demo", free_port()
    first, said = demo_until_serving(data, port)
    try:
        (line,) = [s for s in said if s.strip().startswith("admin token")]
        assert "generated" in line, said
        token = line.rsplit(": ", 1)[1]
    finally:
        stop(first)

    second, said = demo_until_serving(data, port)
    try:
        (line,) = [s for s in said if s.strip().startswith("admin token")]
        kept = data / "admin.token"
        assert str(kept) in line, said  # where to find it, not only "somewhere"
        assert token not in line  # a second run does not print the secret again
        assert kept.read_text().strip() == token
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            launches = http.get("/api/v1/launches").json()
            stats = http.get(
                f"/api/v1/launches/{launches[0]['id']}/stats",
                headers={"authorization": f"Bearer {token}"},
            )
            assert stats.status_code == 200, stats.text
            refused = http.get(f"/api/v1/launches/{launches[0]['id']}/stats")
            assert refused.status_code == 401
            # the demo's board was seeded once, by the first run: not again by the second
            board = http.get(f"/api/v1/products/{launches[0]['product_id']}/ideas").json()
            assert [(i["title"], i["votes"]) for i in board["ideas"]][:1] == [
                ("A white 128 GB model", 3)
            ]
            assert board["total"] == 3
    finally:
        stop(second)
