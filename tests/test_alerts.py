"""Alert lifecycle, routing, silences and acks (pure core); settings; the message; the CLI
on the demo city."""

from __future__ import annotations

import datetime as dt
import email
import json
from dataclasses import replace
from email import policy
from pathlib import Path

import pytest

from monitor.config.alerts import (
    AlertSettings,
    Route,
    alert_settings,
    parse_duration,
    smtp_settings,
)
from monitor.config.settings import parse_config
from monitor.core.aberrant import Aberration, Review
from monitor.core.alerts import (
    FundState,
    Silence,
    acknowledge,
    decide,
    release,
    silence_baselines,
)
from monitor.core.classify import Decision, Notice, Reason, State
from monitor.core.errors import ConfigError
from monitor.core.evaluation import FundResult
from monitor.core.funds import FundCatalogue
from monitor.core.thresholds import Level
from monitor.render.alert_mail import build_message

T0 = dt.datetime(2025, 1, 6, 1, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
NAMES = {"341700": "池州市", "341702": "贵池区", "341721": "东至县", "341722": "石台县"}
PAYABLE = {"red": 2.7, "orange": 4.5, "yellow": 7.5, "green": 11.0}
FUNDS = FundCatalogue()

EVERYONE = Route(to=("基金科 <fund@example.org>",))
LEADER = Route(to=("局长 <leader@example.org>",), levels=frozenset({"red"}))
COUNTY = Route(to=("dongzhi@example.org",), regions=("341721",))
RESIDENT = Route(to=("resident@example.org",), funds=("resident",))
NOTICES = Route(to=("notices@example.org",), levels=frozenset({"notice"}))
SETTINGS = AlertSettings(routes=(EVERYONE, LEADER, COUNTY))


def result(
    region: str,
    fund: str,
    level: str,
    *,
    month: str = "2024-12",
    payable: float | None = None,
    notices: tuple[str, ...] = (),
    name: str | None = None,
) -> FundResult:
    """A FundResult as `monitor.pipeline.evaluate` makes it, for one fund at one level."""
    lv = Level(level)
    payable = PAYABLE[level] if payable is None else payable
    reasons = ()
    if lv != Level.GREEN:
        threshold = {"red": 3.0, "orange": 6.0, "yellow": 9.0}[level]
        reasons = (
            Reason(
                rule_id=f"payable_{level}",
                level=lv,
                indicator="payable_months",
                params=(),
                value=payable,
                op="<",
                threshold=threshold,
                text_zh=f"可支付月数 {payable:.1f} 个月，低于{lv.label()}阈值 {threshold:g} 个月",
                text_en=f"payable months {payable:.1f}, below the {level} threshold "
                f"of {threshold:g}",
            ),
        )
    labels = {"excess_balance": ("结余过多", "excess balance")}
    notice_objs = tuple(
        Notice(n, labels[n][0], labels[n][1], f"{labels[n][0]}：{payable:.1f} 个月", "too much")
        for n in notices
    )
    decision = Decision(
        region=region,
        fund=fund,
        month=month,
        level=lv,
        previous_level=Level.GREEN,
        reasons=reasons,
        notices=notice_objs,
    )
    return FundResult(
        region_code=region,
        region_name=name or NAMES[region],
        fund=fund,
        month=month,
        decision=decision,
        indicators={"payable_months": payable},
        forecast=None,
        state=State(region, fund),
        data_hash="-",
    )


class Lifecycle:
    """Runs evaluations through the pure core, keeping state like the store does."""

    def __init__(self, settings: AlertSettings = SETTINGS) -> None:
        self.settings = settings
        self.states: dict[tuple[str, str], FundState] = {}
        self.silences: list[Silence] = []
        self.next_id = 1

    def run(self, *results: FundResult, now: dt.datetime):  # type: ignore[no-untyped-def]
        plan = decide(self.states, results, settings=self.settings, silences=self.silences, now=now)
        for event in plan.events:  # the store numbers events and remembers the alert id
            if event.kind in ("raise", "escalate", "downgrade"):
                plan.states[event.key] = replace(plan.states[event.key], alert_id=self.next_id)
            self.next_id += 1
        self.states.update(plan.states)
        changed = {s.id: s for s in plan.silences}
        self.silences = [changed.get(s.id, s) for s in self.silences]
        return plan


def kinds(plan) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [(e.kind, e.key[0], e.level.value) for e in plan.events]


def mailed_to(plan) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return {m.recipient: [e.kind for e in m.events] for m in plan.mails}


# ---------------------------------------------------------------- lifecycle
def test_escalation_alerts_at_each_rise_and_a_jump_is_one_alert() -> None:
    life = Lifecycle()
    assert kinds(life.run(result("341721", "resident", "yellow"), now=T0)) == [
        ("raise", "341721", "yellow")
    ]
    assert kinds(life.run(result("341721", "resident", "orange"), now=T0 + DAY)) == [
        ("escalate", "341721", "orange")
    ]
    plan = life.run(result("341721", "resident", "red"), now=T0 + 2 * DAY)
    assert kinds(plan) == [("escalate", "341721", "red")]
    assert plan.events[0].previous_level == Level.ORANGE
    assert "局长 <leader@example.org>" in plan.events[0].recipients
    jump = Lifecycle().run(result("341722", "resident", "red"), now=T0)
    assert kinds(jump) == [("raise", "341722", "red")]


def test_nothing_while_nothing_changes() -> None:
    life = Lifecycle()
    life.run(result("341722", "resident", "orange"), result("341702", "employee", "green"), now=T0)
    for day in (1, 8, 30, 90):  # orange is not reminded by default; green never
        plan = life.run(
            result("341722", "resident", "orange"),
            result("341702", "employee", "green"),
            now=T0 + day * DAY,
        )
        assert plan.events == () and plan.mails == ()


def test_downgrade_and_clear_send_a_notice_to_those_who_had_the_alert() -> None:
    life = Lifecycle()
    life.run(result("341721", "resident", "red"), now=T0)
    down = life.run(result("341721", "resident", "orange", month="2025-01"), now=T0 + DAY)
    assert kinds(down) == [("downgrade", "341721", "orange")]
    assert "局长 <leader@example.org>" in down.events[0].recipients  # it had the red alert
    assert down.events[0].previous.level == Level.RED  # what changed since the last mail
    clear = life.run(result("341721", "resident", "green", month="2025-02"), now=T0 + 2 * DAY)
    assert kinds(clear) == [("clear", "341721", "green")]
    assert "局长 <leader@example.org>" not in clear.events[0].recipients  # it was orange
    assert life.states[("341721", "resident")].level == Level.GREEN


def test_red_is_reminded_every_repeat_interval() -> None:
    life = Lifecycle()
    life.run(result("341721", "resident", "red"), now=T0)
    assert life.run(result("341721", "resident", "red"), now=T0 + 6 * DAY).events == ()
    plan = life.run(result("341721", "resident", "red", payable=2.5), now=T0 + 7 * DAY)
    assert kinds(plan) == [("remind", "341721", "red")]
    assert plan.events[0].level_since == T0 and plan.events[0].previous.payable_months == 2.7
    assert life.run(result("341721", "resident", "red"), now=T0 + 13 * DAY).events == ()
    assert kinds(life.run(result("341721", "resident", "red"), now=T0 + 14 * DAY)) == [
        ("remind", "341721", "red")
    ]


def test_re_evaluating_an_older_month_changes_nothing() -> None:
    life = Lifecycle()
    life.run(result("341721", "resident", "red", month="2024-12"), now=T0)
    plan = life.run(result("341721", "resident", "green", month="2024-11"), now=T0 + DAY)
    assert plan.events == () and life.states[("341721", "resident")].level == Level.RED


def test_a_notice_only_change_goes_to_the_bulletin_unless_routed() -> None:
    flush = result("341702", "employee", "green", payable=18.0, notices=("excess_balance",))
    plan = Lifecycle().run(flush, now=T0)
    assert kinds(plan) == [("notice", "341702", "green")]
    assert plan.events[0].recipients == () and plan.mails == ()  # recorded, not mailed
    life = Lifecycle(AlertSettings(routes=(EVERYONE, NOTICES)))
    routed = life.run(flush, now=T0)
    assert mailed_to(routed) == {"notices@example.org": ["notice"]}
    gone = life.run(result("341702", "employee", "green", month="2025-01"), now=T0 + DAY)
    assert kinds(gone) == [("notice", "341702", "green")]
    msg = build_message(
        gone.mails[0], funds=FUNDS, settings=life.settings, sender="a@x.org", message_id="<n@x>",
        now=T0,
    )  # fmt: skip
    assert msg["Subject"] == "【提示解除】贵池区 职工医保 结余过多"


# ---------------------------------------------------------------- routing and digests
def test_a_recipient_of_several_changes_gets_one_digest_highest_level_first() -> None:
    life = Lifecycle()
    plan = life.run(
        result("341722", "resident", "yellow"),
        result("341721", "resident", "red"),
        result("341700", "resident", "orange"),
        now=T0,
    )
    mails = {m.recipient: m for m in plan.mails}
    assert set(mails) == {
        "基金科 <fund@example.org>",
        "局长 <leader@example.org>",
        "dongzhi@example.org",
    }
    digest = mails["基金科 <fund@example.org>"]
    assert digest.digest and [e.level.value for e in digest.events] == ["red", "orange", "yellow"]
    assert not mails["局长 <leader@example.org>"].digest  # red only: one alert
    msg = build_message(
        digest, funds=FUNDS, settings=SETTINGS, sender="a@example.org", message_id="<1@x>", now=T0
    )
    assert msg["Subject"] == "【基金风险预警】3 项：红色 1、橙色 1、黄色 1"
    single = build_message(
        mails["局长 <leader@example.org>"],
        funds=FUNDS,
        settings=SETTINGS,
        sender="a@example.org",
        message_id="<2@x>",
        now=T0,
    )
    assert single["Subject"] == "【红色预警】东至县 居民医保 可支付月数 2.7 个月"


@pytest.mark.parametrize(
    ("route", "region", "fund", "level", "routed"),
    [
        (Route(to=("a@x.org",), regions=("3417*",)), "341721", "resident", "yellow", True),
        (Route(to=("a@x.org",), regions=("3418*",)), "341721", "resident", "yellow", False),
        (Route(to=("a@x.org",), regions=("34172?",)), "341700", "resident", "red", False),
        (RESIDENT, "341721", "resident", "orange", True),
        (RESIDENT, "341721", "employee", "orange", False),
        (LEADER, "341722", "employee", "orange", False),
        (LEADER, "341722", "employee", "red", True),
    ],
    ids=[
        "glob matches",
        "glob misses",
        "single-char glob misses the city",
        "fund matches",
        "fund misses",
        "level misses",
        "level matches",
    ],
)
def test_routing_by_region_glob_fund_and_level(
    route: Route, region: str, fund: str, level: str, routed: bool
) -> None:
    plan = Lifecycle(AlertSettings(routes=(route,))).run(result(region, fund, level), now=T0)
    assert bool(plan.mails) is routed
    assert plan.events[0].recipients == (route.to if routed else ())


def test_the_same_address_in_two_routes_gets_one_message() -> None:
    twice = AlertSettings(
        routes=(Route(to=("A@Example.org",)), Route(to=("a@example.org",), funds=("resident",)))
    )
    plan = Lifecycle(twice).run(result("341721", "resident", "red"), now=T0)
    assert len(plan.mails) == 1 and plan.events[0].recipients == ("A@Example.org",)


# ---------------------------------------------------------------- silences and acks
def test_silence_stops_mail_until_it_expires_or_the_level_rises_further() -> None:
    life = Lifecycle()
    life.run(result("341721", "resident", "orange"), result("341722", "resident", "red"), now=T0)
    levels = silence_baselines(life.states.values(), "3417*", "*")
    assert levels == {"341721:resident": "orange", "341722:resident": "red"}
    life.silences = [Silence(1, "3417*", "*", until=T0 + 10 * DAY, reason="核查中", levels=levels)]

    plan = life.run(
        result("341721", "resident", "yellow"),  # a fall: silenced, but recorded
        result("341722", "resident", "red"),  # a reminder: silenced, not recorded
        now=T0 + 8 * DAY,
    )
    assert kinds(plan) == [("downgrade", "341721", "yellow")]
    assert plan.events[0].suppressed_by == "silence #1" and plan.mails == ()

    rise = life.run(
        result("341721", "resident", "red"), result("341722", "resident", "red"), now=T0 + 9 * DAY
    )
    assert kinds(rise) == [("escalate", "341721", "red")]  # above orange: breaks through
    assert rise.events[0].suppressed_by is None and rise.mails
    assert life.silences[0].levels["341721:resident"] is None  # no longer silenced

    after = life.run(result("341722", "resident", "red"), now=T0 + 10 * DAY)
    assert kinds(after) == [("remind", "341722", "red")]  # expired: the reminder resumes
    assert after.events[0].suppressed_by is None


def test_ack_stops_reminders_until_it_expires() -> None:
    life = Lifecycle()
    life.run(result("341721", "resident", "red"), now=T0)
    key = ("341721", "resident")
    life.states[key] = acknowledge(
        life.states[key], alert_id=1, by="张三", note="已约谈", now=T0, until=T0 + 20 * DAY
    )
    for day in (7, 14):
        assert life.run(result("341721", "resident", "red"), now=T0 + day * DAY).events == ()
    down = life.run(result("341721", "resident", "orange"), now=T0 + 15 * DAY)
    assert down.events[0].suppressed_by == "ack #1" and down.mails == ()
    back = life.run(result("341721", "resident", "red"), now=T0 + 16 * DAY)
    assert back.events[0].suppressed_by == "ack #1"  # back to the acknowledged level
    expired = life.run(result("341721", "resident", "red"), now=T0 + 20 * DAY)
    assert kinds(expired) == [("remind", "341721", "red")] and expired.mails
    assert life.states[key].ack is None


def test_ack_ends_when_the_level_rises_further_or_clears() -> None:
    life = Lifecycle()
    life.run(result("341721", "resident", "yellow"), now=T0)
    key = ("341721", "resident")
    life.states[key] = acknowledge(
        life.states[key], alert_id=1, by="张三", note="", now=T0, until=T0 + 30 * DAY
    )
    rise = life.run(result("341721", "resident", "orange"), now=T0 + DAY)
    assert rise.events[0].suppressed_by is None and life.states[key].ack is None
    life.states[key] = acknowledge(
        life.states[key], alert_id=2, by="张三", note="", now=T0, until=T0 + 30 * DAY
    )
    clear = life.run(result("341721", "resident", "green"), now=T0 + 2 * DAY)
    assert clear.events[0].suppressed_by == "ack #2"
    assert life.states[key].ack is None  # the episode is over: a new rise alerts again
    again = life.run(result("341721", "resident", "yellow"), now=T0 + 3 * DAY)
    assert again.events[0].suppressed_by is None and again.mails


def test_state_round_trips_through_json() -> None:
    life = Lifecycle()
    life.run(result("341721", "resident", "red", notices=("excess_balance",)), now=T0)
    key = ("341721", "resident")
    state = acknowledge(life.states[key], alert_id=3, by="李四", note="x", now=T0, until=T0 + DAY)
    assert FundState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


# ---------------------------------------------------------------- settings
ROUTE = "[[alerts.routes]]"


def settings_from(text: str) -> AlertSettings:
    import tomllib

    return alert_settings(parse_config(tomllib.loads(text), path=Path("/etc/fundmon/config.toml")))


def test_settings_with_defaults_and_routes() -> None:
    s = settings_from(
        """
        [alerts]
        repeat_interval = "3d"
        [[alerts.routes]]
        regions = ["3417*"]
        funds = ["居民医保"]
        to = ["基金科 <fund@example.org>"]
        """
    )
    assert s.repeat_interval == dt.timedelta(days=3) and s.max_attempts == 8
    assert s.routes[0].funds == ("resident",) and s.routes[0].levels == {"yellow", "orange", "red"}
    assert s.mail_dir == Path("/etc/fundmon/mail")
    assert s.backoff(1) == dt.timedelta(minutes=1) and s.backoff(20) == dt.timedelta(hours=1)
    assert parse_duration("1d12h") == dt.timedelta(hours=36) and parse_duration(90).seconds == 90


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[alerts]\nrepeat_intervall = "7d"', "alerts.repeat_intervall"),
        ('[alerts]\nrepeat_interval = "soon"', "alerts.repeat_interval"),
        ('[alerts]\nlanguage = "fr"', "alerts.language"),
        (f'{ROUTE}\nto = ["x@example.org"]\nlevels = ["purple"]', "alerts.routes[1].levels"),
        (f'{ROUTE}\nto = ["not an address"]', "alerts.routes[1].to"),
        (f'{ROUTE}\nto = ["x@example.org"]\nregions = ["34x7*"]', "alerts.routes[1].regions"),
        (f'{ROUTE}\nto = ["x@example.org"]\nfunds = ["pension"]', "alerts.routes[1].funds"),
        (f'{ROUTE}\nlevels = ["red"]', "alerts.routes[1].to"),
    ],
    ids=[
        "unknown key",
        "bad duration",
        "bad language",
        "bad level",
        "bad address",
        "bad glob",
        "unknown fund",
        "no recipients",
    ],
)  # fmt: skip
def test_bad_alert_settings_name_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings_from(text)
    assert err.value.key == key and "/etc/fundmon/config.toml" in str(err.value)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('host = "mail"\nsender = "a@example.org"\npassword = "secret"', "smtp.password"),
        ('host = "mail"\nsender = "a@example.org"\nusername = "u"', "smtp.password_env"),
        ('host = "mail"\nsender = "a@example.org"\nsecurity = "tls"', "smtp.security"),
        ('sender = "a@example.org"', "smtp.host"),
        ('host = "mail"', "smtp.sender"),
        (
            'host = "mail"\nsender = "a@example.org"\nsecurity = "none"\nusername = "u"\n'
            'password_env = "P"',
            "smtp.security",
        ),
    ],
    ids=["password in file", "no password_env", "bad security", "no host", "no sender", "plain"],
)
def test_bad_smtp_settings_name_the_key(text: str, key: str) -> None:
    import tomllib

    with pytest.raises(ConfigError) as err:
        smtp_settings(parse_config(tomllib.loads("[smtp]\n" + text)))
    assert err.value.key == key


