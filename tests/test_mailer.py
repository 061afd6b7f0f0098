"""Delivery to a real SMTP server process (aiosmtpd on loopback): STARTTLS with a test CA,
implicit TLS, AUTH LOGIN; what arrives parses with the standard library; failures map to
DeliveryError."""

from __future__ import annotations

import datetime as dt
import email
import smtplib
import socket
import ssl
from email import policy
from pathlib import Path

import pytest
from smtp_server import make_certificates, start_server

from monitor.config.alerts import AlertSettings, SmtpSettings
from monitor.core.alerts import Route, decide
from monitor.core.errors import ConfigError, DeliveryError
from monitor.core.funds import FundCatalogue
from monitor.notify.mailer import FileMailer, SmtpMailer, delivery_error
from monitor.render.alert_mail import build_message

NOW = dt.datetime(2025, 1, 6, 1, 0, tzinfo=dt.UTC)
SENDER = "医保基金监测 <fundmon@example.org>"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def alert_bytes() -> bytes:
    """A real alert: the demo's red fund, rendered as the outbox stores it."""
    from test_alerts import result

    settings = AlertSettings(routes=(Route(to=("局长 <leader@example.org>",)),))
    plan = decide({}, [result("341721", "resident", "red")], settings=settings, now=NOW)
    msg = build_message(
        plan.mails[0],
        funds=FundCatalogue(),
        settings=settings,
        sender=SENDER,
        message_id="<fundmon.1.test@example.org>",
        now=NOW,
    )
    return msg.as_bytes()


def smtp(port: int, **overrides: object) -> SmtpSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": SENDER,
        "timeout": 10.0,
    }
    values.update(overrides)
    return SmtpSettings(**values)  # type: ignore[arg-type]


