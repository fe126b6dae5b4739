"""A rehearsal scenario: the launch, the crowd, the bots and the caps, from a TOML file.

    scenario = load_scenario("tuesday-noon")          # a bundled one, by name
    scenario = load_scenario("my-launch.toml")         # or a file
    # ScenarioError("my-launch.toml: crowd.fans: must be >= 1") if a field is wrong

Every field is checked strictly (no unknown fields, no "3" for 3); docs/rehearsal.md
describes each one.
"""

from __future__ import annotations

import importlib.resources
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

__all__ = [
    "BotSpec",
    "CrowdSpec",
    "LaunchSpec",
    "RunSpec",
    "Scenario",
    "ScenarioError",
    "ServerSpec",
    "SkuSpec",
    "Spread",
    "bundled_scenarios",
    "load_scenario",
]

SCENARIOS = "soldout.rehearsal.scenarios"


class ScenarioError(Exception):
    """A scenario that cannot be read or is not valid; the message is one line that names
    the file and the field."""


class _Spec(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class Spread(_Spec):
    """A normal distribution in seconds (drawn values below 0 count as 0 where a delay)."""

    mean_seconds: float = Field(0.0, ge=-3600, le=3600)
    sd_seconds: float = Field(0.0, ge=0, le=3600)


class SkuSpec(_Spec):
    code: str = Field(min_length=1, max_length=64)
    name: str = Field("", max_length=200)
    price: int = Field(ge=1, le=10**12, description="minor units; more than 0")
    cost: int | None = Field(None, ge=0, le=10**12, description="minor units; left out: not given")
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    batch: int = Field(ge=1, le=1_000_000)


class LaunchSpec(_Spec):
    title: str = Field("Rehearsal", min_length=1, max_length=200)
    product: str = Field("Model One", min_length=1, max_length=200)
    skus: list[SkuSpec] = Field(min_length=1, max_length=20)
    mode: Literal["first_come", "draw"] = "first_come"
    per_fan_limit: int = Field(1, ge=1, le=1000)
    payment_window_seconds: int = Field(60, ge=10, le=7 * 24 * 3600)
    reservation_required: bool = False
    # Protections: a field left out is not sent, so the server's default for `race`
    # applies (fair, unless `race = "fast"`); 0 turns a waiting room or proof of work off.
    race: Literal["fair", "fast"] | None = None
    waiting_room_rate: float | None = Field(None, ge=0, le=100_000)
    waiting_room_burst: int | None = Field(None, ge=0, le=1_000_000)
    waiting_room_shuffle_seconds: int | None = Field(None, ge=0, le=600)
    pow_difficulty: int | None = Field(None, ge=0, le=24)
    duplicate_rule: Literal["allow", "hold", "cancel"] | None = None
    duplicate_limit: int = Field(2, ge=1, le=1000)
    opens_in_seconds: float = Field(5.0, ge=0, le=600)

    @model_validator(mode="after")
    def _consistent(self) -> LaunchSpec:
        codes = [s.code for s in self.skus]
        if len(set(codes)) != len(codes):
            raise _FieldError("skus", "SKU codes must be unique")
        if self.mode == "draw" and self.waiting_room_rate:
            raise _FieldError("waiting_room_rate", "a draw has no waiting room")
        if 0 < (self.waiting_room_rate or 1) < 0.01:
            raise _FieldError("waiting_room_rate", "must be 0 (none) or at least 0.01")
        return self

    def protections(self) -> dict[str, object]:
        """The protections the scenario sets, as `POST /launches` takes them (0: off);
        the rest is left to the server's defaults for `race`."""
        given: dict[str, object] = {} if self.race is None else {"race": self.race}
        for name in ("waiting_room_rate", "pow_difficulty"):
            value = getattr(self, name)
            if value is not None:
                given[name] = value or None
        for name in ("waiting_room_burst", "waiting_room_shuffle_seconds", "duplicate_rule"):
            if getattr(self, name) is not None:
                given[name] = getattr(self, name)
        return given

    @property
    def units(self) -> int:
        return sum(s.batch for s in self.skus)

    @property
    def needs_reservations(self) -> bool:
        return self.mode == "draw" or self.reservation_required


class CrowdSpec(_Spec):
    fans: int = Field(ge=1, le=200_000)
    arrival: Spread = Spread(mean_seconds=0.0, sd_seconds=3.0)
    early_share: float = Field(0.2, ge=0, le=1, description="arrive during the countdown")
    reaction: Spread = Spread(mean_seconds=0.5, sd_seconds=0.3)
    sold_out_retries: int = Field(2, ge=0, le=100)
    retry_pause_seconds: float = Field(1.0, ge=0, le=60)
    poll_seconds: float = Field(5.0, ge=0.1, le=60, description="checking back for a draw")
    patience_seconds: float = Field(30.0, ge=1, le=3600)
    pay_delay: Spread = Spread(mean_seconds=4.0, sd_seconds=2.0)
    abandon_share: float = Field(0.1, ge=0, le=1)
    referral_share: float = Field(0.2, ge=0, le=1)
    reserve_share: float = Field(1.0, ge=0, le=1)


class BotSpec(_Spec):
    accounts: int = Field(0, ge=0, le=100_000)
    addresses: int = Field(0, ge=0, le=100_000, description="shared by the bots; 0: none")
    own_address_share: float = Field(0.0, ge=0, le=1)
    head_start_seconds: float = Field(2.0, ge=0, le=600)
    requests_per_second: float = Field(20.0, gt=0, le=1000, description="per bot")
    poll_seconds: float = Field(0.5, ge=0.05, le=60)
    patience_seconds: float = Field(20.0, ge=1, le=3600)
    solve_pow: bool = True
    solvers: int = Field(1, ge=1, le=16, description="processes solving the bots' work")


class ServerSpec(_Spec):
    """Rate limits of the server `rehearse` starts itself (ignored with --target)."""

    rate_limit_fan: float = Field(10.0, ge=0)
    rate_limit_fan_burst: int = Field(20, ge=1)
    rate_limit_address: float = Field(0.0, ge=0)
    rate_limit_address_burst: int = Field(200, ge=1)


class RunSpec(_Spec):
    max_seconds: float = Field(ge=1, le=3600)
    max_requests: int = Field(ge=1, le=100_000_000)
    connections: int = Field(256, ge=1, le=4096)
    request_timeout_seconds: float = Field(10.0, gt=0, le=120)
    retries: int = Field(3, ge=0, le=10, description="after a timeout or a 5xx, same key")


class Scenario(_Spec):
    name: str = Field("", max_length=100)
    description: str = Field("", max_length=2000)
    launch: LaunchSpec
    crowd: CrowdSpec
    bots: BotSpec = BotSpec()
    server: ServerSpec = ServerSpec()
    run: RunSpec

    @model_validator(mode="after")
    def _caps_cover_setup(self) -> Scenario:
        actors = self.crowd.fans + self.bots.accounts
        setup = actors * (2 if self.launch.needs_reservations else 1) + 2
        if self.run.max_requests < setup:
            raise _FieldError(
                "run.max_requests", f"must cover the setup: at least {setup} requests"
            )
        return self


class _FieldError(ValueError):
    """A cross-field rule broken: names its field (relative to the model it checks)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def bundled_scenarios() -> list[str]:
    files = importlib.resources.files(SCENARIOS)
    return sorted(p.name.removesuffix(".toml") for p in files.iterdir() if p.name.endswith(".toml"))


def load_scenario(source: str) -> Scenario:
    """A bundled scenario by name, or a TOML file by path."""
    path = Path(source)
    if source in bundled_scenarios() and not path.exists():
        resource = importlib.resources.files(SCENARIOS) / f"{source}.toml"
        return parse_scenario(resource.read_text(encoding="utf-8"), f"{source}.toml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        names = ", ".join(bundled_scenarios())
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ScenarioError(
            f"{source}: cannot read it ({reason}); bundled scenarios: {names}"
        ) from None
    return parse_scenario(text, path.name, default_name=path.stem)


def parse_scenario(text: str, origin: str, default_name: str | None = None) -> Scenario:
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{origin}: not valid TOML: {exc}") from None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ScenarioError(f"{origin}: {_describe(errors[0])}{more}") from None
    if not scenario.name:
        scenario = scenario.model_copy(
            update={"name": default_name or origin.removesuffix(".toml")}
        )
    return scenario


def _describe(error: ErrorDetails) -> str:
    loc = [str(p) for p in error["loc"]]
    context = error.get("ctx") or {}
    cause = context.get("error")
    if isinstance(cause, _FieldError):
        loc = [*loc, cause.field] if "." not in cause.field else [cause.field]
        return f"{_path(loc)}: {cause.message}"
    return f"{_path(loc)}: {_message(error['type'], context, error['msg'])}"


def _path(loc: list[str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if part.isdigit() else (f".{part}" if text else part)
    return text or "(top level)"


def _message(kind: str, context: dict[str, Any], fallback: str) -> str:
    bounds = {
        "greater_than_equal": ">= {ge}",
        "greater_than": "> {gt}",
        "less_than_equal": "<= {le}",
        "less_than": "< {lt}",
    }
    if kind in bounds:
        return "must be " + bounds[kind].format(**context)
    simple = {
        "extra_forbidden": "unknown field",
        "missing": "is required",
        "int_type": "must be a whole number",
        "float_type": "must be a number",
        "bool_type": "must be true or false",
        "string_type": "must be a string",
        "list_type": "must be a list",
        "model_type": "must be a table",
        "dict_type": "must be a table",
        "string_too_short": "must not be empty",
    }
    if kind in simple:
        return simple[kind]
    if kind == "literal_error":
        return f"must be one of {context.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        return f"must match {context.get('pattern', '')}"
    if kind == "too_short":
        return f"must have at least {context.get('min_length')} item(s)"
    if kind == "too_long":
        return f"must have at most {context.get('max_length')} item(s)"
    return fallback[:1].lower() + fallback[1:]