def test_smtp_port_follows_security() -> None:
    import tomllib

    def port(security: str) -> int:
        text = f'[smtp]\nhost = "m"\nsender = "a@example.org"\nsecurity = "{security}"'
        smtp = smtp_settings(parse_config(tomllib.loads(text)))
        assert smtp is not None
        return smtp.port

    assert (port("none"), port("starttls"), port("ssl")) == (25, 587, 465)
    assert smtp_settings(parse_config({})) is None  # no [smtp]: .eml files


# ---------------------------------------------------------------- the message
def test_message_escapes_region_names_in_html_only_and_has_both_parts() -> None:
    hostile = result("341721", "resident", "red", name="东至县<script>alert(1)</script>&")
    plan = Lifecycle(AlertSettings(routes=(EVERYONE,), bulletin_url="https://b/{month}/")).run(
        hostile, now=T0
    )
    msg = build_message(
        plan.mails[0],
        funds=FUNDS,
        settings=AlertSettings(routes=(EVERYONE,), bulletin_url="https://b/{month}/"),
        sender="医保基金监测 <fundmon@example.org>",
        message_id="<x.1@example.org>",
        now=T0,
    )
    parsed = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    html = parsed.get_body(("html",)).get_content()
    text = parsed.get_body(("plain",)).get_content()
    assert "<script>" not in html and "东至县&lt;script&gt;alert(1)&lt;/script&gt;&amp;" in html
    assert "东至县<script>alert(1)</script>&" in text  # plain text is not HTML
    assert "<svg" not in html.lower() and "https://b/2024-12/" in html
    assert str(parsed["Subject"]).startswith("【红色预警】东至县<script>")
    assert parsed["From"].addresses[0].display_name == "医保基金监测"
    assert b"=?utf-8?" in msg.as_bytes().split(b"\r\n\r\n")[0]  # RFC 2047 in the headers


