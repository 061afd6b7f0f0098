"""What a chat group or a webhook receives (issue 17): monitor.render.chat_message.

- Each platform's body parses and says what the alert mail of the same events says, in the
  same words: the demo city's events, rendered as the mail and as each chat message, compared
  fact by fact (region and fund, status, payable months, every reason, the outlook sentence).
- Mentions only when a fund is red now; the digest highest level first; within each
  platform's size, measured as UTF-8 bytes of what the platform limits (a 200-event digest
  ends "另有 N 项未列出", a region name of 9000 bytes is cut, not refused).
- Data cannot become markup: a region named `<@all>` or `[点我](http://…)` mentions nobody and
  links nowhere.
- The webhook is Alertmanager's shape, its fingerprint stable per region and fund.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import re
from dataclasses import replace
from email import policy
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select
from test_alerts import FUNDS, T0, Lifecycle, result

from monitor.cli.app import main
from monitor.config.alerts import AlertSettings, RouteSettings
from monitor.core.alerts import Event, Mail
from monitor.core.thresholds import Level
from monitor.notify.chat_platforms import sign
from monitor.notify.outbox import event_from_row
from monitor.render.alert_mail import build_message
from monitor.render.chat_message import (
    DINGTALK_TEXT_LIMIT,
    FEISHU_BODY_LIMIT,
    WECOM_CONTENT_LIMIT,
    ZERO_TIME,
    chat_payload,
    fingerprint,
)
from monitor.store.schema import alerts

CHATS = ("wecom", "dingtalk", "feishu")
BULLETIN = "https://intranet.example.gov.cn/bulletin/{month}/index.html"
SETTINGS = AlertSettings(bulletin_url=BULLETIN)
MESSAGE_ID = "<20250106010000.7.a1b2c3@fundmon.example.gov.cn>"
OFFICE = "基金科 <jijinke@example.org>"
MENTION = ("zhangsan", "13800001111")


def payload(kind: str, mail: Mail, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "funds": FUNDS, "settings": SETTINGS, "message_id": MESSAGE_ID, "now": T0,
        "mention": MENTION,
    } | kw  # fmt: skip
    body = chat_payload(kind, mail, **args)
    assert isinstance(body, bytes)
    data = json.loads(body.decode("utf-8"))
    assert isinstance(data, dict)
    return data


def text_of(kind: str, data: dict[str, Any]) -> str:
    """What a reader of the group sees, as one text."""
    if kind == "wecom":
        return str(data["markdown"]["content"])
    if kind == "dingtalk":
        return f"{data['markdown']['title']}\n{data['markdown']['text']}"
    card = data["card"]
    parts = [card["header"]["title"]["content"]]
    for element in card["elements"]:
        if element["tag"] == "div":
            parts.append(element["text"]["content"])
        if element["tag"] == "note":
            parts += [e["content"] for e in element["elements"]]
    return "\n".join(parts)


def limited_size(kind: str, data: dict[str, Any]) -> int:
    """The bytes the platform counts against its limit: WeCom the markdown content, DingTalk
    the markdown text, Feishu the whole request body once signed."""
    if kind == "wecom":
        return len(data["markdown"]["content"].encode("utf-8"))
    if kind == "dingtalk":
        return len(data["markdown"]["text"].encode("utf-8"))
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    _, signed = sign("feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/x", body, "s", T0)
    return len(signed)


LIMIT = {"wecom": WECOM_CONTENT_LIMIT, "dingtalk": DINGTALK_TEXT_LIMIT, "feishu": FEISHU_BODY_LIMIT}


# ---------------------------------------------------------------- the demo city's events
@pytest.fixture(scope="module")
def demo_events(tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    """The events `fundmon demo` records for the demo city (red, orange, two yellows, a
    notice), as the store gives them back for rendering."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    run = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert run.exit_code == 0, run.output
    engine = create_engine(f"sqlite:///{out / 'fundmon.db'}")
    with engine.connect() as conn:
        events = [event_from_row(row) for row in conn.execute(select(alerts))]
    engine.dispose()
    assert {e.level.value for e in events} >= {"red", "orange", "yellow"}
    return sorted(events, key=Event.sort_key)


