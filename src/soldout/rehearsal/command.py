"""`soldout rehearse SCENARIO`: a launch rehearsed with a simulated crowd, then checked.

Exit status: 0 when every check passed, 1 when one failed or the run could not be made,
2 for a wrong scenario or wrong options.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from soldout.rehearsal.checks import exit_status
from soldout.rehearsal.runner import RunOutcome, run_scenario, write_run_record
from soldout.rehearsal.scenario import Scenario, ScenarioError, bundled_scenarios, load_scenario
from soldout.rehearsal.stage import RehearsalError
from soldout.rehearsal.summary import render
from soldout.rehearsal.target import Target, check_target, local_server

__all__ = ["rehearse"]

T = TypeVar("T")


def _fail(message: str, status: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(status)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with the server's dependencies
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


@click.command(
    "rehearse",
    epilog="Bundled scenarios: " + ", ".join(bundled_scenarios()) + ". See docs/rehearsal.md.",
)
@click.argument("scenario")
@click.option(
    "--target",
    metavar="URL",
    help="a running soldout to rehearse against; default: start one for the run",
)
@click.option(
    "--admin-token",
    metavar="TOKEN",
    envvar="SOLDOUT_ADMIN_TOKEN",
    help="the target's admin token (with --target) [env SOLDOUT_ADMIN_TOKEN]",
)
@click.option("--allow-remote", is_flag=True, help="allow a --target that is not on this machine")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    help="data directory of the server started here [default: RUN_DIR/server]",
)
@click.option("--seed", type=int, default=1, show_default=True, help="the crowd's randomness")
@click.option(
    "--log",
    "log_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the request log, JSON Lines [default: RUN_DIR/requests.jsonl]",
)
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="where the run's files go [default: rehearsals/SCENARIO-TIME]",
)
@click.option("--quiet", is_flag=True, help="no live progress display (tests, CI)")
def rehearse(
    scenario: str,
    target: str | None,
    admin_token: str | None,
    allow_remote: bool,
    data: Path | None,
    seed: int,
    log_path: Path | None,
    run_dir: Path | None,
    quiet: bool,
) -> None:
    """Rehearse a launch: SCENARIO (a TOML file or a bundled name) sets up a launch, a
    crowd of fans and bots registers, and the sale runs over HTTP with the real protocol
    (waiting room, proof of work, claims with Idempotency-Key, payment). Then the server
    is checked: nothing oversold, limits held, nothing duplicated, every "yes" recorded,
    reconciliation clean. Exits 1 if a check fails."""
    try:
        spec = load_scenario(scenario)
    except ScenarioError as exc:
        _fail(str(exc), 2)
    if target is not None and not admin_token:
        _fail("--target needs --admin-token (or SOLDOUT_ADMIN_TOKEN)", 2)
    if target is not None and data is not None:
        _fail("--data is for the server started here; leave it out with --target", 2)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = run_dir or Path("rehearsals") / f"{spec.name}-{stamp}"
    log_path = log_path or run_dir / "requests.jsonl"
    out = Console(highlight=False, soft_wrap=False, width=110)
    progress = None if quiet else Console(stderr=True, highlight=False)
    try:
        with _target(spec, target, admin_token, allow_remote, data, run_dir) as where:
            if not quiet:
                out.print(_announce(spec, where, run_dir))
            outcome = _run(
                run_scenario(spec, where, seed=seed, log_path=log_path, console=progress)
            )
    except RehearsalError as exc:
        _fail(str(exc), 1)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run_record(outcome, run_dir / "run.json")
    _report(outcome, out, run_dir)
    status = exit_status(outcome.checks)
    if status:
        raise SystemExit(status)


@contextlib.contextmanager
def _target(
    spec: Scenario,
    url: str | None,
    admin_token: str | None,
    allow_remote: bool,
    data: Path | None,
    run_dir: Path,
) -> Any:
    if url is not None:
        yield Target(check_target(url, allow_remote), admin_token or "")
        return
    with local_server(data or run_dir / "server", run_dir / "server.log", spec.server) as where:
        yield where


def _announce(spec: Scenario, where: Target, run_dir: Path) -> str:
    server = "started here" if where.started_here else "given"
    return (
        f"rehearsal [bold]{spec.name}[/bold]: {spec.crowd.fans:,} fans, {spec.bots.accounts:,}"
        f" bots, {spec.launch.units:,} units ({spec.launch.mode}) against {where.base_url}"
        f" ({server}); files in {run_dir}"
    )


def _report(outcome: RunOutcome, out: Console, run_dir: Path) -> None:
    render(outcome.figures, outcome.checks, out)
    if outcome.stage.reservations_late:
        out.print(
            f"[yellow]{outcome.stage.reservations_late} reservations were refused or not made"
            " before the opening[/yellow]"
        )
    if outcome.client_errors:
        out.print(
            f"[yellow]{len(outcome.client_errors)} simulated clients failed on their side;"
            f" first: {outcome.client_errors[0]}[/yellow]"
        )
    out.print(f"request log: {outcome.log_path}  run record: {run_dir / 'run.json'}")
    verdict = "[green]all checks passed[/green]" if outcome.ok else "[red]a check FAILED[/red]"
    out.print(verdict)
