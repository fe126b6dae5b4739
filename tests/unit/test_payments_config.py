"""Choosing the payment provider: SOLDOUT_PAYMENTS and its keys, as a maker sets them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from soldout.payments.configured import configured_provider, last_four
from soldout.settings import Settings

STRIPE = {
    "stripe_secret_key": "sk_test_51abcdefghijklmnopqrstuvwxyzSECRETKEY9876",
    "stripe_webhook_secret": "whsec_abcdefghijklmnopqrstuvwxyzWEBHOOK4321",
}


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data=tmp_path, **values)  # type: ignore[arg-type]


async def test_the_test_provider_is_the_default(tmp_path: Path) -> None:
    provider, setup = configured_provider(settings(tmp_path))
    try:
        assert (provider.name, provider.hosted, setup.secrets) == ("test", False, ())
    finally:
        await provider.close()


@pytest.mark.parametrize(
    ("payments", "given", "missing"),
    [
        ("stripe", {}, "SOLDOUT_STRIPE_SECRET_KEY and SOLDOUT_STRIPE_WEBHOOK_SECRET"),
        ("stripe", {"stripe_secret_key": "sk_test_x" * 3}, "SOLDOUT_STRIPE_WEBHOOK_SECRET"),
        ("mollie", {}, "SOLDOUT_MOLLIE_API_KEY"),
    ],
)
def test_a_missing_key_is_named(
    tmp_path: Path, payments: str, given: dict[str, str], missing: str
) -> None:
    with pytest.raises(ValueError, match=f"SOLDOUT_PAYMENTS={payments} needs {missing}$"):
        configured_provider(settings(tmp_path, payments=payments, **given))


async def test_stripe_is_shown_by_the_last_four_characters_of_each_secret(
    tmp_path: Path,
) -> None:
    provider, setup = configured_provider(settings(tmp_path, payments="stripe", **STRIPE))
    try:
        assert (provider.name, provider.hosted) == ("stripe", True)
        assert setup.secrets == (
            ("SOLDOUT_STRIPE_SECRET_KEY", "…9876"),
            ("SOLDOUT_STRIPE_WEBHOOK_SECRET", "…4321"),
        )
        assert setup.webhook_url == "http://127.0.0.1:8000/api/v1/payments/webhooks/stripe"
        assert STRIPE["stripe_secret_key"] not in repr(settings(tmp_path, **STRIPE))
    finally:
        await provider.close()


async def test_mollie_gets_no_webhook_it_could_not_reach(tmp_path: Path) -> None:
    key = "test_abcdefghijklmnopqrstuvwxyz123456"
    local, setup = configured_provider(settings(tmp_path, payments="mollie", mollie_api_key=key))
    public, shared = configured_provider(
        settings(tmp_path, payments="mollie", mollie_api_key=key, public_url="https://shop.example")
    )
    try:
        assert setup.webhook_url is None  # Mollie refuses a webhook on localhost
        assert shared.webhook_url == "https://shop.example/api/v1/payments/webhooks/mollie"
        assert shared.secrets == (("SOLDOUT_MOLLIE_API_KEY", "…3456"),)
    finally:
        await local.close()
        await public.close()


def test_a_short_secret_shows_nothing_of_itself() -> None:
    assert last_four("sk_1234") == "…"


def test_the_demo_never_takes_real_money(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`soldout demo` runs on the test provider whatever SOLDOUT_PAYMENTS says."""
    from soldout import cli
    from soldout.api import server

    chosen: list[str] = []
    monkeypatch.setattr(server, "run", lambda s, on_start=None: chosen.append(s.payments))
    environment = {"SOLDOUT_PAYMENTS": "stripe", "SOLDOUT_DATA": str(tmp_path)}
    result = CliRunner().invoke(cli.cli, ["demo"], env=environment)
    assert result.exit_code == 0, result.output
    assert chosen == ["test"]
