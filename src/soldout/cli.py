"""The `soldout` command line."""

from __future__ import annotations

import logging
from typing import Any

import click

from soldout import __version__
from soldout.settings import Settings

__all__ = ["main"]


def _settings(**flags: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in flags.items() if v is not None})
    except Exception as exc:
        raise click.UsageError(str(exc)) from exc


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
        help="store URL; default: embedded SQLite in the data directory [env SOLDOUT_STORE]",
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
def serve(**flags: Any) -> None:
    """Run the platform: HTTP API, docs at /docs, embedded store in the data directory.

    Real payments: SOLDOUT_PAYMENTS=stripe with SOLDOUT_STRIPE_SECRET_KEY and
    SOLDOUT_STRIPE_WEBHOOK_SECRET, or SOLDOUT_PAYMENTS=mollie with SOLDOUT_MOLLIE_API_KEY.
    """
    from soldout.api.server import run

    run(_settings(**flags))


@cli.command()
@server_options
@click.option(
    "--opens-in",
    type=click.IntRange(0, 86400),
    default=60,
    show_default=True,
    help="seconds until the demo sale opens",
)
def demo(opens_in: int, **flags: Any) -> None:
    """Seed a demo product ("Model One") and launch, then serve it.

    The sale opens about a minute after start; run it again and it reuses the data
    directory's demo (a new launch is scheduled if the old one has closed).
    """
    from soldout.api.server import run
    from soldout.services.demo import seed

    # The demo takes no real money, whatever SOLDOUT_PAYMENTS says.
    settings = _settings(**flags).model_copy(update={"payments": "test"})
    run(settings, on_start=lambda platform: seed(platform, settings, opens_in))


@cli.command()
@click.option(
    "--data",
    type=click.Path(file_okay=False),
    help="data directory of the store to check [env SOLDOUT_DATA; per-user dir]",
)
@click.option("--store", help="store URL [env SOLDOUT_STORE]")
def reconcile(**flags: Any) -> None:
    """Check orders against payments against stock; print every mismatch.

    Reads the record only (safe while `soldout serve` runs on the same data) and the
    payment provider's own records (SOLDOUT_PAYMENTS and its keys, as for `serve`; Stripe
    and Mollie through their paged list calls). Exits 1 if anything does not match.
    """
    import asyncio

    from soldout.services.reconcile import run_reconciliation

    settings = _settings(**flags)
    try:
        lines, ok = asyncio.run(run_reconciliation(settings))
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    for line in lines:
        click.echo(line)
    if not ok:
        raise SystemExit(1)


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
