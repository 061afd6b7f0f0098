"""Handing one message to the outside world: SMTP, or an .eml file in a folder.

A mailer sends the exact bytes the outbox stored, to one envelope recipient, and either
returns where it went or raises `DeliveryError`. smtplib's and the socket layer's
exceptions are translated here, once (`delivery_error`), into what the outbox needs to
know: is the failure permanent (a 5xx for this recipient or this message: retrying will
not help) or transient (a 4xx, a timeout, a refused connection), and does it concern this
message or the whole connection (then the next message needs a new connection).

SMTP runs under two clocks. `[smtp] timeout` bounds each socket operation; on top of it each
connection (connect, greeting, EHLO, STARTTLS, AUTH) and each message (MAIL, RCPT, DATA and
its reply) has an overall deadline, because a server that trickles `220-` lines or a reply a
byte at a time never lets a per-operation timeout expire. smtplib knows only the first, so
`_DeadlineSMTP` reads through a raw stream that sets the socket's timeout to what is left of
the deadline before every recv, and sends in chunks the same way; the TLS handshake gets
what is left too. Past the deadline the connection is closed and the message deferred, with
the reason. No thread is involved.
"""

from __future__ import annotations

import contextlib
import io
import math
import smtplib
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from monitor.config.alerts import SmtpSettings
from monitor.core.errors import DeliveryError, UnsafePath
from monitor.store.files import private_dir, replace_file

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


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


# ---------------------------------------------------------------- deadlines
MIN_THROUGHPUT = 100_000  # bytes/s a message's deadline allows for its content on top


class DeadlineExceeded(TimeoutError):
    """The overall deadline of a connection or a message passed."""


class _DeadlineReader(io.RawIOBase):
    """The session's socket as a raw stream whose every recv waits at most what is left."""

    def __init__(self, smtp: _DeadlineMixin) -> None:
        self.smtp = smtp

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        sock = self.smtp.sock
        if sock is None:
            return 0
        sock.settimeout(self.smtp.budget())
        return int(sock.recv_into(buffer))


class _BudgetedContext:
    """Gives a TLS handshake (STARTTLS) what is left of the deadline, not a fresh timeout."""

    def __init__(self, context: ssl.SSLContext, smtp: _DeadlineMixin) -> None:
        self.context = context
        self.smtp = smtp

    def wrap_socket(self, sock: socket.socket, **kwargs: Any) -> ssl.SSLSocket:
        sock.settimeout(self.smtp.budget())
        return self.context.wrap_socket(sock, **kwargs)


class _DeadlineMixin(smtplib.SMTP):
    """smtplib with an overall deadline per phase (`begin`); see the module doc. Mixed in
    before SMTP or SMTP_SSL, so `super()` is the one the session uses."""

    _host: str  # smtplib's, left out of its stub

    def begin(self, seconds: float, what: str) -> None:
        """From now on, everything until the next `begin` must end within `seconds`."""
        self.deadline = time.monotonic() + seconds
        self.seconds, self.what = seconds, what
        self.expired = False
        self.content_sent = False  # the DATA content went out: the server may have it

    def budget(self) -> float:
        """Seconds the next socket operation may wait: what is left, at most the timeout.

        :raises DeadlineExceeded: nothing is left.
        """
        left = getattr(self, "deadline", math.inf) - time.monotonic()
        if left <= 0:
            self.expired = True
            raise DeadlineExceeded(f"overall deadline of {self.seconds:g} s passed")
        return min(left, self.timeout) if self.timeout else left

    def past_deadline(self) -> bool:
        """Whether the phase ran out of time (a recv given the last of it timed out)."""
        return self.expired or time.monotonic() >= getattr(self, "deadline", math.inf)

    def _get_socket(self, host: str, port: int, timeout: float) -> Any:
        return socket.create_connection((host, port), self.budget(), self.source_address)

    def getreply(self) -> tuple[int, bytes]:
        if self.file is None and self.sock is not None:
            self.file = io.BufferedReader(_DeadlineReader(self))
        return super().getreply()

    def send(self, s: ReadableBuffer | str) -> None:
        if not self.sock:
            raise smtplib.SMTPServerDisconnected("please run connect() first")
        data = s.encode(self.command_encoding) if isinstance(s, str) else bytes(s)
        sys.audit("smtplib.send", self, data)
        view = memoryview(data)
        try:
            while view:
                self.sock.settimeout(self.budget())
                view = view[self.sock.send(view[:65536]) :]
        except OSError:
            self.close()
            raise smtplib.SMTPServerDisconnected("Server not connected") from None
        if data.endswith(b"\r\n.\r\n"):
            self.content_sent = True

    def starttls(
        self, *args: Any, context: ssl.SSLContext | None = None, **kwargs: Any
    ) -> tuple[int, bytes]:
        # the mailer always passes its context; smtplib's own default would not verify
        budgeted = _BudgetedContext(context or ssl.create_default_context(), self)
        # smtplib only calls context.wrap_socket(); its stub asks for an SSLContext
        return super().starttls(*args, context=budgeted, **kwargs)  # type: ignore[call-overload]


