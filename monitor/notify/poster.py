"""Posting one stored chat message to its channel: a WeCom / DingTalk / Feishu group robot or a
webhook (`[alerts.channels.NAME]`), or, in the demo, a `.json` file beside the `.eml` files.

The outbox stores the JSON body unsigned (`monitor.render.chat_message.chat_payload`); it is
signed here, at send time, because DingTalk's and Feishu's signatures carry a timestamp the
platform accepts only for a while (`monitor.notify.chat_platforms.sign`). Then:

- one HTTP POST, `Content-Type: application/json` and `Idempotency-Key: <message id>` (a
  receiver that sees the same key twice can drop the repeat), under two clocks: `timeout`
  bounds the connection and each read, and a watchdog ends the whole exchange at `deadline`
  (a server trickling its answer a byte at a time never lets a per-read timeout expire);
- no redirect is followed (the URL carries the robot's key; a 307/308 to the same host and
  port is the one exception), and at most 64 KB of the answer is read;
- the platform's answer decides (`chat_platforms.read_answer`): sent; retry (rate limited,
  5xx), not sooner than its `Retry-After`; or failed for this channel. A refused connection,
  a timeout or a TLS failure is a retry too, of scope "connection".

The URL is never logged, stored or shown: it embeds the robot's key. Reasons name the channel
and, for a transport failure, the host at most.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import logging
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from pathlib import Path
from typing import Any

from monitor.config.alerts import AlertSettings, ChannelSettings, alert_settings
from monitor.config.fields import Configured
from monitor.core.errors import ChatError, NotFound, UnsafePath
from monitor.notify.chat_platforms import (
    MAX_ANSWER_BYTES,
    Outcome,
    read_answer,
    request_headers,
    sign,
)
from monitor.store.files import private_dir, replace_file

log = logging.getLogger("monitor.poster")

MAX_ANSWER = MAX_ANSWER_BYTES  # bytes of a server's answer read at most
TIMEOUT = 10.0  # seconds to connect, and for each read
DEADLINE = 30.0  # seconds for the whole exchange
MAX_REDIRECTS = 2  # 307/308 to the same host and port only


@dataclass(frozen=True)
class Answer:
    """What the server said: HTTP status, headers (lower-case names), the first 64 KB."""

    status: int
    headers: Mapping[str, str]
    body: bytes


# ---------------------------------------------------------------- HTTP
def _proxy_for(scheme: str, host: str) -> str | None:
    """The proxy the environment names for `scheme` (https_proxy …), unless no_proxy exempts
    `host`: offices reach the platforms through one."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    return proxy


def _connection(parts: urllib.parse.SplitResult, timeout: float) -> tuple[Any, str]:
    """An unopened connection for `parts` (through the environment's proxy if any) and the
    request target to send on it."""
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    target = f"{path}?{parts.query}" if parts.query else path
    proxy = _proxy_for(parts.scheme, host)
    if proxy is None:
        if parts.scheme == "https":
            return HTTPSConnection(host, port, timeout=timeout,
                                   context=ssl.create_default_context()), target  # fmt: skip
        return HTTPConnection(host, port, timeout=timeout), target
    p = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    headers = {}
    if p.username:
        token = f"{urllib.parse.unquote(p.username)}:{urllib.parse.unquote(p.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(token.encode()).decode()
    if parts.scheme == "https":
        conn: Any = HTTPSConnection(p.hostname or "", p.port or 8080, timeout=timeout,
                                    context=ssl.create_default_context())  # fmt: skip
        conn.set_tunnel(host, port, headers=headers)
        return conn, target
    conn = HTTPConnection(p.hostname or "", p.port or 8080, timeout=timeout)
    conn._fundmon_proxy_headers = headers  # sent with the request below
    return conn, f"http://{host}:{port}{target}"


class _Watchdog:
    """Shuts the connection's socket down at the deadline: a blocked read wakes up at once."""

    def __init__(self, conn: Any, seconds: float) -> None:
        self.conn = conn
        self.fired = False
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        sock = getattr(self.conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> _Watchdog:
        self.timer.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.timer.cancel()


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float = TIMEOUT,
    deadline: float = DEADLINE,
    name: str = "",
) -> Answer:
    """POST `body` to `url`; the answer, whatever its status.

    :raises ChatError: no answer (refused, timeout, TLS, a redirect elsewhere); `name` (the
        channel's) is what the reason shows — never the URL.
    """
    for _ in range(MAX_REDIRECTS + 1):
        answer = _post_once(url, body, headers, timeout=timeout, deadline=deadline, name=name)
        if answer.status not in (307, 308):  # other redirects: `read_answer` judges them
            return answer
        here = urllib.parse.urlsplit(url)
        there = urllib.parse.urlsplit(urllib.parse.urljoin(url, answer.headers.get("location", "")))
        if (here.scheme, here.hostname, here.port) != (there.scheme, there.hostname, there.port):
            raise ChatError(
                f"渠道 {name} 的服务器要求重定向到另一主机（HTTP {answer.status}），未跟随："
                "地址中含机器人密钥，只发往配置的主机",
                permanent=True,
                code=answer.status,
            )
        url = there.geturl()
    raise ChatError(f"渠道 {name} 的服务器重定向过多", permanent=True)


