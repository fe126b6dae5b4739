from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import ServerProcess


@pytest.fixture(scope="module")
def admin(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    """The maker's client on the shared server (one per module: a client costs an SSL
    context to make, and holds no state)."""
    with shared_server.admin() as client:
        yield client


@pytest.fixture(scope="module")
def anyone(shared_server: ServerProcess) -> Iterator[httpx.Client]:
    """A client without a token; fan calls pass their token per request."""
    with shared_server.client() as client:
        yield client