def test_english_messages() -> None:
    settings = AlertSettings(routes=(EVERYONE,), language="en")
    plan = Lifecycle(settings).run(result("341721", "resident", "red"), now=T0)
    msg = build_message(
        plan.mails[0], funds=FUNDS, settings=settings, sender="a@x.org", message_id="<e@x>", now=T0
    )
    fund = "Urban and rural resident basic medical insurance fund"
    assert msg["Subject"] == f"[RED alert] 东至县 {fund}: payable months 2.7"
    body = msg.get_body(("plain",)).get_content()
    assert "payable months 2.7, below the red threshold" in body and "个月" not in body


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_kind_of_event_renders_with_what_changed(lang: str) -> None:
    settings = AlertSettings(routes=(EVERYONE,), language=lang)
    life = Lifecycle(settings)
    steps = [
        ("yellow", "2024-10", 0),
        ("red", "2024-11", 1),
        ("red", "2024-11", 9),
        ("orange", "2024-12", 10),
        ("green", "2025-01", 11),
    ]
    subjects = []
    for level, month, day in steps:
        plan = life.run(result("341721", "resident", level, month=month), now=T0 + day * DAY)
        [mail] = plan.mails
        msg = build_message(
            mail, funds=FUNDS, settings=settings, sender="a@x.org", message_id="<k@x>",
            now=T0 + day * DAY,
        )  # fmt: skip
        subjects.append(str(msg["Subject"]))
        text = msg.get_body(("plain",)).get_content()
        if day:
            assert ("上次通知" if lang == "zh" else "Last message") in text
    if lang == "zh":
        assert subjects == [
            "【黄色预警】东至县 居民医保 可支付月数 7.5 个月",
            "【红色预警】东至县 居民医保 可支付月数 2.7 个月（由黄色升级）",
            "【红色预警·持续】东至县 居民医保 可支付月数 2.7 个月（已持续 8 天）",
            "【预警降级】东至县 居民医保 红色→橙色 可支付月数 4.5 个月",
            "【预警解除】东至县 居民医保 可支付月数 11.0 个月",
        ]
    else:
        assert subjects[2].startswith("[RED alert, reminder]") and "(for 8 days)" in subjects[2]


