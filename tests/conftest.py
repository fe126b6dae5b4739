from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ServerProcess


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real `soldout serve` process on a free loopback port with its own data directory."""
    process = ServerProcess(tmp_path / "data")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for tests that only need isolation by their own launches and fans. Its
    rate limits are off: tests on it race many requests of one fan on purpose."""
    process = ServerProcess(
        tmp_path_factory.mktemp("shared") / "data", env={"SOLDOUT_RATE_LIMIT_FAN": "0"}
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()
