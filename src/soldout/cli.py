"""The `soldout` command line."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from soldout import __version__
from soldout.settings import Settings

__all__ = ["main"]


def _settings(**flags: Any) -> Settings:
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise click.UsageError(settings_refused(exc, given)) from exc
    except Exception as exc:
        raise click.UsageError(str(exc)) from exc


def settings_refused(error: ValidationError, flags: dict[str, Any]) -> str:
    """Each refused setting on a line of its own, named as the operator set it: the
    option (`--port`) or the environment variable (`SOLDOUT_PORT`), with what was given."""
    lines = []
    for e in error.errors():
        field = str(e["loc"][0]) if e["loc"] else ""
        message = str(e["msg"]).removeprefix("Value error, ")
        if not field:
            lines.append(message)  # (a rule over several settings names them itself)
            continue
        name = f"--{field.replace('_', '-')}" if field in flags else f"SOLDOUT_{field.upper()}"
        lines.append(f"{name}: {message} (given {e['input']!r})")
    return "\n".join(lines)


_server_options = [
    click.option("--host", help="address to listen on [env SOLDOUT_HOST; 127.0.0.1]"),
    click.option("--port", type=int, help="port to listen on [env SOLDOUT_PORT; 8000]"),
    click.option(
        "--data",
        type=click.Path(file_okay=False),
        help="data directory for the database and keys [env SOLDOUT_DATA; per-user dir]",
    ),
    click.option(
        "--server",
        type=click.Choice(["granian", "uvicorn"]),
        help="HTTP server to run in this process [env SOLDOUT_SERVER; granian]",
    ),
    click.option(
        "--store",
        help="store URL: postgresql://USER@HOST:PORT/DB or sqlite:///PATH; default: embedded"
        " SQLite in the data directory [env SOLDOUT_STORE]",
    ),
]


def server_options(f: Any) -> Any:
    for option in reversed(_server_options):
        f = option(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="soldout")
def cli() -> None:
    """soldout: direct-to-fan product launches that never oversell.

    Configuration comes from SOLDOUT_* environment variables; flags override them.
    """


@cli.command()
@server_options
@click.option(
    "--payments",
    type=click.Choice(["test", "stripe", "mollie"]),
    help="payment provider; its keys come from the environment [env SOLDOUT_PAYMENTS; test]",
)
@click.option(
    "--redis",
    "redis_url",
    help="scale out: Redis decides claims (redis://HOST:PORT, or redis+cluster://HOST:PORT,..."
    " for a Cluster); needs a PostgreSQL --store [env SOLDOUT_REDIS]",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    help="with --redis: this many claim workers on the address, and the owner beside them",
)
@click.option(
    "--role",
    type=click.Choice(["owner", "worker"]),
    help="with --redis: run only the owner, or only a worker (one process each)",
)
@click.option("--advertise", help="the owner's address workers forward to (--role owner)")
@click.option(
    "--owner-port",
    type=click.IntRange(1, 65535),
    help="with --workers: the owner's port on 127.0.0.1 [env SOLDOUT_OWNER_PORT; a free one]",
)
@click.option(
    "--redis-prefix", default="soldout", show_default=True, help="the prefix of soldout's keys"
)
def serve(
    redis_url: str | None,
    workers: int | None,
    role: str | None,
    advertise: str | None,
    redis_prefix: str,
    **flags: Any,
) -> None:
    """Run the platform: HTTP API, docs at /docs, embedded store in the data directory.

    Real payments: SOLDOUT_PAYMENTS=stripe with SOLDOUT_STRIPE_SECRET_KEY and
    SOLDOUT_STRIPE_WEBHOOK_SECRET, or SOLDOUT_PAYMENTS=mollie with SOLDOUT_MOLLIE_API_KEY.

    Several workers (docs/scale-out.md): --store postgresql://... --redis redis://HOST:PORT
    --workers N.
    """
    from soldout.api.server import run

    settings = _settings(**flags)
    redis_url = redis_url or os.environ.get("SOLDOUT_REDIS")
    if flags.get("owner_port") and not workers:
        raise click.UsageError("--owner-port needs --workers")
    if redis_url is None:
        if workers or role:
            raise click.UsageError("--workers and --role need --redis")
        run(settings)
        return
    if settings.postgres_url is None:
        raise click.UsageError("--redis needs a PostgreSQL store: --store postgresql://...")
    from soldout.scaleout import serve as scaled

    if role == "worker":
        scaled.run_worker(settings, redis_url, redis_prefix)
    elif role == "owner" or not workers:
        scaled.run_owner(settings, redis_url, redis_prefix, advertise)
    else:
        passed = ["--redis-prefix", redis_prefix]
        for name in ("data", "server", "payments"):
            if flags.get(name):
                passed += [f"--{name}", str(flags[name])]
        # URLs that may hold a password go in the children's environment: a command line
        # is readable by every user of the machine (ps, /proc/PID/cmdline)
        secret = {"SOLDOUT_REDIS": redis_url}
        if flags.get("store"):
            secret["SOLDOUT_STORE"] = str(flags["store"])
        raise SystemExit(scaled.run_supervised(settings, passed, workers, secret))


@cli.command()
@server_options
@click.option(
    "--opens-in",
    type=click.IntRange(0, 86400),
    default=60,
    show_default=True,
    help="seconds until the demo sale opens",
)
@click.option(
    "--scale-out",
    is_flag=True,
    help="run it as the owner and --workers workers, on a PostgreSQL and a Redis started"
    " here (or SOLDOUT_STORE's and SOLDOUT_REDIS's): docs/scale-out.md",
)
@click.option(
    "--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="with --scale-out"
)
@click.option("--redis", "redis_url", hidden=True)
@click.option("--role", type=click.Choice(["owner"]), hidden=True)
def demo(
    opens_in: int,
    scale_out: bool,
    workers: int,
    redis_url: str | None,
    role: str | None,
    **flags: Any,
) -> None:
    """Seed a demo product ("Model One") and launch, then serve it.

    The sale opens about a minute after start; run it again and it reuses the data
    directory's demo (a new launch is scheduled if the old one has closed).
    """
    from soldout.api.server import run
    from soldout.services.demo import seed

    # The demo takes no real money, whatever SOLDOUT_PAYMENTS says.
    settings = _settings(**flags).model_copy(update={"payments": "test"})
    if scale_out:
        from soldout.scaleout.demo import run_demo

        raise SystemExit(run_demo(settings, opens_in, workers))
    if role == "owner" and redis_url:  # the scaled-out demo's owner (`run_demo` starts it)
        from soldout.scaleout.serve import run_owner

        on_start = lambda platform: seed(platform, settings, opens_in)  # noqa: E731
        run_owner(settings, redis_url, "soldout", None, on_start=on_start)
        return
    run(settings, on_start=lambda platform: seed(platform, settings, opens_in))


@cli.command()
@click.option(
    "--data",
    type=click.Path(file_okay=False),
    help="data directory of the store to check [env SOLDOUT_DATA; per-user dir]",
)
@click.option("--store", help="store URL [env SOLDOUT_STORE]")
@click.option(
    "--pending-minutes",
    type=click.FloatRange(min=0),
    default=15,
    show_default=True,
    help="a payment still pending after this long is a mismatch (payment_stuck)",
)
def reconcile(pending_minutes: float, **flags: Any) -> None:
    """Check orders against payments against stock; print every mismatch.

    Reads the record only, opened read-only (safe while `soldout serve` runs on the same
    data; it creates and changes nothing), and the payment provider's own records
    (SOLDOUT_PAYMENTS and its keys, as for `serve`; Stripe and Mollie through their paged
    list calls). Exits 1 if anything does not match.
    """
    import asyncio
    from datetime import timedelta

    from soldout.datadir import Unusable
    from soldout.services.reconcile import run_reconciliation

    settings = _settings(**flags)
    try:
        pending_after = timedelta(minutes=pending_minutes)
        lines, ok = asyncio.run(run_reconciliation(settings, pending_after))
    except (FileNotFoundError, ValueError, Unusable) as exc:
        raise click.ClickException(str(exc)) from exc
    for line in lines:
        click.echo(line)
    if not ok:
        raise SystemExit(1)


_store_options = [
    click.option(
        "--data",
        type=click.Path(file_okay=False, path_type=Path),
        help="data directory of the store [env SOLDOUT_DATA; per-user dir]",
    ),
    click.option("--store", help="store URL [env SOLDOUT_STORE]"),
]


def store_options(f: Any) -> Any:
    for option in reversed(_store_options):
        f = option(f)
    return f


@cli.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@store_options
def backup(path: Path, **flags: Any) -> None:
    """Copy the store into PATH, a new directory, while the server sells (safe to run
    beside `soldout serve`; the server never waits for it).

    PATH is itself a data directory (0700, files 0600): the store, the test payment
    provider's ledger and the generated admin token; e-mails in DATA/mail are not copied.
    It is written under a hidden name and renamed once whole. Put it back with `soldout
    restore PATH --data DIR`. See docs/backup.md.
    """
    from soldout.services.backup import BackupRefused, make_backup

    settings = _settings(**flags)
    _not_on_postgres(settings, "backup")
    try:
        made = make_backup(settings, path)
    except (BackupRefused, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"backed up {settings.data} to {made.path} in {made.seconds:.1f} s"
        f" (store {made.store_bytes / 1e6:.1f} MB): {', '.join(p.name for p in made.parts)}"
    )


@cli.command()
@click.argument("backup_dir", metavar="BACKUP", type=click.Path(path_type=Path))
@store_options
@click.option(
    "--force",
    is_flag=True,
    help="replace what the data directory holds (moved to DATA/replaced-TIME/)",
)
def restore(backup_dir: Path, force: bool, **flags: Any) -> None:
    """Put the backup BACKUP in place as the store of the data directory.

    Checks the backup is whole first (every database through SQLite's integrity check),
    refuses a store a running server holds, and a data directory that is not empty
    unless --force.
    """
    from soldout.services.backup import BackupRefused, restore_backup
    from soldout.store.sqlite import StoreInUse

    settings = _settings(**flags)
    _not_on_postgres(settings, "restore")
    try:
        restored = restore_backup(backup_dir, settings, force=force)
    except (BackupRefused, StoreInUse, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"restored the backup made at {restored.made_at} into {restored.data}")
    if restored.replaced is not None:
        click.echo(f"  what was there before is in {restored.replaced}")
    click.echo(f"  start it with: soldout serve --data {restored.data}")


def _not_on_postgres(settings: Settings, command: str) -> None:
    if settings.postgres_url is not None:
        raise click.ClickException(
            f"soldout {command} copies the embedded store; a PostgreSQL store is backed up"
            " with pg_dump and put back with pg_restore (docs/deploy.md)"
        )


@cli.command("verify-draw")
@click.argument("source")
def verify_draw(source: str) -> None:
    """Recompute a draw from its published record and check it.

    SOURCE is a file or the URL of GET /api/v1/launches/ID/draw. Checks that the seed
    matches the commitment published before the draw and that the winners and backups
    follow from the seed and the entries. Exits 1 if anything does not.
    """
    from soldout.draw_verify import verify_source

    ok, lines = verify_source(source)
    for line in lines:
        click.echo(line)
    if not ok:
        raise SystemExit(1)


def _add_lazy_commands() -> None:
    """Commands that live with their own package (they import their heavy parts only
    when run)."""
    from soldout.rehearsal.command import rehearse
    from soldout.reports.command import report

    cli.add_command(rehearse)
    cli.add_command(report)


_add_lazy_commands()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cli(prog_name="soldout")


if __name__ == "__main__":
    main()
