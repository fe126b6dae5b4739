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
    """One server for tests that only need isolation by their own launches and fans."""
    process = ServerProcess(tmp_path_factory.mktemp("shared") / "data")
    process.start()
    try:
        yield process
    finally:
        process.stop()
