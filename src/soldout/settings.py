"""Configuration: `SOLDOUT_*` environment variables, overridden by CLI flags."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from platformdirs import user_data_path
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from soldout.datadir import make_private_dir

__all__ = ["Settings", "load_admin_token", "load_test_payments_secret"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOLDOUT_", extra="forbid")

    data: Path = Field(default_factory=lambda: user_data_path("soldout"))
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    store: str | None = None
    admin_token: str | None = None
    max_body_bytes: int = Field(65536, ge=1024)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "warning"
    log_format: Literal["text", "json"] = Field(
        "text", description="json: one JSON object per log line (docs/operations.md)"
    )
    metrics_token: SecretStr | None = Field(
        None, min_length=32, description="bearer token that opens /metrics (and nothing else)"
    )
    low_disk_mb: int = Field(
        256, ge=0, description="free MB on the store's disk under which /healthz says low_disk"
    )
    server: Literal["granian", "uvicorn"] = "granian"
    payment_timeout: float = Field(10.0, gt=0, le=120)
    # -- payments (soldout.payments; docs/payments.md) ------------------------------------
    payments: Literal["test", "stripe", "mollie"] = Field(
        "test", description="the payment provider that takes the money"
    )
    test_payments_delay: float = Field(3.0, ge=0, le=3600)
    payment_check_every: float = Field(
        30.0, gt=0, le=3600, description="seconds between asks about pending payments"
    )
    payment_check_after: float = Field(
        60.0, ge=0, le=86400, description="seconds a payment is pending before it is asked about"
    )
    test_payments_secret: str | None = None
    # Secrets: never shown or logged (the admin shows their last 4 characters).
    stripe_secret_key: SecretStr | None = Field(None, description="sk_live_... or sk_test_...")
    stripe_webhook_secret: SecretStr | None = Field(
        None, description="whsec_...: the signing secret of the webhook endpoint"
    )
    stripe_api_base: str | None = Field(
        None, pattern=r"^https?://[^/\s]+$", description="another Stripe API (a local fake)"
    )
    mollie_api_key: SecretStr | None = Field(None, description="live_... or test_...")
    mollie_api_base: str | None = Field(
        None, pattern=r"^https?://[^/\s]+$", description="another Mollie API (a local fake)"
    )
    rate_limit_fan: float = Field(10.0, ge=0, description="claims/s per fan; 0: off")
    rate_limit_fan_burst: int = Field(20, ge=1)
    rate_limit_address: float = Field(0.0, ge=0, description="claims/s per address; 0: off")
    rate_limit_address_burst: int = Field(200, ge=1)
    # -- several workers (docs/scale-out.md) --------------------------------------------
    owner_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="with --workers: the owner's port on 127.0.0.1 (its /metrics, a health"
        " check); 0: a free one, chosen at start",
    )
    pending_seconds: float = Field(
        10.0,
        ge=0.5,
        le=300,
        description="how long a claim decided in Redis may wait for its row before the"
        " owner's reaper confirms it from its row or gives its units back",
    )
    # -- sign-in (docs/security.md) -------------------------------------------------------
    trusted_proxies: str = Field(
        "",
        description="proxies whose X-Forwarded-For/-Proto are believed: 127.0.0.1,10.0.0.0/8",
    )
    signup_limit: int = Field(
        20, ge=0, description="fan sign-ups and sign-in links per address in a row; 0: off"
    )
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^/\s]+(/[^\s]*)?$",
        description="where fans reach the shop, for links in e-mails and share previews",
    )
    # -- e-mail (soldout.mail) ----------------------------------------------------------
    # A secret: it may carry the relay's password, so it is never shown or logged.
    smtp_url: SecretStr | None = Field(
        None, description="smtp://user:pass@host:587, smtps://host:465; unset: DATA/mail/*.eml"
    )
    mail_from: str | None = Field(
        None, min_length=3, max_length=320, description="the From of every e-mail"
    )
    smtp_timeout: float = Field(30.0, gt=0, le=600, description="seconds per SMTP step")
    smtp_connections: int = Field(4, ge=1, le=64, description="SMTP connections at once")
    mail_attempts: int = Field(8, ge=1, le=50, description="tries before an e-mail fails")
    mail_processes: int = Field(
        1, ge=0, le=16, description="processes laying out e-mails; 0: in the server's own"
    )
    reminder_minutes: int = Field(
        10, ge=0, le=1440, description="'the sale opens in N minutes' e-mail; 0: none"
    )
    claim_reminder_minutes: int = Field(
        5, ge=0, le=1440, description="'your claim expires in N minutes' e-mail; 0: none"
    )

    @property
    def base_url(self) -> str:
        """The shop's public address without a trailing slash (this server by default)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    @property
    def payments_ledger(self) -> Path:
        """The built-in test provider's own ledger, beside the database."""
        return self.database.with_name(self.database.stem + "-test-payments.db")

    @property
    def database(self) -> Path:
        """The embedded store's file (`--store sqlite:///PATH`, or in the data directory).
        With a PostgreSQL store: a file of that name in the data directory that is never
        made (what sits beside the store, such as the test provider's ledger, is kept in
        the data directory)."""
        if self.store is None or self.postgres_url is not None:
            return self.data / "soldout.db"
        if self.store.startswith("sqlite:///"):
            return Path(self.store.removeprefix("sqlite:///"))
        raise ValueError(
            f"store {self.store!r} is not one soldout can use: postgresql://USER@HOST:PORT/DB,"
            " sqlite:///PATH, or leave --store out for the embedded store in the data directory"
        )

    @property
    def postgres_url(self) -> str | None:
        """`--store postgresql://...` (or `postgres://`): the PostgreSQL store's URL."""
        if self.store is not None and self.store.startswith(("postgresql://", "postgres://")):
            return self.store
        return None


def _secret_file(path: Path, make: str) -> str:
    if path.exists():
        return path.read_text().strip()
    make_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(make)
    return make


def load_test_payments_secret(settings: Settings) -> bytes:
    """The secret the built-in test provider signs its webhooks with:
    `SOLDOUT_TEST_PAYMENTS_SECRET`, or made once and kept beside the database (0600)."""
    if settings.test_payments_secret:
        return settings.test_payments_secret.encode()
    path = settings.payments_ledger.with_suffix(".secret")
    return _secret_file(path, "whsec_" + secrets.token_urlsafe(24)).encode()


ADMIN_TOKEN_MIN = 32  # characters: a token opens everything, and is tried over the network


def load_admin_token(settings: Settings) -> tuple[str, bool]:
    """(the admin token, whether it was generated now). `SOLDOUT_ADMIN_TOKEN` if set (at
    least `ADMIN_TOKEN_MIN` characters, else `ValueError`), else kept in the data
    directory (mode 0600; generated ones have 36). Fan tokens are signed with a key kept in
    the database itself (see `Store.secret`)."""
    if settings.admin_token:
        return _long_enough(settings.admin_token, "SOLDOUT_ADMIN_TOKEN"), False
    path = settings.data / "admin.token"
    existed = path.exists()
    token = _secret_file(path, "adm_" + secrets.token_urlsafe(24))
    return _long_enough(token, str(path)), not existed


def _long_enough(token: str, source: str) -> str:
    if len(token) < ADMIN_TOKEN_MIN:
        raise ValueError(
            f"the admin token ({source}) has {len(token)} characters, fewer than"
            f" {ADMIN_TOKEN_MIN}: use a longer one, e.g. from"
            " python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return token
