"""`soldout rehearse` end to end against a server it starts itself, its refusal of a wrong
scenario, and its checks failing on a server state that broke a rule.

The command is called through click's CliRunner (it is registered in the CLI separately).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from soldout.rehearsal import (
    ServerClaim,
    ServerOrder,
    ServerState,
    SkuCount,
    Yes,
    check_invariants,
)
from soldout.rehearsal.checks import exit_status
from soldout.rehearsal.command import rehearse

# A small sale with the whole protocol: a waiting room (admission tokens), proof of work
# (solved by the clients), claims and payments; bots sharing addresses under the
# duplicate rule `cancel`; fans who abandon (claims left held), referrals.
SMALL = """
name = "small"

[launch]
race = "fast"  # the protections below only: no shuffle window (the defaults: test_fair_rehearsal)
waiting_room_rate = 200.0
waiting_room_burst = 30
pow_difficulty = 4
duplicate_rule = "cancel"
opens_in_seconds = 1.5
payment_window_seconds = 30

[[launch.skus]]
code = "A"
price = 1000
cost = 700
batch = 25

[[launch.skus]]
code = "B"
price = 2000
batch = 10

[crowd]
fans = 80
arrival = { mean_seconds = 0.3, sd_seconds = 0.5 }
reaction = { mean_seconds = 0.1, sd_seconds = 0.05 }
pay_delay = { mean_seconds = 0.3, sd_seconds = 0.1 }
retry_pause_seconds = 0.3
abandon_share = 0.1
referral_share = 0.3
patience_seconds = 5

[bots]
accounts = 12
addresses = 2
own_address_share = 0.25
head_start_seconds = 1.0
patience_seconds = 3

