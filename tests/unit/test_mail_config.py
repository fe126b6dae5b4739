"""`SOLDOUT_SMTP_URL`: TLS as the URL says, a password never sent in the clear to another
machine, a clear error for a wrong URL, and the password never in what is logged."""

from __future__ import annotations

import pytest

from soldout.mail import MailSettings
from soldout.mail.config import SmtpConfig, Tls
from soldout.mail.pickup import PickupDirectory
from soldout.mail.smtp import SmtpTransport
from soldout.settings import Settings


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "user"),
    [
        ("smtp://127.0.0.1:1025", "127.0.0.1", 1025, Tls.OPPORTUNISTIC, None),
        ("smtp://mail.example.com", "mail.example.com", 587, Tls.OPPORTUNISTIC, None),
        ("smtp://u%40x:p%3Aw@mail.example.com:587", "mail.example.com", 587, Tls.REQUIRED, "u@x"),
        (
            "smtp://mail.example.com:25?starttls=required",
            "mail.example.com",
            25,
            Tls.REQUIRED,
            None,
        ),
        ("smtp://u:p@localhost:1025", "localhost", 1025, Tls.OPPORTUNISTIC, "u"),
        ("smtp://u:p@127.0.0.1:1025?starttls=off", "127.0.0.1", 1025, Tls.OFF, "u"),
        ("smtps://u:p@mail.example.com", "mail.example.com", 465, Tls.IMPLICIT, "u"),
        ("smtp://[::1]:2525", "::1", 2525, Tls.OPPORTUNISTIC, None),
    ],
)
def test_the_url_says_where_and_how(
    url: str, host: str, port: int, tls: Tls, user: str | None
) -> None:
    config = SmtpConfig.from_url(url, timeout=7)
    assert (config.host, config.port, config.tls, config.username) == (host, port, tls, user)
    assert config.timeout == 7


def test_a_password_is_decoded_and_never_shown() -> None:
    config = SmtpConfig.from_url("smtp://shop:s3cr%40t@mail.example.com:587")
    assert config.password == "s3cr@t"
    assert "s3cr" not in repr(config)
    assert config.redacted == "smtp://shop:***@mail.example.com:587 (TLS: required)"
    assert "s3cr" not in SmtpTransport(config).description


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://mail.example.com", "must start with smtp"),
        ("smtp://", "names no host"),
        ("smtp://mail.example.com:99999", "not a URL"),
        ("smtp://mail.example.com/path", "no path"),
        ("smtp://mail.example.com?tls=1", "unknown option: tls"),
        ("smtp://mail.example.com?starttls=maybe", "starttls is one of"),
        ("smtps://mail.example.com?starttls=required", "TLS from the start"),
        ("smtp://u:hunter2@mail.example.com?starttls=off", "only sent without TLS"),
        ("smtp://u:hunter2#x@mail.example.com:587", "URL-encode"),  # a raw '#' in it
        ("smtp://u:hunter2/pw@mail.example.com:587", "URL-encode"),
    ],
)
def test_a_wrong_url_is_refused_with_the_reason(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says) as refused:
        SmtpConfig.from_url(url)
    assert "hunter2" not in str(refused.value)


def test_a_password_never_goes_without_tls_to_a_relay_on_a_network() -> None:
    """A relay made to hide STARTTLS (a man in the middle) must not get the password."""
    asked = SmtpConfig.from_url("smtp://u:pw@mail.example.com?starttls=opportunistic")
    assert asked.tls.value == "required"
    local = SmtpConfig.from_url("smtp://u:pw@127.0.0.1:1025?starttls=opportunistic")
    assert local.tls.value == "opportunistic"


def test_without_a_relay_mail_goes_to_a_directory_and_says_so(tmp_path: object) -> None:
    settings = Settings(data=tmp_path, public_url="https://shop.example.com")  # type: ignore[arg-type]
    mail = MailSettings.from_settings(settings)
    assert isinstance(mail.transport, PickupDirectory)
    assert "nothing is sent" in mail.transport.description
    assert mail.sender.addr_spec == "noreply@shop.example.com"
    assert mail.base_url == "https://shop.example.com"


def test_with_a_relay_the_settings_make_an_smtp_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOLDOUT_SMTP_URL", "smtp://shop:pw@mail.example.com:587")
    monkeypatch.setenv("SOLDOUT_MAIL_FROM", "Model Makers <hello@makers.example>")
    monkeypatch.setenv("SOLDOUT_REMINDER_MINUTES", "15")
    settings = Settings()
    assert "pw" not in repr(settings)  # a secret: not in the settings' own repr either
    mail = MailSettings.from_settings(settings)
    assert isinstance(mail.transport, SmtpTransport)
    assert mail.transport.description.startswith("smtp://shop:***@mail.example.com:587")
    assert str(mail.sender) == "Model Makers <hello@makers.example>"
    assert mail.opening_lead.total_seconds() == 15 * 60
