from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import SCALE_OUT, ServerProcess, server_on

pytest_plugins = ["tests.postgres"]


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
def _shared_servers(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: object,  # (asked for here so that it outlives these servers)
) -> Iterator[Callable[[str], ServerProcess]]:
    """Each backend's shared server, started the first time a test asks for it and kept
    for the rest of the session. (A parametrized session fixture would be stopped and
    started again at every switch between its parameters: in every file.)"""
    servers: dict[str, ServerProcess] = {}
    with contextlib.ExitStack() as stack:

        def started(name: str) -> ServerProcess:
            if name not in servers:
                data = tmp_path_factory.mktemp(name) / "data"
                env = {"SOLDOUT_RATE_LIMIT_FAN": "0"}
                servers[name] = stack.enter_context(server_on(name, data, request, env))
            return servers[name]

        yield started


@pytest.fixture(scope="module", params=["sqlite", SCALE_OUT])
def shared_server(
    request: pytest.FixtureRequest, _shared_servers: Callable[[str], ServerProcess]
) -> ServerProcess:
    """One server for tests that only need isolation by their own launches and fans. Its
    rate limits are off: tests on it race many requests of one fan on purpose. The
    embedded default; and for modules marked `scale_out_too`, also the owner and two
    workers on PostgreSQL and Redis (docs/scale-out.md), so their behaviour is proven on
    both."""
    return _shared_servers(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The scale-out `shared_server` runs only the modules marked `scale_out_too`."""
    kept, dropped = [], []
    for item in items:
        spec = getattr(item, "callspec", None)
        scaled = spec is not None and spec.params.get("shared_server") == SCALE_OUT
        if scaled and item.get_closest_marker("scale_out_too") is None:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    items.sort(key=_later)


# Files that take longest start first: with `--dist loadfile` each worker takes the next
# whole file as it frees up, so one long file begun last leaves the others idle at the end.
_FIRST = (
    "tests/browser/",
    "tests/integration/test_scale_out",
    "tests/integration/test_fair_rehearsal.py",
    "tests/integration/test_crash",
    "tests/integration/test_demo",
    "tests/integration/test_backup.py",
    "tests/unit/test_invariants_property.py",
)


def _later(item: pytest.Item) -> int:
    """0 for an item of a long file (`_FIRST`), 1 for the rest: a stable sort keeps each
    file's items together and in their order."""
    path = item.nodeid.split("::", 1)[0]
    return 0 if path.startswith(_FIRST) else 1