# ---------------------------------------------------------------- held for review (issue 15)
REVIEW = Review(
    7,
    "341721",
    "resident",
    "2024-12",
    "pending",
    (Aberration("341721", "resident", "2024-12", "expenditure", 300_000_000, 100_000_000, 11.0),),
    region_name="东至县",
)


def pending(r: FundResult, *reviews: Review) -> FundResult:
    """The result as the evaluation marks it when its level reads months pending review."""
    return replace(r, decision=replace(r.decision, pending_review=reviews or (REVIEW,)))


def test_a_change_caused_by_a_month_pending_review_is_recorded_held_and_the_level_kept() -> None:
    life = Lifecycle()
    life.run(result("341721", "resident", "green", month="2024-11"), now=T0)
    plan = life.run(pending(result("341721", "resident", "red")), now=T0 + DAY)
    assert kinds(plan) == [("raise", "341721", "red")]
    event = plan.events[0]
    assert event.held_for == (7,) and event.suppressed_by == "review #7" and not event.mailed
    assert "局长 <leader@example.org>" in event.recipients  # who will hear of it, once confirmed
    assert plan.mails == ()
    state = life.states[("341721", "resident")]
    assert (state.level, state.month) == (Level.GREEN, "2024-12")  # the level leaders know
    assert event.snapshot.reviews[0]["status"] == "pending"
    assert event.snapshot.reviews[0]["text_zh"].startswith("东至县（341721）2024-12 本期支出")