def _post_once(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    deadline: float,
    name: str,
) -> Answer:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChatError(f"渠道 {name} 的地址不是 http(s) 地址", permanent=True)
    host = parts.hostname
    conn, target = _connection(parts, timeout)
    sent_body = False
    started = time.monotonic()
    with _Watchdog(conn, deadline) as dog:
        try:
            conn.connect()
            all_headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "fund-risk-monitor",
                **dict(headers),
                **getattr(conn, "_fundmon_proxy_headers", {}),
            }
            conn.request("POST", target, body=body, headers=all_headers)
            sent_body = True
            response = conn.getresponse()
            data = bytearray()
            while len(data) <= MAX_ANSWER:
                chunk = response.read(min(16384, MAX_ANSWER + 1 - len(data)))
                if not chunk:
                    break
                data += chunk
            answer = Answer(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                bytes(data[:MAX_ANSWER]),
            )
        except (OSError, HTTPException, ValueError) as exc:
            raise _transport_error(exc, name, host, dog.fired or _late(started, deadline),
                                   sent_body, deadline) from None  # fmt: skip
        finally:
            conn.close()
    if dog.fired:  # the answer was complete just as the deadline passed: take it
        log.info("channel %s answered at its deadline", name)
    return answer


def _late(started: float, deadline: float) -> bool:
    return time.monotonic() - started >= deadline


def _transport_error(
    exc: BaseException, name: str, host: str, late: bool, sent: bool, deadline: float
) -> ChatError:
    maybe = (
        "；消息已发出、未等到回答，对方可能已收到（重发时消息编号不变，可据此去重）" if sent else ""
    )
    if late:
        reason = f"渠道 {name}（{host}）未在 {deadline:g} 秒内回答，已断开{maybe}"
    elif isinstance(exc, ssl.SSLError | ssl.CertificateError):
        reason = f"渠道 {name}（{host}）TLS 失败：{type(exc).__name__}"
    elif isinstance(exc, TimeoutError | socket.timeout):
        reason = f"渠道 {name}（{host}）超时{maybe}"
    elif isinstance(exc, ConnectionRefusedError):
        reason = f"无法连接渠道 {name}（{host}）：连接被拒绝"
    elif isinstance(exc, socket.gaierror):
        reason = f"无法解析渠道 {name} 的主机名 {host}"
    else:
        reason = f"渠道 {name}（{host}）连接失败：{type(exc).__name__}{maybe}"
    return ChatError(reason, scope="connection")