def mail_facts(mail: Mail) -> tuple[str, list[dict[str, Any]]]:
    """The alert mail of `mail` as its reader sees it: the subject and, per event, the line
    naming it, its reasons and its outlook (templates/alert_mail.txt)."""
    msg = build_message(
        mail, funds=FUNDS, settings=SETTINGS, sender="a@example.org", message_id=MESSAGE_ID,
        now=T0,
    )  # fmt: skip
    parsed = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    facts = []
    for section in text.split("=" * 70)[1:]:
        lines = [line.strip() for line in section.strip().splitlines()]
        head = re.fullmatch(r"(.+?)  \[(.+?)\] (.+)", lines[0])
        assert head, lines[0]
        who, kind, status = head.groups()

        def after(title: str, lines: list[str] = lines) -> list[str]:
            if f"{title}：" not in lines:
                return []
            rest = lines[lines.index(f"{title}：") + 1 :]
            return [x.removeprefix("- ") for x in rest[: rest.index("")]] if "" in rest else rest

        payable = next(x for x in lines if x.startswith("可支付月数："))
        facts.append(
            {
                "who": who, "kind": kind, "status": status, "payable": payable,
                "reasons": after("预警原因"), "outlook": after("展望"),
            }
        )  # fmt: skip
    return str(parsed["Subject"]), facts


@pytest.mark.parametrize("kind", CHATS)
def test_each_platform_says_what_the_mail_says_in_the_mail_s_words(
    kind: str, demo_events: list[Event]
) -> None:
    mail = Mail(OFFICE, tuple(e for e in demo_events if OFFICE in e.recipients))
    assert mail.digest and len(mail.events) == 5
    subject, facts = mail_facts(mail)
    data = payload(kind, mail)
    text = text_of(kind, data)
    assert subject in text  # 【基金风险预警】5 项：红色 1、橙色 1、黄色 2、提示 1
    starts = [text.index(f"**{f['who']}**：{f['kind']}，{f['status']}") for f in facts]
    assert starts == sorted(starts), "highest level first, as the mail"
    for fact, start, end in zip(facts, starts, [*starts[1:], len(text)], strict=True):
        block = text[start:end]  # this event's lines: its payable months, reasons, outlook
        assert fact["payable"] in block, fact["payable"]
        for line in fact["reasons"] + fact["outlook"]:
            assert line in block, line
    assert "可支付月数：2.4 个月" in text  # the demo's red fund (东至县 居民医保)
    assert "12 个月内基金耗尽的概率为 95%" in text
    assert "https://intranet.example.gov.cn/bulletin/2024-12/index.html" in text
    assert MESSAGE_ID.strip("<>") in text  # a reader can tell a repeat


@pytest.mark.parametrize("kind", CHATS)
def test_a_single_alert_is_titled_as_the_mail_s_subject_with_its_data_month(
    kind: str, demo_events: list[Event]
) -> None:
    red = next(e for e in demo_events if e.level == Level.RED)
    mail = Mail("局领导 <leaders@example.org>", (red,))
    subject, facts = mail_facts(mail)
    assert subject == "【红色预警】东至县 居民医保 可支付月数 2.4 个月"
    data = payload(kind, mail)
    text = text_of(kind, data)
    assert subject in text
    assert "🔴" in text and "数据月份：2024年12月" in text
    assert "可支付月数 2.4 个月，低于红色阈值 3 个月" in text  # the firing reason
    for line in facts[0]["outlook"]:
        assert line in text
    if kind == "dingtalk":
        assert data["msgtype"] == "markdown" and data["markdown"]["title"] == subject
    if kind == "wecom":
        assert data["msgtype"] == "markdown"
    if kind == "feishu":
        assert data["msg_type"] == "interactive"
        assert data["card"]["header"]["template"] == "red"