def test_a_correction_that_brings_the_level_back_sends_nothing_at_all() -> None:
    life = Lifecycle()
    life.run(result("341721", "resident", "green", month="2024-11"), now=T0)
    life.run(pending(result("341721", "resident", "red")), now=T0 + DAY)
    corrected = life.run(result("341721", "resident", "green"), now=T0 + 2 * DAY)
    assert corrected.events == () and corrected.mails == ()  # no 新预警, no 解除


def test_once_confirmed_the_next_evaluation_or_a_release_mails_the_change_once() -> None:
    life = Lifecycle()
    life.run(result("341721", "resident", "green", month="2024-11"), now=T0)
    held = life.run(pending(result("341721", "resident", "red")), now=T0 + DAY).events
    plan = release(life.states, held, settings=SETTINGS, now=T0 + 2 * DAY)
    assert kinds(plan) == [("raise", "341721", "red")]
    assert mailed_to(plan)["局长 <leader@example.org>"] == ["raise"]
    assert plan.events[0].snapshot.reviews[0]["status"] == "confirmed"
    life.states.update(plan.states)
    again = release(life.states, held, settings=SETTINGS, now=T0 + 30 * DAY)
    assert again.events == ()  # released once; no reminder either: that is an evaluation's
    # without a release, the next evaluation (the month no longer pending) raises it
    other = Lifecycle()
    other.run(result("341721", "resident", "green", month="2024-11"), now=T0)
    other.run(pending(result("341721", "resident", "red")), now=T0 + DAY)
    assert kinds(other.run(result("341721", "resident", "red"), now=T0 + 2 * DAY)) == [
        ("raise", "341721", "red")
    ]


