"""`soldout.scaleout.local`: a PostgreSQL and a Redis in a directory that outlives them, as
`soldout demo --scale-out` runs them. PostgreSQL keeps its data from one run to the next,
Redis keeps nothing, and `close()` leaves the directory in place."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from soldout.scaleout.local import LocalPostgres, postgres_bindir
from soldout.scaleout.local_redis import LocalRedis, redis_binary


@pytest.fixture
def kept_root() -> Iterator[Path]:
    """A directory of the caller's, as the demo's data directory is. Under the system
    temporary directory and open to all: as root, PostgreSQL runs as `nobody`, who cannot
    reach pytest's `tmp_path`."""
    base = Path(tempfile.mkdtemp(prefix="soldout-local-test-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_postgres_keeps_its_data_in_a_given_root(kept_root: Path) -> None:
    root = kept_root / "postgresql"
    with LocalPostgres(root) as server:
        url = server.ensure_database("soldout_demo")
        assert url == server.url_for("soldout_demo")
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            assert conn.execute("SHOW fsync").fetchone() == ("on",)  # durable by default
            conn.execute("CREATE TABLE kept AS SELECT 42 AS x")
        server.stop()
        assert not server.running
    assert (root / "data" / "PG_VERSION").is_file()  # close() left the given root alone

    again = LocalPostgres(root)  # another run: the same cluster, no initdb
    again.start()
    try:
        assert again.running
        url = again.ensure_database("soldout_demo")  # there already: left as it is
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT x FROM kept").fetchone() == (42,)
    finally:
        again.close()
    assert not again.running
    assert (root / "data" / "PG_VERSION").is_file()


def test_redis_in_a_given_root_starts_empty_each_time(kept_root: Path) -> None:
    root = kept_root / "redis"
    with LocalRedis(root) as server, redis.Redis.from_url(server.url) as client:
        assert client.ping()
        client.set("k", "v")
        client.save()  # a snapshot taken during its life comes back at its next start()
        server.kill()
        server.start()
        assert client.get("k") == b"v"
        client.set("k2", "v2")
        server.stop()  # saves nothing
        assert not server.running
        server.start()
        assert client.get("k2") is None
    assert root.is_dir()

    with LocalRedis(root) as again, redis.Redis.from_url(again.url) as client:
        assert client.ping()
        assert client.dbsize() == 0  # another run: nothing kept, the snapshot neither
    assert root.is_dir()


def test_a_temporary_root_goes_with_close() -> None:
    server = LocalRedis()
    with server:
        assert server.root.is_dir()
    assert not server.root.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands PostgreSQL to `nobody`")
def test_a_root_that_nobody_cannot_reach_is_said_plainly(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    server = LocalPostgres(private / "postgresql")
    with pytest.raises(RuntimeError, match="cannot reach"):
        server.start()
    assert not server.running


def test_missing_binaries_are_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="holds no `postgres`"):
        postgres_bindir(str(tmp_path))
    with pytest.raises(RuntimeError, match="not a file"):
        redis_binary(str(tmp_path / "redis-server"))
    assert (postgres_bindir() / "initdb").is_file()
    assert redis_binary().is_file()
