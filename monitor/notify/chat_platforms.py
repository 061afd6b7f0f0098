"""What each chat platform expects of a request and means by its answer (pure: no I/O, no
clock): signing (`sign`), reading an answer into sent / retry / failed (`read_answer`), the
per-robot rate limits the sender keeps to (`RATE_LIMITS`) and the headers of a request
(`request_headers`). The HTTP poster and the outbox (monitor.notify) act on these.

An answer is the other side's text: every byte of it is treated as hostile. Only the bytes
handed in are read (at most `MAX_ANSWER_BYTES` of them are parsed), a body that is not UTF-8 or
not a JSON object is "not the expected answer", and whatever of it goes into a reason passes
through `monitor.core.text_safety.safe_text` (control and bidi characters escaped) and is
shortened, so an outbox listing or a log line cannot be forged or flooded by a server.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

from monitor.core.text_safety import safe_text
from monitor.core.vocabulary import as_utc, channel_kind_label

KINDS = ("wecom", "dingtalk", "feishu", "webhook")

# Per-robot limits, (messages, per seconds), from each platform's robot documentation:
# - WeCom group robot: "每个机器人发送的消息不能超过20条/分钟" (developer.work.weixin.qq.com/
#   document/path/91770, 群机器人配置说明 → 消息发送频率限制).
# - DingTalk custom robot: "每个机器人每分钟最多发送20条消息到群里，如果超过20条，会限流10分钟"
#   (open.dingtalk.com/document/robots/custom-robot-access, 调用频率限制).
# - Feishu custom bot: "单租户单机器人 100 次/分钟，5 次/秒" (open.feishu.cn/document/
#   client-docs/bot-v3/add-custom-bot, 注意事项); the per-second part is BURST_LIMITS.
# - webhook: a receiver of ours states none; none is imposed.
RATE_LIMITS: dict[str, tuple[int, float]] = {
    "wecom": (20, 60.0),
    "dingtalk": (20, 60.0),
    "feishu": (100, 60.0),
}
BURST_LIMITS: dict[str, tuple[int, float]] = {"feishu": (5, 1.0)}

# When a platform says "too fast" without a Retry-After: wait out its window. DingTalk blocks
# a robot for 10 minutes after it exceeds its limit (see above); WeCom and Feishu count per
# minute.
RATE_LIMIT_WAIT = {"wecom": 60.0, "dingtalk": 600.0, "feishu": 60.0, "webhook": 60.0}

# The platforms' own "too fast" codes (HTTP 200 with the code in the body):
# WeCom 45009 "api freq out of limit"; DingTalk 130101 "send too fast, exceed 20 times per
# minute"; Feishu 11232 (the bot guide's 限流错误, "frequency limited").
RATE_LIMIT_CODES = {"wecom": {45009}, "dingtalk": {130101}, "feishu": {11232}}
# "System busy, try again" (-1 in WeCom's and DingTalk's global error codes).
BUSY_CODES = {"wecom": {-1}, "dingtalk": {-1}, "feishu": set[int]()}

MAX_ANSWER_BYTES = 64 * 1024  # a robot's answer is under 1 KB; more is not its answer
MAX_RETRY_AFTER = 24 * 3600.0  # a Retry-After of a year is a server's error, not a plan
REASON_CHARS = 160  # of a server's text in a reason


@dataclass(frozen=True)
class Outcome:
    """What became of one POST: "sent" (the platform took it), "retry" (later, with the
    outbox's backoff or the server's `retry_after` seconds), "failed" (kept, listed, retried
    only by hand: `outbox retry`)."""

    state: str  # "sent" | "retry" | "failed"
    reason: str  # one line, for `outbox list` and the logs (Chinese)
    retry_after: float | None = None  # seconds the server asked to wait


# ---------------------------------------------------------------- signing
def _hmac_b64(key: str, message: str) -> str:
    digest = hmac.new(key.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """DingTalk 加签 (open.dingtalk.com, 自定义机器人安全设置): HMAC-SHA256 keyed by the secret
    over "timestamp\\nsecret", Base64, then URL-encoded. The timestamp is in milliseconds and
    must be within an hour of DingTalk's clock."""
    return quote_plus(_hmac_b64(secret, f"{timestamp_ms}\n{secret}"))


def feishu_sign(timestamp_s: int, secret: str) -> str:
    """Feishu 签名校验 (open.feishu.cn, 自定义机器人使用指南): HMAC-SHA256 keyed by
    "timestamp\\nsecret" over the empty string, Base64 (the reverse of DingTalk's key and
    message: reusing DingTalk's code is answered 19021). The timestamp is in seconds."""
    return _hmac_b64(f"{timestamp_s}\n{secret}", "")


def _with_query(url: str, extra: Mapping[str, str]) -> str:
    """`url` with `extra` appended to its query, replacing earlier values of those names (a
    URL copied with an old timestamp and sign), the rest of the query left byte for byte."""
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and p.split("=", 1)[0] not in extra]
    query = "&".join([*kept, *(f"{k}={val}" for k, val in extra.items())])
    return urlunsplit(parts._replace(query=query))


