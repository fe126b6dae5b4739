"""`soldout report`: the click command (registered by `soldout.cli`). Light to import:
matplotlib and the rest load only when the command runs."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["report"]


@click.command("report")
@click.argument("launch_id")
@click.option(
    "--url",
    required=True,
    metavar="URL",
    help="the soldout server, e.g. http://127.0.0.1:8000 (nothing else is contacted)",
)
@click.option(
    "--admin-token",
    required=True,
    envvar="SOLDOUT_ADMIN_TOKEN",
    metavar="TOKEN",
    help="the maker's admin token [env SOLDOUT_ADMIN_TOKEN]",
)
@click.option(
    "--log",
    "log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="a rehearsal's client log (JSON Lines); without it the report is server-side only",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="directory for index.html and its charts [report-LAUNCH_ID]",
)
def report(launch_id: str, url: str, admin_token: str, log: Path | None, out: Path | None) -> None:
    """Write an HTML report of a launch, with charts, from the server's own record.

    Units sold over time and the sell-out moment, the funnel, word of mouth, revenue,
    cost and margin; with --log also requests per second, latency percentiles and
    fairness (bots against fans, win rate by arrival). Opens in any browser, offline.
    """
    from soldout.reports.admin_api import ReportError
    from soldout.reports.build import build_report
    from soldout.reports.text import count

    try:
        built = build_report(launch_id, url, admin_token, log=log, out=out)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    if built.log is not None and built.log.skipped:
        first = built.log.skipped[0]
        click.echo(
            f"warning: skipped {count(len(built.log.skipped), 'unreadable line')} of {log}"
            f" (first: line {first.number}, {first.reason})",
            err=True,
        )
    click.echo(f"wrote {built.page} ({len(built.plots)} charts)")
