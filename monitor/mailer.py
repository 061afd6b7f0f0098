"""Handing one message to the outside world: SMTP, or an .eml file in a folder.

A mailer sends the exact bytes the outbox stored, to one envelope recipient, and either
returns where it went or raises `DeliveryError`. smtplib's and the socket layer's
exceptions are translated here, once (`delivery_error`), into what the outbox needs to
know: is the failure permanent (a 5xx for this recipient or this message: retrying will
not help) or transient (a 4xx, a timeout, a refused connection), and does it concern this
message or the whole connection (then the next message needs a new connection).
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import socket
import ssl
import tempfile
from pathlib import Path
from typing import Protocol

from monitor.alert_settings import SmtpSettings
from monitor.errors import MonitorError


class DeliveryError(MonitorError):
    """A message was not delivered.

    `permanent`: retrying will not help (a 5xx for this recipient or message).
    `scope`: "message" (the connection is still good) or "connection" (reconnect first).
    """

    def __init__(
        self,
        reason: str,
        *,
        code: int | None = None,
        permanent: bool = False,
        scope: str = "message",
    ) -> None:
        self.reason = reason
        self.code = code
        self.permanent = permanent
        self.scope = scope
        head = f"SMTP {code}" if code else ("永久失败" if permanent else "暂时失败")
        super().__init__(f"邮件未送达（{head}）：{reason}")


class Mailer(Protocol):
    """Sends stored messages; `where` describes the destination for people."""

    where: str

    def send(self, *, sender: str, rcpt: str, content: bytes, name: str) -> str:
        """Deliver `content` to `rcpt`; returns where it went.

        :raises DeliveryError: not delivered.
        """
        ...

    def close(self) -> None: ...


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def delivery_error(exc: BaseException, rcpt: str | None = None) -> DeliveryError:
    """Translate an smtplib / socket / TLS exception into a DeliveryError."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, msg = next(iter(exc.recipients.values()), (0, b""))
        if rcpt is not None and rcpt in exc.recipients:
            code, msg = exc.recipients[rcpt]
        return DeliveryError(
            f"收件人 {rcpt or ''} 被拒绝：{_text(msg)}",
            code=code,
            permanent=500 <= code < 600,
            scope="connection" if code == 421 else "message",
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(
            f"SMTP 认证失败：{_text(exc.smtp_error)}", code=exc.smtp_code, scope="connection"
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        # The sender is refused for every message alike: a connection-wide problem
        # (configuration), retried like an outage rather than failing each message.
        return DeliveryError(
            f"发件人 {_text(exc.sender)} 被拒绝：{_text(exc.smtp_error)}",
            code=exc.smtp_code,
            scope="connection",
        )
    if isinstance(exc, smtplib.SMTPDataError):
        code = exc.smtp_code
        return DeliveryError(
            f"邮件内容被拒绝：{_text(exc.smtp_error)}",
            code=code,
            permanent=500 <= code < 600,
            scope="connection" if code == 421 else "message",
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        return DeliveryError(
            f"SMTP 服务器回复：{_text(exc.smtp_error)}", code=code, scope="connection"
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"SMTP 服务器不支持所需功能：{exc}", scope="connection")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"SMTP 连接中断：{exc}", scope="connection")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return DeliveryError(f"TLS 失败：{exc}", scope="connection")
    if isinstance(exc, socket.timeout | TimeoutError):
        return DeliveryError(f"SMTP 超时：{exc}", scope="connection")
    if isinstance(exc, smtplib.SMTPException | OSError):
        return DeliveryError(f"无法连接 SMTP 服务器：{exc}", scope="connection")
    raise TypeError(f"not a delivery failure: {exc!r}")


class SmtpMailer:
    """SMTP with STARTTLS or implicit TLS and login; one connection reused for a run
    (`reuse=False`: a new connection per message)."""

    def __init__(self, settings: SmtpSettings, *, reuse: bool = True) -> None:
        self.settings = settings
        self.reuse = reuse
        self.where = f"smtp://{settings.host}:{settings.port}"
        self._smtp: smtplib.SMTP | None = None
        self._password: str | None = settings.password()  # fails early if the variable is unset

    def _tls_context(self) -> ssl.SSLContext:
        s = self.settings
        context = ssl.create_default_context(cafile=str(s.cafile) if s.cafile else None)
        if not s.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        smtp: smtplib.SMTP
        try:
            if s.security == "ssl":
                smtp = smtplib.SMTP_SSL(
                    s.host, s.port, timeout=s.timeout, context=self._tls_context()
                )
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            try:
                smtp.ehlo()
                if s.security == "starttls":
                    smtp.starttls(context=self._tls_context())  # never falls back to plain text
                    smtp.ehlo()
                if s.username:
                    smtp.login(s.username, self._password or "")
            except BaseException:
                with contextlib.suppress(Exception):
                    smtp.close()
                raise
        except (smtplib.SMTPException, OSError) as exc:
            raise delivery_error(exc) from exc
        return smtp

    def send(self, *, sender: str, rcpt: str, content: bytes, name: str) -> str:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._smtp.sendmail(sender, [rcpt], content)
        except (smtplib.SMTPException, OSError) as exc:
            error = delivery_error(exc, rcpt)
            if error.scope == "connection":
                self.close()
            raise error from exc
        finally:
            if not self.reuse:
                self.close()
        return self.where

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            with contextlib.suppress(Exception):
                smtp.close()


class FileMailer:
    """Writes each message as `<name>.eml` in a folder (no SMTP configured).

    The name is the outbox row's, so writing a message again replaces its file: a resend
    never makes a second copy.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.where = str(folder)

    def send(self, *, sender: str, rcpt: str, content: bytes, name: str) -> str:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.folder / f"{name}.eml"
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".eml")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(content)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)  # atomic: a reader never sees half a message
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise DeliveryError(
                f"无法写入 {self.folder}：{exc.strerror or exc}", scope="connection"
            ) from exc
        return str(target)

    def close(self) -> None:
        pass