def test_a_fund_already_red_stays_red_and_keeps_its_reminders_saying_pending_review() -> None:
    life = Lifecycle()
    life.run(result("341721", "resident", "red", month="2024-11"), now=T0)
    plan = life.run(pending(result("341721", "resident", "red")), now=T0 + 7 * DAY)
    assert kinds(plan) == [("remind", "341721", "red")] and plan.events[0].mailed
    msg = build_message(
        plan.mails[0], funds=FUNDS, settings=SETTINGS, sender="a@x.org", message_id="<r@x>",
        now=T0 + 7 * DAY,
    )  # fmt: skip
    body = msg.get_body(("plain",)).get_content()
    assert "待核实：东至县（341721）2024-12 本期支出 300.00万元" in body
    # a fall the pending month causes is held like a rise
    down = life.run(pending(result("341721", "resident", "green")), now=T0 + 8 * DAY)
    assert [(e.kind, e.held_for) for e in down.events] == [("clear", (7,))]
    assert life.states[("341721", "resident")].level == Level.RED


def test_holding_off_mails_at_once_and_the_mail_says_pending_review() -> None:
    settings = replace(SETTINGS, hold_unconfirmed=False)
    life = Lifecycle(settings)
    plan = life.run(pending(result("341721", "resident", "red")), now=T0)
    assert kinds(plan) == [("raise", "341721", "red")] and plan.events[0].mailed
    msg = build_message(
        plan.mails[0], funds=FUNDS, settings=settings, sender="a@x.org", message_id="<h@x>",
        now=T0,
    )  # fmt: skip
    assert "待核实" in msg.get_body(("html",)).get_content()
    assert AlertSettings().hold_unconfirmed is True