class _DeadlineSMTP(_DeadlineMixin):
    pass


class _DeadlineSMTPSSL(_DeadlineMixin, smtplib.SMTP_SSL):
    def _get_socket(self, host: str, port: int, timeout: float) -> Any:
        sock = socket.create_connection((host, port), self.budget(), self.source_address)
        sock.settimeout(self.budget())  # the handshake gets what is left
        return self.context.wrap_socket(sock, server_hostname=self._host)


class SmtpMailer:
    """SMTP with STARTTLS or implicit TLS and login; one connection reused for a run
    (`reuse=False`: a new connection per message).

    `connect_deadline`: seconds for connect, greeting, EHLO, STARTTLS and AUTH together;
    `message_deadline`: seconds for one message's MAIL, RCPT and DATA, plus its size at
    MIN_THROUGHPUT. Both default to `[smtp] deadline`, or twice `[smtp] timeout`.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        reuse: bool = True,
        connect_deadline: float | None = None,
        message_deadline: float | None = None,
    ) -> None:
        self.settings = settings
        self.reuse = reuse
        self.where = f"smtp://{settings.host}:{settings.port}"
        default = float(getattr(settings, "deadline", None) or 2 * settings.timeout)
        self.connect_deadline = float(connect_deadline or default)
        self.message_deadline = float(message_deadline or default)
        self._smtp: _DeadlineMixin | None = None
        self._password: str | None = settings.password()  # fails early if the variable is unset

    def worst_case_seconds(self, size: int = 1_000_000) -> float:
        """The longest one message of `size` bytes can take, reconnecting included."""
        return self.connect_deadline + self.message_deadline + size / MIN_THROUGHPUT

    def _tls_context(self) -> ssl.SSLContext:
        s = self.settings
        context = ssl.create_default_context(cafile=str(s.cafile) if s.cafile else None)
        if not s.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> _DeadlineMixin:
        s = self.settings
        smtp: _DeadlineSMTP | _DeadlineSMTPSSL
        if s.security == "ssl":
            smtp = _DeadlineSMTPSSL(timeout=s.timeout, context=self._tls_context())
        else:
            smtp = _DeadlineSMTP(timeout=s.timeout)
        smtp.begin(self.connect_deadline, "连接（建立连接、问候、EHLO、STARTTLS、登录）")
        try:
            smtp._host = s.host  # smtplib sets it in __init__ only when given a host
            smtp.connect(s.host, s.port)
            smtp.ehlo()
            if s.security == "starttls":
                smtp.starttls(context=self._tls_context())  # never falls back to plain text
                smtp.ehlo()
            if s.username:
                smtp.login(s.username, self._password or "")
        except (smtplib.SMTPException, OSError) as exc:
            with contextlib.suppress(Exception):
                smtp.close()
            raise self._error(smtp, exc) from exc
        except BaseException:
            with contextlib.suppress(Exception):
                smtp.close()
            raise
        return smtp

    def _error(
        self, smtp: _DeadlineMixin, exc: BaseException, rcpt: str | None = None
    ) -> DeliveryError:
        if not smtp.past_deadline():
            return delivery_error(exc, rcpt)
        reason = (
            f"SMTP 服务器未在 {round(smtp.seconds, 1):g} 秒内完成{smtp.what}，已断开连接"
            f"（每次读写的超时为 {self.settings.timeout:g} 秒）"
        )
        if smtp.content_sent:
            reason += "；邮件内容已发出、未等到服务器确认，它可能已收下（重发时 Message-ID 不变）"
        return DeliveryError(reason, scope="connection")

    def send(self, *, sender: str, rcpt: str, content: bytes, name: str) -> str:
        if self._smtp is None:
            self._smtp = self._connect()
        smtp = self._smtp
        smtp.begin(
            self.message_deadline + len(content) / MIN_THROUGHPUT,
            "本封邮件的投递（MAIL、RCPT、DATA）",
        )
        try:
            smtp.sendmail(sender, [rcpt], content)
        except (smtplib.SMTPException, OSError) as exc:
            error = self._error(smtp, exc, rcpt)
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
        smtp.begin(float(self.settings.timeout), "断开（QUIT）")
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            with contextlib.suppress(Exception):
                smtp.close()


class FileMailer:
    """Writes each message as `<name>.eml` in a folder (no SMTP configured).

    The name is the outbox row's, so writing a message again replaces its file: a resend
    never makes a second copy. The folder is made 0700 and each file 0600 (the messages say
    which funds are at risk); a file is written under a private temporary name and renamed
    into place, so a symlink planted at `<name>.eml` is replaced, never written through, and
    a folder that is a symlink is refused.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.where = str(folder)

    def send(self, *, sender: str, rcpt: str, content: bytes, name: str) -> str:
        target = self.folder / f"{name}.eml"
        try:
            private_dir(self.folder)
            replace_file(target, content)
        except UnsafePath as exc:
            raise DeliveryError(str(exc), scope="connection") from exc
        except OSError as exc:
            raise DeliveryError(
                f"无法写入 {self.folder}：{exc.strerror or exc}", scope="connection"
            ) from exc
        return str(target)

    def close(self) -> None:
        pass