# ---------------------------------------------------------------- mentions
def levels_mail(*levels: str) -> Mail:
    regions = ("341721", "341722", "341700", "341702")
    plan = Lifecycle(AlertSettings(routes=(RouteSettings(to=(OFFICE,)),))).run(
        *(result(r, "resident", lv) for r, lv in zip(regions, levels, strict=False)), now=T0
    )
    return plan.mails[0]


@pytest.mark.parametrize("kind", CHATS)
def test_people_are_mentioned_only_when_a_fund_is_red(kind: str) -> None:
    red = payload(kind, levels_mail("red", "yellow"))
    calm = payload(kind, levels_mail("orange", "yellow"))
    red_text, calm_text = text_of(kind, red), text_of(kind, calm)
    marks = {
        "wecom": ("<@zhangsan>", "<@13800001111>"),
        "dingtalk": ("@zhangsan", "@13800001111"),
        "feishu": ("<at id=zhangsan></at>", "<at id=13800001111></at>"),
    }[kind]
    for mark in marks:
        assert mark in red_text and mark not in calm_text
    if kind == "dingtalk":  # DingTalk notifies those in `at` whose @ is in the text
        assert red["at"] == {
            "atMobiles": ["13800001111"], "isAtAll": False, "atUserIds": ["zhangsan"]
        }  # fmt: skip
        assert calm["at"] == {"atMobiles": [], "isAtAll": False}


def test_a_fall_from_red_and_a_clear_mention_nobody() -> None:
    life = Lifecycle(AlertSettings(routes=(RouteSettings(to=(OFFICE,)),)))
    life.run(result("341721", "resident", "red"), now=T0)
    fall = life.run(result("341721", "resident", "orange", month="2025-01"), now=T0)
    clear = life.run(result("341721", "resident", "green", month="2025-02"), now=T0)
    for plan in (fall, clear):
        assert "<@zhangsan>" not in text_of("wecom", payload("wecom", plan.mails[0]))


def test_a_mention_that_is_not_an_id_is_dropped() -> None:
    data = payload("wecom", levels_mail("red"), mention=("zhangsan", "<@all>", "a b", "x" * 65))
    content = data["markdown"]["content"]
    assert "<@zhangsan>" in content and "all" not in content and "a b" not in content


# ---------------------------------------------------------------- digest order and size
def many_events(n: int, *, long_name: str = "") -> Mail:
    """`n` funds in `n` regions at every level, in no order."""
    levels = ("yellow", "red", "orange")
    results = [
        result(f"34{i:04d}", "resident", levels[i % 3], name=long_name or f"第{i}区")
        for i in range(n)
    ]
    plan = Lifecycle(AlertSettings(routes=(RouteSettings(to=(OFFICE,)),))).run(*results, now=T0)
    (mail,) = plan.mails
    return Mail(mail.recipient, tuple(reversed(mail.events)))  # lowest first: the payload sorts


@pytest.mark.parametrize("kind", CHATS)
def test_a_digest_lists_the_highest_level_first(kind: str) -> None:
    text = text_of(kind, payload(kind, many_events(6)))
    ranks = [{"🔴": 3, "🟠": 2, "🟡": 1}[m] for m in re.findall(r"^\d+\. (🔴|🟠|🟡)", text, re.M)]
    assert len(ranks) == 6 and ranks == sorted(ranks, reverse=True)
    numbers = [int(n) for n in re.findall(r"^(\d+)\. ", text, re.M)]
    assert numbers == list(range(1, 7))