# ---------------------------------------------------------------- the poster
class Poster:
    """Posts the outbox's chat rows to the channels of `[alerts.channels]`."""

    def __init__(
        self,
        settings: AlertSettings,
        *,
        timeout: float = TIMEOUT,
        deadline: float = DEADLINE,
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self.deadline = deadline
        self.where = "渠道"

    def worst_case_seconds(self) -> float:
        """The longest one message can take (redirects included)."""
        return self.deadline * (MAX_REDIRECTS + 1)

    def channel(self, name: str) -> ChannelSettings:
        """:raises ChatError: no such channel (retried: the file may get it back)."""
        channel = self.settings.channel(name)
        if channel is None:
            raise ChatError(
                f"渠道 {name} 已不在 config.toml 中（[alerts.channels.{name}]），"
                "恢复该渠道后会再发送，或用 `fundmon outbox list` 查看"
            )
        return channel

    def request(
        self, name: str, kind: str | None, content: bytes, message_id: str, now: dt.datetime
    ) -> tuple[ChannelSettings, Answer]:
        """Sign and post `content` to channel `name`; the raw answer.

        :raises ChatError: the channel or its URL is missing, or no answer came.
        """
        channel = self.channel(name)
        if kind and kind != channel.kind:
            raise ChatError(
                f"渠道 {name} 的类型已改为 {channel.kind}，此消息是按 {kind} 的格式生成的",
                permanent=True,
            )
        url = channel.url()
        if url is None:
            raise ChatError(
                f"环境变量 {channel.url_env} 未设置（渠道 {name} 的机器人地址）；"
                "设置后下次发送时送出"
            )
        secret = channel.secret()
        if channel.secret_env and secret is None:
            raise ChatError(f"环境变量 {channel.secret_env} 未设置（渠道 {name} 的签名密钥）")
        signed_url, body = sign(channel.kind, url, content, secret, now)
        # every post carries the message id, so any receiver can drop a repeat
        headers = {**request_headers(channel.kind, message_id), "Idempotency-Key": message_id}
        answer = post(
            signed_url, body, headers, timeout=self.timeout, deadline=self.deadline, name=name
        )
        return channel, answer

    def send(
        self, *, channel: str, kind: str | None, content: bytes, message_id: str,
        now: dt.datetime, name: str = "",
    ) -> str:  # fmt: skip
        """Deliver one stored message; returns where it went (`wecom:jijinke_group`).

        :raises ChatError: not delivered (`permanent`, `retry_after`, `scope` say how)."""
        settings, answer = self.request(channel, kind, content, message_id, now)
        outcome = read_answer(settings.kind, answer.status, answer.headers, answer.body)
        where = f"{settings.kind}:{channel}"
        if outcome.state == "sent":
            return where
        reason = f"渠道 {channel}：HTTP {answer.status}，{outcome.reason}"
        if outcome.state == "retry":
            raise ChatError(reason, retry_after=outcome.retry_after, code=answer.status)
        raise ChatError(reason, permanent=True, code=answer.status)

    def close(self) -> None:
        pass


class FilePoster:
    """`fundmon demo`: writes what would be posted as `<name>-<channel>.json` in a folder (the
    `.eml` files' folder), privately (0700 folder, 0600 files), never over the network."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.where = str(folder)

    def worst_case_seconds(self) -> float:
        return 1.0

    def send(
        self, *, channel: str, kind: str | None, content: bytes, message_id: str,
        now: dt.datetime, name: str = "",
    ) -> str:  # fmt: skip
        safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in channel)
        target = self.folder / f"{name or 'message'}-{safe}.json"
        try:
            private_dir(self.folder)
            replace_file(target, content)
        except UnsafePath as exc:
            raise ChatError(str(exc), scope="connection") from exc
        except OSError as exc:
            raise ChatError(
                f"无法写入 {self.folder}：{exc.strerror or exc}", scope="connection"
            ) from exc
        return str(target)

    def close(self) -> None:
        pass


def plain_body(kind: str, text: str, message_id: str, **extra: Any) -> bytes:
    """A plain-text message in the platform's text shape (the webhook's: Alertmanager's
    envelope with no alerts, the text as its title): the test message, and the short edition
    of an alert whose full message could not be rendered."""
    if kind == "feishu":
        data: dict[str, Any] = {"msg_type": "text", "content": {"text": text}}
    elif kind == "webhook":
        data = {"version": "4", "status": "firing", "receiver": "fundmon", "alerts": [],
                "title": text, "messageId": message_id, **extra}  # fmt: skip
    else:  # WeCom and DingTalk share the text message's shape
        data = {"msgtype": "text", "text": {"content": text}}
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------- fundmon alerts test-channel
@dataclass(frozen=True)
class ChannelTest:
    """What `fundmon alerts test-channel` prints: the HTTP status and the platform's verdict."""

    channel: str
    kind: str
    status: int | None  # None: no answer
    outcome: Outcome

    @property
    def sent(self) -> bool:
        return self.outcome.state == "sent"

    def line(self) -> str:
        http = f"HTTP {self.status}" if self.status is not None else "无回答"
        verdict = {"sent": "已送达", "retry": "暂时失败", "failed": "失败"}[self.outcome.state]
        return f"渠道 {self.channel}（{self.kind}）：{verdict}，{http}，{self.outcome.reason}"


def test_channel(config: Configured, name: str, now: dt.datetime) -> ChannelTest:
    """Post one test message to channel `name` now (not through the outbox) and report the
    server's answer.

    :raises NotFound: no channel of that name.
    """
    settings = alert_settings(config)
    channel = settings.channel(name)
    if channel is None:
        known = "、".join(sorted(settings.channels)) or "无"
        raise NotFound(f"没有渠道 {name}（config.toml 中已定义：{known}）")
    message_id = f"<fundmon.test.{now:%Y%m%d%H%M%S}@fundmon>"
    body = plain_body(
        channel.kind,
        f"【测试】医保基金风险监测：渠道 {name} 的测试消息（{now:%Y-%m-%d %H:%M} UTC），无需处理",
        message_id,
    )
    poster = Poster(settings)
    try:
        _, answer = poster.request(name, channel.kind, body, message_id, now)
    except ChatError as exc:
        state = "failed" if exc.permanent else "retry"
        outcome = Outcome(state, exc.reason, exc.retry_after)
        return ChannelTest(name, channel.kind, exc.code, outcome)
    outcome = read_answer(channel.kind, answer.status, answer.headers, answer.body)
    return ChannelTest(name, channel.kind, answer.status, outcome)


test_channel.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported
