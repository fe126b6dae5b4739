"""One process owns a store's counters: a second server on the same data, or on a port
already taken, is refused instead of silently sharing (which could oversell)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ServerProcess, free_port


def serve(data: Path, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "soldout", "serve", "--data", str(data), "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_second_server_on_the_same_data_is_refused(server: ServerProcess) -> None:
    second = serve(server.data, free_port())
    assert second.returncode == 1
    assert "another soldout process is serving" in second.stderr
    with server.client() as client:
        assert client.get("/healthz").status_code == 200


def test_a_second_server_on_a_taken_port_is_refused(server: ServerProcess, tmp_path: Path) -> None:
    second = serve(tmp_path / "other", server.port)
    assert second.returncode == 1
    assert f"cannot listen on 127.0.0.1:{server.port}" in second.stderr