@pytest.mark.parametrize("kind", CHATS)
@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("n", [200, 500])
def test_a_long_digest_fits_the_platform_and_says_how_many_are_left_out(
    kind: str, lang: str, n: int
) -> None:
    data = payload(kind, many_events(n), lang=lang)
    assert limited_size(kind, data) <= LIMIT[kind]
    text = text_of(kind, data)
    shown = re.findall(r"^(\d+)\. (🔴|🟠|🟡)", text, re.M)
    assert [int(i) for i, _ in shown] == list(range(1, len(shown) + 1))
    assert [m for _, m in shown] == sorted((m for _, m in shown), key="🔴🟠🟡".index)
    left = n - len(shown)
    more = f"另有 {left} 项未列出" if lang == "zh" else f"and {left} more not listed"
    assert (more in text) is (left > 0), text[-300:]
    assert ("另有" in text or "more not listed" in text) is (left > 0)
    if n == 500 or kind == "wecom":
        assert left > 0  # 4 096 bytes hold 200 of none; 20 000 bytes not 500
    # the first, a red one, keeps its reasons; the footer and the mentions are never cut
    assert text.count("预警原因：" if lang == "zh" else "Why: ") >= 1
    assert MESSAGE_ID.strip("<>") in text and "zhangsan" in text
    if kind != "wecom":  # 20 000 bytes hold far more than WeCom's 4 096
        assert len(shown) > 100


@pytest.mark.parametrize("kind", CHATS)
def test_a_few_events_that_fit_are_all_shown_in_full(kind: str) -> None:
    text = text_of(kind, payload(kind, many_events(3)))
    assert text.count("预警原因：") == 3 and "另有" not in text


@pytest.mark.parametrize("kind", CHATS)
def test_a_region_name_longer_than_the_platform_takes_is_cut_not_refused(kind: str) -> None:
    data = payload(kind, many_events(1, long_name="很长的统筹区名称" * 400))  # 9 600 bytes
    assert limited_size(kind, data) <= LIMIT[kind]
    text = text_of(kind, data)
    assert "很长的统筹区名称" in text and "…（340000）" in text  # the name, cut
    assert "可支付月数：7.5 个月" in text and "预警原因：可支付月数 7.5 个月" in text
    assert MESSAGE_ID.strip("<>") in text


@pytest.mark.parametrize("kind", CHATS)
@pytest.mark.parametrize("events", [1, 30])
def test_even_a_subject_prefix_of_pages_leaves_the_message_within_the_limit(
    kind: str, events: int
) -> None:
    settings = AlertSettings(subject_prefix="【池州市医疗保障局】" * 2000)  # 60 000 bytes
    data = payload(kind, many_events(events), settings=settings)
    assert limited_size(kind, data) <= LIMIT[kind]
    assert MESSAGE_ID.strip("<>") in text_of(kind, data)  # the footer is kept


# ---------------------------------------------------------------- data is not markup
HOSTILE = "<@all>[点我](http://evil.example/)<at id=all></at>\n## 伪造标题\x1b[31m"


@pytest.mark.parametrize("kind", CHATS)
def test_a_region_name_cannot_mention_everyone_link_or_break_a_line(kind: str) -> None:
    mail = many_events(2, long_name=HOSTILE)
    text = text_of(kind, payload(kind, mail))
    assert "<@all>" not in text and "<at id=all>" not in text
    assert "](http://evil" not in text and "\x1b" not in text
    assert "\n## 伪造标题" not in text and "\n伪造标题" not in text
    assert "＜@all>" in text  # still readable, as written


# ---------------------------------------------------------------- English
@pytest.mark.parametrize("kind", CHATS)
def test_english_messages(kind: str, demo_events: list[Event]) -> None:
    red = next(e for e in demo_events if e.level == Level.RED)
    text = text_of(kind, payload(kind, Mail(OFFICE, (red,)), lang="en"))
    assert "[RED alert]" in text and "Payable months: 2.4 months" in text
    assert "Why: " in text and "Outlook: " in text and "Monthly bulletin" in text
    assert "the probability of depletion within 12 months is 95%" in text
    assert "可支付" not in text and "预警" not in text


