"""`soldout rehearse SCENARIO`: a launch rehearsed with a simulated crowd, then checked.
`soldout rehearse --clean --target URL`: what rehearsals left on a server, removed.

Exit status: 0 when every check passed, 1 when one failed or the run could not be made
(also: a target holding real data, without --allow-real-data), 2 for a wrong scenario or
wrong options.
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

from soldout.rehearsal.apart import remove_runs
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
@click.argument("scenario", required=False)
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
    "--allow-real-data",
    is_flag=True,
    help="rehearse on a --target that holds real products, launches, fans or orders (the"
    " rehearsal's own data is kept apart from them and removable with --clean)",
)
@click.option(
    "--clean",
    is_flag=True,
    help="instead of rehearsing: remove what rehearsals left on --target (every run, or --run)",
)
@click.option("--run", "run_id", metavar="ID", help="with --clean: only this rehearsal run")
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
    scenario: str | None,
    target: str | None,
    admin_token: str | None,
    allow_remote: bool,
    allow_real_data: bool,
    clean: bool,
    run_id: str | None,
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
    reconciliation clean. Exits 1 if a check fails.

    What a run makes is marked as the rehearsal's on the server: never shown to fans, kept
    out of exports and reports. A --target holding real data is refused unless
    --allow-real-data; `--clean --target URL` removes what rehearsals left there."""
    if clean:
        _clean(scenario, target, admin_token, allow_remote, run_id)
        return
    if run_id is not None:
        _fail("--run goes with --clean", 2)
    if scenario is None:
        _fail("give a SCENARIO (a TOML file or a bundled name), or --clean", 2)
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
                run_scenario(
                    spec,
                    where,
                    seed=seed,
                    log_path=log_path,
                    console=progress,
                    allow_real_data=allow_real_data,
                )
            )
    except RehearsalError as exc:
        _fail(str(exc), 1)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_run_record(outcome, run_dir / "run.json")
    _report(outcome, out, run_dir)
    if target is not None:
        out.print(
            f"The run's data (rehearsal {outcome.run_id}) stays on {outcome.base_url}, apart"
            " from the real shop, for `soldout report`; remove it with this command (the"
            " target's admin token in SOLDOUT_ADMIN_TOKEN):"
        )
        out.print(  # (alone on its line, never wrapped: it is pasted whole)
            f"soldout rehearse --clean --run {outcome.run_id} --target {outcome.base_url}"
            ' --admin-token "$SOLDOUT_ADMIN_TOKEN"',
            soft_wrap=True,
            markup=False,
        )
    status = exit_status(outcome.checks)
    if status:
        raise SystemExit(status)


def _clean(
    scenario: str | None,
    target: str | None,
    admin_token: str | None,
    allow_remote: bool,
    run_id: str | None,
) -> None:
    if scenario is not None:
        _fail("--clean takes no SCENARIO", 2)
    if target is None or not admin_token:
        _fail("--clean needs --target and --admin-token (or SOLDOUT_ADMIN_TOKEN)", 2)
    try:
        removed = remove_runs(check_target(target, allow_remote), admin_token, run_id)
    except RehearsalError as exc:
        _fail(str(exc), 1)
    if not removed:
        click.echo("no rehearsal to remove")
    for r in removed:
        failed = f"; {r['refunds_failed']} refunds FAILED" if r.get("refunds_failed") else ""
        click.echo(
            f"removed rehearsal {r['run']}: {r['launches']} launches, {r['fans']} fans,"
            f" {r['claims']} claims, {r['orders']} orders, {r['payments']} payments{failed}"
        )


def _rules(launch: dict[str, Any]) -> str:
    room = "no waiting room"
    if launch.get("waiting_room"):
        room = (
            f"waiting room {launch.get('waiting_room_burst')} at once then"
            f" {launch.get('waiting_room_rate')}/s, drawn"
            f" {launch.get('waiting_room_shuffle_seconds')} s after the opening"
        )
    work = f"proof of work {launch['pow_difficulty']} bits" if launch.get("pow_difficulty") else ""
    duplicates = f"duplicates {launch.get('duplicate_rule')} beyond {launch.get('duplicate_limit')}"
    return "; ".join(x for x in (room, work or "no proof of work", duplicates))


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
    out.print(f"the launch's protections, as the server made them: {_rules(outcome.stage.launch)}")
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