def check_alert(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    assert str(msg["Subject"]) == "【红色预警】东至县 居民医保 可支付月数 2.7 个月"
    assert msg["To"].addresses[0].display_name == "局长"
    assert msg["Message-ID"] == "<fundmon.1.test@example.org>"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "可支付月数 2.7 个月，低于红色阈值 3 个月" in text and "东至县（341721）" in html
    for part in msg.walk():  # an inline image (none today) would have to resolve by Content-ID
        if part.get_content_maintype() == "image":
            assert part["Content-ID"] and f"cid:{part['Content-ID'].strip('<>')}" in html
    return msg  # type: ignore[return-value]


def test_starttls_with_auth_login_delivers_a_message_that_parses(
    tmp_path: Path, certs, alert_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = certs
    server = start_server(
        tmp_path, security="starttls", cert=cert, key=key, auth="fundmon:s3cret", mechanisms="LOGIN"
    )
    try:
        monkeypatch.setenv("FUNDMON_SMTP_PASSWORD", "s3cret")
        settings = smtp(
            server.port,
            security="starttls",
            username="fundmon",
            password_env="FUNDMON_SMTP_PASSWORD",
            cafile=ca,
        )
        mailer = SmtpMailer(settings)
        where = mailer.send(
            sender="fundmon@example.org", rcpt="leader@example.org", content=alert_bytes, name="1"
        )
        mailer.close()
        assert where == f"smtp://127.0.0.1:{server.port}"
        [(meta, raw)] = server.messages()
    finally:
        server.stop()
    assert meta == {
        "mail_from": "fundmon@example.org",
        "rcpt_tos": ["leader@example.org"],
        "tls": True,
        "login": "fundmon",
        "mechanism": "LOGIN",
    }
    check_alert(raw)


def test_implicit_tls(tmp_path: Path, certs, alert_bytes: bytes) -> None:
    ca, cert, key = certs
    with start_server(tmp_path, security="ssl", cert=cert, key=key) as server:
        mailer = SmtpMailer(smtp(server.port, security="ssl", cafile=ca))
        mailer.send(
            sender="fundmon@example.org", rcpt="a@example.org", content=alert_bytes, name="1"
        )
        mailer.close()
        [(meta, raw)] = server.messages()
    assert meta["tls"] is True
    check_alert(raw)


def test_an_untrusted_certificate_is_refused(tmp_path: Path, certs, alert_bytes: bytes) -> None:
    _, cert, key = certs
    with start_server(tmp_path, security="starttls", cert=cert, key=key) as server:
        mailer = SmtpMailer(smtp(server.port, security="starttls"))  # the test CA not trusted
        with pytest.raises(DeliveryError) as err:
            mailer.send(sender="f@example.org", rcpt="a@example.org", content=alert_bytes, name="1")
        assert err.value.scope == "connection" and "TLS" in str(err.value)
        assert server.messages() == []


def test_a_wrong_password_is_a_connection_failure(
    tmp_path: Path, certs, alert_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = certs
    with start_server(
        tmp_path, security="starttls", cert=cert, key=key, auth="fundmon:right"
    ) as server:
        monkeypatch.setenv("PW", "wrong")
        settings = smtp(
            server.port, security="starttls", username="fundmon", password_env="PW", cafile=ca
        )
        with pytest.raises(DeliveryError) as err:
            SmtpMailer(settings).send(
                sender="f@example.org", rcpt="a@example.org", content=alert_bytes, name="1"
            )
    assert err.value.scope == "connection" and err.value.code == 535 and not err.value.permanent


def test_an_unset_password_variable_is_a_config_error() -> None:
    settings = smtp(1, security="starttls", username="u", password_env="FUNDMON_NO_SUCH_VAR")
    with pytest.raises(ConfigError) as err:
        SmtpMailer(settings)
    assert err.value.key == "smtp.password_env" and "FUNDMON_NO_SUCH_VAR" in str(err.value)


def test_one_connection_or_one_per_message(tmp_path: Path, alert_bytes: bytes) -> None:
    with start_server(tmp_path) as server:
        for reuse in (True, False):
            mailer = SmtpMailer(smtp(server.port), reuse=reuse)
            for i in range(3):
                mailer.send(
                    sender="f@example.org", rcpt=f"r{i}@example.org", content=alert_bytes, name="x"
                )
            assert (mailer._smtp is not None) is reuse
            mailer.close()
        assert len(server.messages()) == 6


def test_recipient_refusals_keep_the_connection(tmp_path: Path, alert_bytes: bytes) -> None:
    with start_server(tmp_path) as server:
        server.control(reject={"gone@example.org": 550, "full@example.org": 452})
        mailer = SmtpMailer(smtp(server.port))
        with pytest.raises(DeliveryError) as gone:
            mailer.send(
                sender="f@example.org", rcpt="gone@example.org", content=alert_bytes, name=""
            )
        with pytest.raises(DeliveryError) as full:
            mailer.send(
                sender="f@example.org", rcpt="full@example.org", content=alert_bytes, name=""
            )
        mailer.send(sender="f@example.org", rcpt="ok@example.org", content=alert_bytes, name="")
        mailer.close()
        assert [m["rcpt_tos"] for m, _ in server.messages()] == [["ok@example.org"]]
    assert (gone.value.code, gone.value.permanent, gone.value.scope) == (550, True, "message")
    assert (full.value.code, full.value.permanent, full.value.scope) == (452, False, "message")


def test_nobody_listening_is_a_transient_connection_failure(alert_bytes: bytes) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DeliveryError) as err:
        SmtpMailer(smtp(port, timeout=2.0)).send(
            sender="f@example.org", rcpt="a@example.org", content=alert_bytes, name=""
        )
    assert err.value.scope == "connection" and not err.value.permanent


@pytest.mark.parametrize(
    ("exc", "permanent", "scope", "code"),
    [
        (smtplib.SMTPRecipientsRefused({"a@x.org": (550, b"no")}), True, "message", 550),
        (smtplib.SMTPRecipientsRefused({"a@x.org": (451, b"later")}), False, "message", 451),
        (smtplib.SMTPRecipientsRefused({"a@x.org": (421, b"closing")}), False, "connection", 421),
        (smtplib.SMTPDataError(554, b"spam"), True, "message", 554),
        (smtplib.SMTPDataError(451, b"later"), False, "message", 451),
        (smtplib.SMTPSenderRefused(553, b"no", "f@x.org"), False, "connection", 553),
        (smtplib.SMTPAuthenticationError(535, b"bad"), False, "connection", 535),
        (smtplib.SMTPResponseException(421, b"bye"), False, "connection", 421),
        (smtplib.SMTPServerDisconnected("gone"), False, "connection", None),
        (smtplib.SMTPNotSupportedError("STARTTLS"), False, "connection", None),
        (ConnectionRefusedError(111, "refused"), False, "connection", None),
        (TimeoutError("timed out"), False, "connection", None),
        (ssl.SSLCertVerificationError("bad cert"), False, "connection", None),
    ],
    ids=[
        "5xx recipient",
        "4xx recipient",
        "421 at rcpt",
        "5xx data",
        "4xx data",
        "sender refused",
        "auth",
        "421",
        "disconnected",
        "no starttls",
        "refused",
        "timeout",
        "certificate",
    ],
)
def test_every_smtp_failure_maps_to_a_delivery_error(
    exc: BaseException, permanent: bool, scope: str, code: int | None
) -> None:
    error = delivery_error(exc, "a@x.org")
    assert (error.permanent, error.scope, error.code) == (permanent, scope, code)
    assert isinstance(error, DeliveryError) and str(error).startswith("邮件未送达")


def test_file_mailer_writes_one_file_per_message(tmp_path: Path, alert_bytes: bytes) -> None:
    mailer = FileMailer(tmp_path / "mail")
    first = mailer.send(sender="f@x.org", rcpt="a@x.org", content=alert_bytes, name="20250106-1")
    again = mailer.send(sender="f@x.org", rcpt="a@x.org", content=alert_bytes, name="20250106-1")
    assert first == again and [p.name for p in (tmp_path / "mail").iterdir()] == ["20250106-1.eml"]
    check_alert(Path(first).read_bytes())