def sign(
    kind: str, url: str, body: bytes, secret: str | None, now: dt.datetime
) -> tuple[str, bytes]:
    """The (url, body) to send to a channel of `kind`: DingTalk adds `timestamp` (ms) and
    `sign` to the URL's query; Feishu adds "timestamp" (s, a string, as its examples send it)
    and "sign" to the JSON body; WeCom and webhooks, or no secret ("" or None), leave both as
    they are.

    :raises ValueError: a Feishu body that is not a JSON object."""
    if not secret or kind not in ("dingtalk", "feishu"):
        return url, body
    seconds = as_utc(now).timestamp()
    if kind == "dingtalk":
        stamp = int(seconds * 1000)
        return _with_query(
            url, {"timestamp": str(stamp), "sign": dingtalk_sign(stamp, secret)}
        ), body
    stamp = int(seconds)
    payload = json.loads(body.decode("utf-8"))
    if not isinstance(payload, dict):
        raise ValueError("飞书消息体不是 JSON 对象，无法加签")
    payload["timestamp"] = str(stamp)
    payload["sign"] = feishu_sign(stamp, secret)
    signed = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return url, signed


def request_headers(kind: str, message_id: str) -> dict[str, str]:
    """The headers of a POST: JSON in UTF-8 (DingTalk requires the charset); a webhook also
    gets `Idempotency-Key`, the outbox message id, so a receiver can drop a repeat."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if kind == "webhook":
        headers["Idempotency-Key"] = safe_text(message_id)
    return headers


# ---------------------------------------------------------------- answers
def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The wait a `Retry-After` header asks, in seconds (0 to a day): delta-seconds, or an
    HTTP date read against the answer's own `Date` header (the server's clock against the
    server's clock: no clock read here, no skew); None when absent or unreadable."""
    value = _header(headers, "Retry-After")
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]{1,12}", value):
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
        date = email.utils.parsedate_to_datetime(_header(headers, "Date") or "")
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None or date.tzinfo is None:
        return None
    return min(max(0.0, (when - date).total_seconds()), MAX_RETRY_AFTER)


def _short(text: object) -> str:
    """A server's text for a reason: escaped, spaces collapsed, at most REASON_CHARS."""
    flat = " ".join(str(text).split())
    cut = flat if len(flat) <= REASON_CHARS else flat[: REASON_CHARS - 1] + "…"
    return safe_text(cut)


def _snippet(body: bytes) -> str:
    return _short(body[: REASON_CHARS * 4].decode("utf-8", errors="replace"))


def _json_object(body: bytes) -> dict[str, Any] | None:
    if len(body) > MAX_ANSWER_BYTES:
        return None
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _code(data: Mapping[str, Any], *names: str) -> int | None:
    """The first of `names` that holds an integer (a bool is not one)."""
    for name in names:
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _platform_code(kind: str, data: Mapping[str, Any]) -> tuple[int | None, str]:
    """(code, message) of a platform's answer: WeCom and DingTalk `errcode`/`errmsg`; Feishu
    `code`/`msg`, or `StatusCode`/`StatusMessage` in older answers."""
    if kind == "feishu":
        code = _code(data, "code", "StatusCode")
        message = data.get("msg", data.get("StatusMessage", ""))
    else:
        code = _code(data, "errcode")
        message = data.get("errmsg", "")
    return code, _short(message if isinstance(message, str) else json.dumps(message))


def read_answer(kind: str, status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
    """What a channel's HTTP answer means.

    - 2xx with the platform's success code: sent (WeCom/DingTalk `errcode` 0, Feishu `code` 0
      or `StatusCode` 0); a webhook: any 2xx.
    - Rate limits (HTTP 429; WeCom 45009, DingTalk 130101, Feishu 11232), a busy platform
      (-1), 408 and 5xx: retry, after `Retry-After` if the server sent one, else after the
      platform's window for a rate limit, else with the outbox's backoff.
    - Any other answer: failed, the reason quoting the status or code and the server's text.
    """
    name = channel_kind_label(kind)
    wait = retry_after(headers)
    if status == 429:
        return Outcome(
            "retry", f"{name}限流（HTTP 429），稍后重试", wait or RATE_LIMIT_WAIT.get(kind, 60.0)
        )
    if status == 408 or 500 <= status <= 599:
        return Outcome("retry", f"{name}暂时不可用（HTTP {status}）：{_snippet(body)}", wait)
    if kind == "dingtalk" and status == 302:
        # DingTalk redirects a robot that goes on sending while blocked (reported by users; its
        # documentation names the 10-minute block, not the answer): wait the block out. A wrong
        # address redirects too; it fails after the outbox's attempts, with this reason.
        reason = "钉钉回应重定向（HTTP 302：超过每分钟 20 条后的限流，或地址有误），稍后重试"
        return Outcome("retry", reason, wait or RATE_LIMIT_WAIT[kind])
    if not 200 <= status <= 299:
        return Outcome("failed", f"{name}拒绝（HTTP {status}）：{_snippet(body)}")
    if kind == "webhook":
        return Outcome("sent", f"Webhook 已接收（HTTP {status}）")
    data = _json_object(body)
    if data is None:
        return Outcome("failed", f"{name}的回应不是预期的 JSON（HTTP {status}）：{_snippet(body)}")
    code, message = _platform_code(kind, data)
    if code is None:
        return Outcome("failed", f"{name}的回应没有错误码（HTTP {status}）：{_snippet(body)}")
    if code == 0:
        return Outcome("sent", f"{name}已接收")
    quoted = f"错误码 {code}：{message}" if message else f"错误码 {code}"
    if code in RATE_LIMIT_CODES.get(kind, ()):
        return Outcome("retry", f"{name}限流（{quoted}）", wait or RATE_LIMIT_WAIT[kind])
    if code in BUSY_CODES.get(kind, ()):
        return Outcome("retry", f"{name}繁忙（{quoted}）", wait)
    return Outcome("failed", f"{name}拒绝（{quoted}）")
