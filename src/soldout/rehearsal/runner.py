"""One rehearsal from start to verdict: plan the crowd, set the launch up, run the sale
within the scenario's caps, then read the server and check it.

    outcome = asyncio.run(run_scenario(scenario, target, seed=1, log_path=path))
    outcome.ok  # every check passed
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console

from soldout.rehearsal.actors import Gates, Sale, take_part
from soldout.rehearsal.apart import refuse_real_data, refuse_real_money
from soldout.rehearsal.checks import Check, ServerState, Yes, check_invariants
from soldout.rehearsal.client import Api, Budget, Exhausted
from soldout.rehearsal.log import RequestLog, Timeline
from soldout.rehearsal.plan import Participant, plan_participants
from soldout.rehearsal.progress import live_progress
from soldout.rehearsal.scenario import Scenario
from soldout.rehearsal.solver import Solvers
from soldout.rehearsal.stage import RehearsalError, Stage, prepare
from soldout.rehearsal.state import read_server_state
from soldout.rehearsal.summary import Figures, figures_of
from soldout.rehearsal.target import Target
from soldout.rehearsal.transport import Http11Pool

__all__ = ["RunOutcome", "run_scenario", "write_run_record"]

GRACE_SECONDS = 2.0  # for requests in flight when a cap is reached
RULES = (
    "mode",
    "per_fan_limit",
    "payment_window_seconds",
    "waiting_room_rate",
    "waiting_room_burst",
    "waiting_room_shuffle_seconds",
    "pow_difficulty",
    "duplicate_rule",
    "duplicate_limit",
    "rehearsal",
)


@dataclass
class RunOutcome:
    scenario: Scenario
    seed: int
    run_id: str
    base_url: str
    stage: Stage
    figures: Figures
    checks: list[Check]
    log_path: Path
    client_errors: list[str]
    state: ServerState
    yeses: list[Yes]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


async def run_scenario(
    scenario: Scenario,
    target: Target,
    *,
    seed: int,
    log_path: Path,
    console: Console | None = None,
    allow_real_data: bool = False,
) -> RunOutcome:
    """Run the scenario against `target`; `console` shows live progress (None: quiet).
    Refuses (`RehearsalError`) a target that holds real data unless `allow_real_data`:
    the run's data is kept apart from it there, but nobody should fill a shop by mistake."""
    run_id = secrets.token_hex(4)
    people = plan_participants(scenario, seed, run_id)
    timeline = Timeline()
    transport = Http11Pool(target.base_url, scenario.run.connections)
    log = RequestLog(log_path, timeline)
    budget = Budget(scenario.run.max_requests, time.monotonic() + scenario.run.max_seconds)
    api = Api(
        transport,
        log,
        budget,
        timeout=scenario.run.request_timeout_seconds,
        retries=scenario.run.retries,
    )
    solvers: Solvers | None = None
    yeses: list[Yes] = []
    client_errors: list[str] = []
    check_api = Api(transport, None, Budget(None, None), timeout=60, retries=3)
    try:
        await refuse_real_data(check_api, target.admin_token, allowed=allow_real_data)
        await refuse_real_money(check_api)
        async with live_progress(log.counters, timeline, console):
            log.counters.phase = "setup"
            try:
                stage = await prepare(
                    api,
                    target.admin_token,
                    scenario,
                    people,
                    timeline,
                    scenario.run.connections,
                    run_id,
                )
            except Exhausted as stop:
                raise RehearsalError(f"the run reached {stop} during its setup") from None
            gates = Gates.of_launch(stage.launch)  # the scenario may leave them to the server
            if gates.proof_of_work:
                solvers = Solvers(bot_workers=scenario.bots.solvers)
                await solvers.warm_up()
            log.counters.phase = "sale"
            sale = Sale(
                api,
                scenario,
                stage.launch_id,
                timeline,
                solvers.solve if solvers else _no_work,
                run_id,
                yeses,
                client_errors,
                gates,
            )
            await _the_sale(sale, people, budget)
            log.counters.phase = "checks"
        state = await read_server_state(check_api, target.admin_token, stage.launch_id)
    finally:
        log.close()
        await transport.aclose()
        if solvers is not None:
            solvers.close()
    checks = check_invariants(state, yeses)
    figures = figures_of(
        scenario.name,
        scenario.launch.mode,
        people,
        log.records,
        state,
        stage.sale_opens_at,
        stage.setup_seconds,
        budget.stopped_by,
    )
    return RunOutcome(
        scenario,
        seed,
        run_id,
        target.base_url,
        stage,
        figures,
        checks,
        log_path,
        client_errors,
        state,
        yeses,
    )


async def _no_work(token: str, difficulty: int, actor: str) -> str:
    raise RehearsalError("the launch asked for proof of work the scenario did not announce")


async def _the_sale(sale: Sale, people: list[Participant], budget: Budget) -> None:
    """Everyone at once, until all are done or a cap ends the run."""
    tasks = [asyncio.create_task(take_part(sale, p)) for p in people]
    assert budget.deadline is not None
    _, pending = await asyncio.wait(tasks, timeout=max(0.0, budget.deadline - time.monotonic()))
    if pending:
        budget.stopped_by = budget.stopped_by or "max_seconds"
        _, pending = await asyncio.wait(pending, timeout=GRACE_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for person in people:
            if person.outcome == "not started":
                person.outcome = f"stopped ({budget.stopped_by})"


def write_run_record(outcome: RunOutcome, path: Path) -> None:
    """`run.json` beside the request log: what ran, against what, and the verdict."""
    record: dict[str, Any] = {
        "scenario": outcome.scenario.model_dump(mode="json"),
        "seed": outcome.seed,
        "run_id": outcome.run_id,
        "target": outcome.base_url,
        "launch_id": outcome.stage.launch_id,
        "product_id": outcome.stage.product_id,
        "rules": {k: outcome.stage.launch.get(k) for k in RULES},  # as the server made them
        "sale_opens_at": outcome.stage.sale_opens_at,
        "request_log": str(outcome.log_path),
        "figures": {
            **dataclasses.asdict(outcome.figures),
            "fan_win_rate": outcome.figures.fan_win_rate,
            "bot_win_rate": outcome.figures.bot_win_rate,
        },
        "checks": [dataclasses.asdict(c) for c in outcome.checks],
        "ok": outcome.ok,
        "client_errors": outcome.client_errors[:100],
    }
    path.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