[run]
max_seconds = 40
max_requests = 20000
"""

LOG_FIELDS = {
    "t_start",
    "t_end",
    "latency_ms",
    "kind",
    "status",
    "code",
    "actor",
    "fan",
    "sku",
    "attempt",
}


def invoke(*args: str) -> Result:
    return CliRunner().invoke(rehearse, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    here = tmp_path_factory.mktemp("rehearsal")
    scenario = here / "small.toml"
    scenario.write_text(SMALL)
    run_dir = here / "run"
    return invoke(str(scenario), "--quiet", "--seed", "7", "--run-dir", str(run_dir)), run_dir


def test_a_small_sale_passes_every_check(small_run: tuple[Result, Path]) -> None:
    result, run_dir = small_run
    assert result.exit_code == 0, result.output
    assert "all checks passed" in result.output
    record = json.loads((run_dir / "run.json").read_text())
    assert record["ok"] is True
    assert [c["name"] for c in record["checks"]] == [
        "not oversold",
        "per-fan limit",
        "no duplicates",
        "every yes recorded",
        "reconciliation",
    ]
    assert all(c["ok"] for c in record["checks"]), record["checks"]
    figures = record["figures"]
    assert figures["units"] == 35
    assert figures["units_taken"] == 35  # 80 fans for 35 units: sold out
    assert figures["sell_out_seconds"] is not None
    assert figures["fans"] == 80
    assert figures["bots"] == 12
    assert record["client_errors"] == []


def test_every_request_is_a_line_of_the_log(small_run: tuple[Result, Path]) -> None:
    _, run_dir = small_run
    lines = [json.loads(line) for line in (run_dir / "requests.jsonl").read_text().splitlines()]
    assert lines
    assert all(set(line) == LOG_FIELDS for line in lines)
    kinds = Counter((line["kind"], line["status"]) for line in lines)
    assert kinds[("register", 201)] == 92
    assert kinds[("claim", 201)] == 35  # every unit claimed once
    assert kinds[("join", 200)] > 0
    assert kinds[("challenge", 200)] > 0
    assert kinds[("pay", 200)] > 0
    codes = Counter(line["code"] for line in lines if line["kind"] == "claim")
    assert codes["sold_out"] > 0
    assert codes["duplicate_buyer"] > 0  # bots sharing an address are refused
    assert all(line["t_end"] >= line["t_start"] for line in lines)
    assert {line["actor"] for line in lines} == {"setup", "fan", "bot"}


def test_a_wrong_field_exits_2_naming_the_file_and_field(tmp_path: Path) -> None:
    scenario = tmp_path / "broken.toml"
    scenario.write_text(SMALL.replace("fans = 80", "fans = 0"))
    result = invoke(str(scenario), "--quiet", "--run-dir", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert result.output.strip() == "Error: broken.toml: crowd.fans: must be >= 1"
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()  # refused before anything started


def test_an_unknown_field_exits_2(tmp_path: Path) -> None:
    scenario = tmp_path / "typo.toml"
    scenario.write_text(SMALL.replace("[run]", "[run]\nmax_sconds = 3"))
    result = invoke(str(scenario), "--quiet")
    assert result.exit_code == 2
    assert "typo.toml: run.max_sconds: unknown field" in result.output


def test_a_remote_target_is_refused_without_allow_remote() -> None:
    result = invoke("tuesday-noon", "--target", "http://192.0.2.1:8000", "--admin-token", "x")
    assert result.exit_code == 1
    assert "not this machine" in result.output


# -- the checks alone, on states that broke a rule -----------------------------------


def _state(**changes: Any) -> ServerState:
    claims = [
        ServerClaim("clm_1", "fan_1", "A", 1, "paid", "ord_1"),
        ServerClaim("clm_2", "fan_2", "A", 1, "held"),
        ServerClaim("clm_3", "fan_3", "A", 1, "expired"),
    ]
    orders = [ServerOrder("ord_1", "clm_1", "A", 1, "scheduled")]
    base: dict[str, Any] = {
        "skus": {"A": SkuCount(batch=2, held=1, paid=1, set_aside=0)},
        "per_fan_limit": 1,
        "claims": claims,
        "orders": orders,
    }
    return ServerState(**{**base, **changes})


YESES = [
    Yes("claim", "clm_1", "A", "fan_1"),
    Yes("order", "ord_1", "A", "fan_1", "clm_1"),
    Yes("claim", "clm_2", "A", "fan_2"),
]


def _failed(state: ServerState, yeses: list[Yes]) -> dict[str, str]:
    return {c.name: c.detail for c in check_invariants(state, yeses) if not c.ok}


def test_the_checks_pass_on_a_sound_state() -> None:
    checks = check_invariants(_state(), YESES)
    assert [c.name for c in checks if not c.ok] == []
    assert exit_status(checks) == 0


def test_the_checks_fail_on_an_oversold_state() -> None:
    oversold = _state(skus={"A": SkuCount(batch=2, held=2, paid=1, set_aside=0)})
    failed = _failed(oversold, YESES)
    assert list(failed) == ["not oversold"]
    assert "A: held 2 + paid 1 + set aside 0 > batch 2" in failed["not oversold"]
    assert exit_status(check_invariants(oversold, YESES)) == 1


def test_the_checks_fail_when_the_record_holds_more_than_the_batch() -> None:
    extra = ServerClaim("clm_4", "fan_4", "A", 1, "held")
    state = _state(claims=[*_state().claims, extra])
    assert "A: 3 units in live claims > batch 2" in _failed(state, YESES)["not oversold"]


def test_the_checks_fail_when_a_yes_is_missing_on_the_server() -> None:
    told = [*YESES, Yes("claim", "clm_9", "A", "fan_9")]
    failed = _failed(_state(), told)
    assert list(failed) == ["every yes recorded"]
    assert "claim clm_9 (A) is not on the server" in failed["every yes recorded"]
    assert exit_status(check_invariants(_state(), told)) == 1


def test_the_checks_fail_when_a_yes_names_another_sku() -> None:
    told = [Yes("claim", "clm_2", "B", "fan_2")]
    assert "every yes recorded" in _failed(_state(), told)


def test_the_checks_fail_when_a_fan_holds_more_than_the_limit() -> None:
    second = ServerClaim("clm_5", "fan_2", "B", 1, "held")
    state = _state(
        skus={**_state().skus, "B": SkuCount(batch=5, held=1, paid=0, set_aside=0)},
        claims=[*_state().claims, second],
    )
    assert "fan_2: 2 units" in _failed(state, YESES)["per-fan limit"]


def test_the_checks_fail_on_two_orders_for_one_claim() -> None:
    orders = [*_state().orders, ServerOrder("ord_2", "clm_1", "A", 1, "paid")]
    failed = _failed(_state(orders=orders), YESES)
    assert "claim clm_1 has orders ord_1, ord_2" in failed["no duplicates"]


def test_the_checks_fail_when_reconciliation_does_not() -> None:
    state = _state(reconciliation_ok=False, mismatches=["oversold A: 3 > 2"])
    assert _failed(state, YESES) == {"reconciliation": "oversold A: 3 > 2"}
