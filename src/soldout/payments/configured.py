"""The payment provider the settings name (`SOLDOUT_PAYMENTS=test|stripe|mollie`).

    provider, shown = configured_provider(settings)

`shown` is what the admin may see of the configuration: each secret by its last four
characters only. Keys and secrets never reach a log or an error message.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import SecretStr

from soldout.payments.port import PaymentProvider
from soldout.payments.test_provider import TestPayments
from soldout.settings import Settings, load_test_payments_secret

__all__ = ["ProviderSetup", "configured_provider", "last_four"]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/api/v1/payments/webhooks/{name}"


@dataclass(frozen=True, slots=True)
class ProviderSetup:
    """What the admin shows of the live provider."""

    name: str
    secrets: tuple[tuple[str, str], ...]  # (setting, its last four characters)
    webhook_url: str | None  # where the provider posts its events; None: it cannot


def last_four(secret: SecretStr | str) -> str:
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return "…" + value[-4:] if len(value) > 8 else "…"


def _required(settings: Settings, *names: str) -> list[str]:
    missing = [n for n in names if getattr(settings, n) is None]
    if missing:
        wanted = " and ".join(f"SOLDOUT_{n.upper()}" for n in missing)
        raise ValueError(f"SOLDOUT_PAYMENTS={settings.payments} needs {wanted}")
    return [getattr(settings, n).get_secret_value() for n in names]


def _reachable_from_outside(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a name: assume the world can reach it


def configured_provider(
    settings: Settings, *, read_only: bool = False
) -> tuple[PaymentProvider, ProviderSetup]:
    """The provider to take money with; raises ValueError naming a missing setting.
    `read_only` (`soldout reconcile`): the test provider's ledger is only read (opened
    `mode=ro`; none yet: an empty one in memory) and no webhook secret is made."""
    webhook = settings.base_url + WEBHOOK_PATH.format(name=settings.payments)
    if settings.payments == "stripe":
        from soldout.payments.stripe_provider import StripePayments

        key, secret = _required(settings, "stripe_secret_key", "stripe_webhook_secret")
        stripe = StripePayments(key, secret, api_base=settings.stripe_api_base)
        shown = (
            ("SOLDOUT_STRIPE_SECRET_KEY", last_four(key)),
            ("SOLDOUT_STRIPE_WEBHOOK_SECRET", last_four(secret)),
        )
        return stripe, ProviderSetup("stripe", shown, webhook)
    if settings.payments == "mollie":
        from soldout.payments.mollie_provider import MolliePayments

        (key,) = _required(settings, "mollie_api_key")
        # Mollie refuses a webhook it cannot reach (this machine); a local fake can.
        if settings.mollie_api_base is None and not _reachable_from_outside(webhook):
            log.warning(
                "Mollie cannot reach %s: payments are settled when the fan comes back and"
                " by asking Mollie; set SOLDOUT_PUBLIC_URL to a public address",
                webhook,
            )
            webhook_url: str | None = None
        else:
            webhook_url = webhook
        mollie = MolliePayments(key, webhook_url=webhook_url, api_base=settings.mollie_api_base)
        return mollie, ProviderSetup(
            "mollie", (("SOLDOUT_MOLLIE_API_KEY", last_four(key)),), webhook_url
        )
    if read_only:
        ledger = settings.payments_ledger if settings.payments_ledger.exists() else None
        reader = TestPayments(ledger, secret=b"reads only: signs nothing", read_only=True)
        return reader, ProviderSetup("test", (), None)
    test = TestPayments(
        settings.payments_ledger,
        secret=load_test_payments_secret(settings),
        webhook_delay=settings.test_payments_delay,
    )
    return test, ProviderSetup("test", (), None)
