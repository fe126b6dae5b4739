"""Launch rehearsal: a simulated crowd of fans and bots runs a sale against a real
soldout over HTTP, then the server is checked for what must never happen.

    soldout rehearse tuesday-noon            # the command (`command.rehearse`)

From Python:

    scenario = load_scenario("tuesday-noon")
    outcome = asyncio.run(run_scenario(scenario, target, seed=1, log_path=path))
    checks = check_invariants(server_state, yeses)   # the checks alone, on plain data

See docs/rehearsal.md for the scenario format, the request log and the measurements.
"""

from soldout.rehearsal.checks import (
    Check,
    ServerClaim,
    ServerOrder,
    ServerState,
    SkuCount,
    Yes,
    check_invariants,
    exit_status,
)
from soldout.rehearsal.runner import RunOutcome, run_scenario
from soldout.rehearsal.scenario import Scenario, ScenarioError, bundled_scenarios, load_scenario
from soldout.rehearsal.stage import RehearsalError
from soldout.rehearsal.target import Target

__all__ = [
    "Check",
    "RehearsalError",
    "RunOutcome",
    "Scenario",
    "ScenarioError",
    "ServerClaim",
    "ServerOrder",
    "ServerState",
    "SkuCount",
    "Target",
    "Yes",
    "bundled_scenarios",
    "check_invariants",
    "exit_status",
    "load_scenario",
    "run_scenario",
]
