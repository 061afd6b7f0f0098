"""What each chat platform expects and answers (issue 17): monitor.notify.chat_platforms.

- Signing, checked against an independent computation of each platform's documented
  algorithm (DingTalk: HMAC-SHA256 keyed by the secret over "timestamp\\nsecret", Base64, URL-
  encoded, in the query; Feishu: HMAC-SHA256 keyed by "timestamp\\nsecret" over nothing, Base64,
  in the body) and, for DingTalk's HMAC → Base64 → URL-encode chain, against the worked sample
  DingTalk publishes.
- Answers, from a table of real ones: the platforms' success codes, their rate-limit codes and
  429/5xx retried (Retry-After honoured, in seconds or as a date), everything else failed with
  the code and message quoted — escaped and short, whatever the server sends.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest

from monitor.notify import chat_platforms as cp
from monitor.notify.chat_platforms import (
    RATE_LIMITS,
    Outcome,
    read_answer,
    request_headers,
    retry_after,
    sign,
)

NOW = dt.datetime(2025, 1, 6, 1, 2, 3, 456789, tzinfo=dt.UTC)
SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
DING = "https://oapi.dingtalk.com/robot/send?access_token=abc123"
FEISHU = "https://open.feishu.cn/open-apis/bot/v2/hook/0a1b2c3d-4e5f"
BODY = json.dumps({"msg_type": "interactive", "card": {"x": "红色"}}, ensure_ascii=False).encode()


def hmac_b64(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


# ---------------------------------------------------------------- signing
def test_dingtalk_signs_the_url_with_milliseconds_and_the_secret() -> None:
    url, body = sign("dingtalk", DING, BODY, SECRET, NOW)
    assert body is BODY
    query = parse_qs(urlsplit(url).query)
    assert query["access_token"] == ["abc123"]
    stamp = query["timestamp"][0]
    assert stamp == "1736125323456"  # ms since the epoch of NOW
    expected = hmac_b64(SECRET.encode(), f"{stamp}\n{SECRET}".encode())
    assert query["sign"] == [expected]  # parse_qs undid the URL-encoding
    assert f"sign={quote_plus(expected)}" in url  # '+', '/', '=' encoded, as DingTalk needs


def test_dingtalk_s_chain_reproduces_its_published_sample() -> None:
    """DingTalk's FAQ (ding-doc.dingtalk.com/doc#/faquestions/hxs5v9, quoted by
    francistm/dingtalk-sdk's spec) signs timestamp 1546084445901 with secret "testappSecret"
    as "HCbG3xNE3vzhO%2Bu7qCUL1jS5hsu2n5r2cFhnTrtyDAE%3D": the robot's chain (HMAC-SHA256 keyed
    by the secret, Base64, URL-encode) over the timestamp alone, where the robot's message is
    "timestamp\\nsecret". No robot sample is published; this pins the chain."""
    assert quote_plus(cp._hmac_b64("testappSecret", "1546084445901")) == (
        "HCbG3xNE3vzhO%2Bu7qCUL1jS5hsu2n5r2cFhnTrtyDAE%3D"
    )
    assert cp.dingtalk_sign(1546084445901, "testappSecret") == quote_plus(
        cp._hmac_b64("testappSecret", "1546084445901\ntestappSecret")
    )


def test_dingtalk_replaces_an_old_timestamp_and_sign_and_keeps_the_rest() -> None:
    old = DING + "&timestamp=1&sign=stale&x=%2F"
    url, _ = sign("dingtalk", old, BODY, SECRET, NOW)
    query = parse_qs(urlsplit(url).query)
    assert query["timestamp"] == ["1736125323456"] and len(query["sign"]) == 1
    assert "stale" not in url and "x=%2F" in url and url.startswith(DING)


def test_feishu_signs_the_body_with_seconds_keyed_by_timestamp_and_secret() -> None:
    url, body = sign("feishu", FEISHU, BODY, SECRET, NOW)
    assert url == FEISHU
    data = json.loads(body)
    assert data["msg_type"] == "interactive" and data["card"] == {"x": "红色"}
    assert data["timestamp"] == "1736125323"  # seconds, as Feishu's examples send it
    assert data["sign"] == hmac_b64(f"1736125323\n{SECRET}".encode(), b"")
    # not DingTalk's algorithm (keyed by the secret): Feishu answers that with 19021
    assert data["sign"] != hmac_b64(SECRET.encode(), f"1736125323\n{SECRET}".encode())
    assert "红色".encode() in body  # still UTF-8 as sent, not \\u escapes


@pytest.mark.parametrize(
    ("kind", "secret"),
    [("wecom", SECRET), ("webhook", SECRET), ("dingtalk", ""), ("feishu", ""), ("feishu", None)],
)
def test_without_a_secret_or_a_signing_platform_nothing_changes(
    kind: str, secret: str | None
) -> None:
    assert sign(kind, DING, BODY, secret, NOW) == (DING, BODY)


def test_a_naive_time_is_utc_and_a_feishu_body_must_be_an_object() -> None:
    naive = NOW.replace(tzinfo=None)
    assert sign("dingtalk", DING, BODY, SECRET, naive) == sign("dingtalk", DING, BODY, SECRET, NOW)
    with pytest.raises(ValueError):
        sign("feishu", FEISHU, b"[1, 2]", SECRET, NOW)


def test_a_webhook_carries_the_message_id_as_its_idempotency_key() -> None:
    assert request_headers("webhook", "<m1@x>")["Idempotency-Key"] == "<m1@x>"
    assert "Idempotency-Key" not in request_headers("wecom", "<m1@x>")
    assert request_headers("dingtalk", "x")["Content-Type"] == "application/json; charset=utf-8"


def test_rate_limits_are_the_platforms_documented_ones() -> None:
    assert RATE_LIMITS == {"wecom": (20, 60.0), "dingtalk": (20, 60.0), "feishu": (100, 60.0)}
    assert cp.BURST_LIMITS == {"feishu": (5, 1.0)}  # Feishu: 5 a second as well


# ---------------------------------------------------------------- answers
J = json.dumps
ANSWERS = [
    # (name, kind, status, headers, body, state, retry_after, words in the reason)
    ("wecom ok", "wecom", 200, {}, J({"errcode": 0, "errmsg": "ok"}), "sent", None, []),
    ("wecom 45009", "wecom", 200, {}, J({"errcode": 45009, "errmsg": "api freq out of limit"}),
     "retry", 60.0, ["45009", "api freq out of limit"]),
    ("wecom too long", "wecom", 200, {}, J({"errcode": 40058, "errmsg":
     "markdown.content exceed max length 4096. invalid Request Parameter, hint: [1704540159]"}),
     "failed", None, ["40058", "exceed max length 4096"]),
    ("wecom bad key", "wecom", 200, {}, J({"errcode": 93000, "errmsg":
     "invalid webhook url, hint: [1620132870_51_88bf]"}), "failed", None, ["93000"]),
    ("wecom busy", "wecom", 200, {}, J({"errcode": -1, "errmsg": "system busy"}), "retry",
     None, ["-1"]),
    ("dingtalk ok", "dingtalk", 200, {}, J({"errcode": 0, "errmsg": "ok"}), "sent", None, []),
    ("dingtalk 130101", "dingtalk", 200, {}, J({"errcode": 130101, "errmsg":
     "send too fast, exceed 20 times per minute"}), "retry", 600.0, ["130101", "send too fast"]),
    ("dingtalk sign", "dingtalk", 200, {}, J({"errcode": 310000, "errmsg":
     "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"}),
     "failed", None, ["310000", "sign not match"]),
    ("dingtalk token", "dingtalk", 200, {}, J({"errcode": 300001, "errmsg":
     "token is not exist"}), "failed", None, ["300001"]),
    ("dingtalk blocked", "dingtalk", 302, {"Location": "https://www.dingtalk.com"}, "",
     "retry", 600.0, ["302"]),
    ("feishu ok", "feishu", 200, {}, J({"code": 0, "data": {}, "msg": "success"}), "sent",
     None, []),
    ("feishu old ok", "feishu", 200, {}, J({"Extra": None, "StatusCode": 0,
     "StatusMessage": "success"}), "sent", None, []),
    ("feishu 11232", "feishu", 200, {}, J({"code": 11232, "data": {},
     "msg": "frequency limited"}), "retry", 60.0, ["11232"]),
    ("feishu 19021", "feishu", 200, {}, J({"code": 19021, "msg":
     "sign match fail or timestamp is not within one hour from current time"}), "failed", None,
     ["19021", "sign match fail"]),
    ("feishu keyword", "feishu", 200, {}, J({"code": 19024, "msg": "Key Words Not Found"}),
     "failed", None, ["19024", "Key Words Not Found"]),
    ("feishu 9499", "feishu", 200, {}, J({"code": 9499, "msg": "Bad Request", "data": {}}),
     "failed", None, ["9499"]),
    ("429 Retry-After 7", "wecom", 429, {"Retry-After": "7"}, "", "retry", 7.0, ["429"]),
    ("429 no header", "feishu", 429, {}, "", "retry", 60.0, ["429"]),
    ("503", "webhook", 503, {}, "<html>Service Unavailable</html>", "retry", None, ["503"]),
    ("503 at a date", "webhook", 503, {"Date": "Mon, 06 Jan 2025 01:00:00 GMT",
     "retry-after": "Mon, 06 Jan 2025 01:02:00 GMT"}, "", "retry", 120.0, ["503"]),
    ("404 page", "wecom", 404, {"Content-Type": "text/html"},
     "<html><head><title>404 Not Found</title></head><body>nginx</body></html>", "failed",
     None, ["404", "Not Found"]),
    ("200 garbage", "dingtalk", 200, {}, "<html>we are upgrading</html>", "failed", None,
     ["不是预期的 JSON"]),
    ("200 list", "wecom", 200, {}, "[0]", "failed", None, ["不是预期的 JSON"]),
    ("200 string code", "wecom", 200, {}, J({"errcode": "0"}), "failed", None, ["没有错误码"]),
    ("200 bool code", "dingtalk", 200, {}, J({"errcode": False}), "failed", None, ["没有错误码"]),
    ("200 empty", "feishu", 200, {}, "", "failed", None, ["不是预期的 JSON"]),
    ("webhook 200", "webhook", 200, {}, "anything at all", "sent", None, []),
    ("webhook 204", "webhook", 204, {}, "", "sent", None, []),
    ("webhook 400", "webhook", 400, {}, "bad payload", "failed", None, ["400", "bad payload"]),
    ("webhook 401", "webhook", 401, {}, "", "failed", None, ["401"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "status", "headers", "body", "state", "wait", "words"),
    [a[1:] for a in ANSWERS],
    ids=[a[0] for a in ANSWERS],
)
def test_answers_read_as_the_platforms_mean_them(
    kind: str,
    status: int,
    headers: dict[str, str],
    body: str,
    state: str,
    wait: float | None,
    words: list[str],
) -> None:
    outcome = read_answer(kind, status, headers, body.encode("utf-8"))
    assert isinstance(outcome, Outcome)
    assert (outcome.state, outcome.retry_after) == (state, wait), outcome
    for w in words:
        assert w in outcome.reason, (w, outcome.reason)
    assert "\n" not in outcome.reason and len(outcome.reason) < 300


# ---------------------------------------------------------------- hostile answers
def test_an_errmsg_with_control_characters_stays_one_escaped_line() -> None:
    body = J({"errcode": 40001, "errmsg": "bad\n2025-01-06 fundmon 已发送 ok\x1b[2J\u202e"})
    outcome = read_answer("wecom", 200, {}, body.encode())
    assert outcome.state == "failed"
    assert "\n" not in outcome.reason and "\x1b" not in outcome.reason
    assert "\u202e" not in outcome.reason and "\\u202e" in outcome.reason


def test_a_huge_answer_is_not_parsed_and_its_reason_is_short() -> None:
    huge = b'{"errcode": 0, "errmsg": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    outcome = read_answer("wecom", 200, {}, huge)
    assert outcome.state == "failed" and len(outcome.reason) < 300
    long_msg = J({"errcode": 1, "errmsg": "错" * 5000}).encode()
    assert len(read_answer("wecom", 200, {}, long_msg).reason) < 300


def test_an_answer_that_is_not_utf8_fails_readably() -> None:
    outcome = read_answer("dingtalk", 200, {}, b'{"errcode": 0, "errmsg": "\xff\xfe"}')
    assert outcome.state == "failed" and "不是预期的 JSON" in outcome.reason
    outcome = read_answer("wecom", 500, {}, "系统错误".encode("gbk"))
    assert outcome.state == "retry" and "\ufffd" in outcome.reason  # shown, not raised


def test_deeply_nested_json_is_not_a_crash() -> None:
    outcome = read_answer("feishu", 200, {}, b"[" * 100_000 + b"]" * 100_000)
    assert outcome.state == "failed"


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"RETRY-AFTER": " 30 "}, 30.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "1e9"}, None),
        ({"Retry-After": "99999999999"}, 86400.0),  # a day at most
        ({"Retry-After": "Mon, 06 Jan 2025 01:02:00 GMT"}, None),  # a date without the Date
        (
            {
                "Retry-After": "Mon, 06 Jan 2025 00:59:00 GMT",
                "Date": "Mon, 06 Jan 2025 01:00:00 GMT",
            },
            0.0,
        ),
        ({}, None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date_against_the_answer_s_date(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert retry_after(headers) == seconds