# ---------------------------------------------------------------- the webhook
def test_the_webhook_is_alertmanager_s_payload(demo_events: list[Event]) -> None:
    mail = Mail(OFFICE, tuple(e for e in demo_events if OFFICE in e.recipients))
    data = payload("webhook", mail)
    assert data["version"] == "4" and data["status"] == "firing"
    assert data["receiver"] == "fundmon" and data["messageId"] == MESSAGE_ID
    assert data["groupLabels"] == {"alertname": "FundRisk"}
    assert data["commonLabels"] == {"alertname": "FundRisk"}
    assert data["externalURL"] == "https://intranet.example.gov.cn/bulletin/2024-12/index.html"
    assert [a["labels"]["level"] for a in data["alerts"]][:4] == [
        "red", "orange", "yellow", "yellow"
    ]  # fmt: skip
    red = data["alerts"][0]
    assert red["status"] == "firing" and red["endsAt"] == ZERO_TIME
    assert red["labels"] == {
        "alertname": "FundRisk", "region": "341721", "region_name": "东至县",
        "fund": "resident", "level": "red",
    }  # fmt: skip
    assert red["annotations"]["summary"] == "【红色预警】东至县 居民医保 可支付月数 2.4 个月"
    assert red["annotations"]["reasons"].startswith("可支付月数 2.4 个月，低于红色阈值 3 个月")
    assert red["annotations"]["payable_months"] == "2.4 个月"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", red["startsAt"])
    assert red["generatorURL"] == "" and red["fingerprint"] == fingerprint("341721", "resident")
    assert re.fullmatch(r"[0-9a-f]{16}", red["fingerprint"])
    assert "mention" not in json.dumps(data)


def test_the_fingerprint_follows_the_region_and_fund_through_every_level() -> None:
    life = Lifecycle(AlertSettings(routes=(RouteSettings(to=(OFFICE,)),)))
    prints, statuses = [], []
    for month, level in (("2024-12", "yellow"), ("2025-01", "red"), ("2025-02", "green")):
        plan = life.run(result("341721", "resident", level, month=month), now=T0)
        data = payload("webhook", plan.mails[0])
        prints.append(data["alerts"][0]["fingerprint"])
        statuses.append((data["status"], data["alerts"][0]["endsAt"] == ZERO_TIME))
    assert len(set(prints)) == 1
    assert statuses == [("firing", True), ("firing", True), ("resolved", False)]
    assert fingerprint("341721", "employee") != prints[0]


def test_the_webhook_starts_at_when_the_level_began() -> None:
    mail = levels_mail("red")
    since = dt.datetime(2024, 11, 2, 3, 4, 5, tzinfo=dt.UTC)
    event = replace(mail.events[0], level_since=since)
    data = payload("webhook", Mail(OFFICE, (event,)))
    assert data["alerts"][0]["startsAt"] == "2024-11-02T03:04:05Z"
    plain = payload("webhook", mail, settings=AlertSettings())
    assert plain["alerts"][0]["startsAt"] == "2025-01-06T01:00:00Z"  # not known: the event's
    assert plain["externalURL"] == ""


def test_an_unknown_kind_or_an_empty_mail_is_refused() -> None:
    with pytest.raises(ValueError, match="slack"):
        chat_payload(
            "slack", levels_mail("red"), funds=FUNDS, settings=SETTINGS, message_id="x", now=T0
        )
    with pytest.raises(ValueError):
        chat_payload("wecom", Mail(OFFICE, ()), funds=FUNDS, settings=SETTINGS, message_id="x",
                     now=T0)  # fmt: skip


def test_the_body_is_utf8_json_with_chinese_as_it_is() -> None:
    """The payload is bytes of UTF-8 JSON (Chinese as it is, not \\u escapes): what the
    platforms' own examples send, and a third of the bytes."""
    body = chat_payload(
        "wecom", levels_mail("red"), funds=FUNDS, settings=SETTINGS, message_id="x", now=T0
    )
    assert "红色".encode() in body and b"\\u7ea2" not in body
