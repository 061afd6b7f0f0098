"""What an alert e-mail says, and to whom (issue 16).

- Per route, a detail level (`[[alerts.routes]] detail`): leaders read the situation, the
  reasons, the outlook in words and one chart; analysts also the probabilities, the models and
  their backtests and the commands. The default, "analyst", keeps every existing mail as it was.
- The subject states why: a fund whose colour comes from a forecast rule is announced by that
  rule's figure, not by payable months that read as reassuring.
- The same words and numbers as the bulletin: '<1%' for 0.3%, the forecast's one central
  value (vocabulary.FORECAST_CENTER, the paths' mean, what the bulletin's chart draws) by its
  one name (预测均值), 当年累计结余率, a depletion month only beside the horizon's depletion
  probability above 0, no '-0.0', and payable months below zero said as 已耗尽.
"""

from __future__ import annotations

import email
import html as html_text
from dataclasses import replace
from email import policy
from typing import Any

import pytest
from click.testing import CliRunner
from test_alerts import FUNDS, T0, Lifecycle, result, settings_from

from monitor.cli.app import main
from monitor.config.alerts import AlertSettings, RouteSettings
from monitor.core import vocabulary as v
from monitor.core.alerts import Event, Mail
from monitor.core.errors import ConfigError
from monitor.render.alert_mail import build_message, headline

LEADERS = RouteSettings(
    to=("局长 <leader@example.org>",), levels=frozenset({"red"}), detail="leader"
)
OFFICE = RouteSettings(to=("基金科 <fund@example.org>",))


def text_and_html(msg: email.message.EmailMessage) -> tuple[str, str]:
    parsed = email.message_from_bytes(msg.as_bytes(), policy=policy.default)
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    return text, html_text.unescape(html)  # as it reads


def render(mail: Mail, settings: AlertSettings, **kw: Any) -> tuple[str, str, str]:
    msg = build_message(
        mail, funds=FUNDS, settings=settings, sender="a@example.org", message_id="<1@x>",
        now=T0, **kw,
    )  # fmt: skip
    return (str(msg["Subject"]), *text_and_html(msg))


# ---------------------------------------------------------------- the setting
def test_a_route_s_detail_is_leader_or_analyst_and_analyst_by_default() -> None:
    s = settings_from(
        '[[alerts.routes]]\nto = ["a@example.org"]\n'
        '[[alerts.routes]]\nto = ["b@example.org"]\ndetail = "leader"\n'
    )
    assert [r.detail for r in s.routes] == ["analyst", "leader"]
    with pytest.raises(ConfigError) as err:
        settings_from('[[alerts.routes]]\nto = ["a@example.org"]\ndetail = "boss"\n')
    assert err.value.key == "alerts.routes[1].detail"


# ---------------------------------------------------------------- the demo's real mails
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str, str]]:
    """`fundmon demo`'s alert mails by address: (subject, text, HTML). Its leaders' route has
    detail = "leader" (monitor.config.alerts.DEMO_ROUTES); the county's is an analysts'."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    run = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert run.exit_code == 0, run.output
    mails = {}
    for path in (out / "mail").glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        address = str(msg["To"]).rpartition("<")[2].rstrip(">")
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        mails[address] = (str(msg["Subject"]), text, html_text.unescape(html))
    return mails


JARGON = ("fundmon alerts", "mean(", "MASE", "回测", "#3", "预警编号", "模拟路径", "结余 < 0")


def test_the_leaders_mail_has_no_commands_models_or_alert_numbers(
    demo: dict[str, tuple[str, str, str]],
) -> None:
    subject, text, html = demo["leaders@example.org"]
    assert subject.startswith("【红色预警】东至县 居民医保")
    for part in (text, html):
        for word in JARGON:
            assert word not in part, word
        # the situation, the reasons, the outlook in words and the chart
        assert "可支付月数 2.4 个月，低于红色阈值 3 个月" in part  # a reason
        assert "当年累计结余率" in part and "3.19亿元" in part  # the figures
        assert "展望" in part and "12 个月内基金耗尽的概率为 95%" in part  # the outlook
        assert "可支付月数：当前与预测" in part  # the chart
    assert html.count('height="12"') == 25  # one chart: now and 24 months


def test_the_analysts_mail_keeps_the_model_the_backtest_and_the_commands(
    demo: dict[str, tuple[str, str, str]],
) -> None:
    _, text, html = demo["dongzhi@example.org"]
    for part in (text, html):
        assert 'fundmon alerts ack 3 --note "…"' in part
        assert "fundmon alerts silence --region 341721" in part
        assert "回测 MASE" in part and "组合：" in part  # the models, in words
        assert "预警编号 3" in part and "#3" not in part  # the number the command takes, named
        assert "6 个月内基金耗尽（结余 < 0）" in part and "<1%" in part  # the probabilities


def test_the_demo_mail_names_the_forecast_value_as_the_bulletin_chart_does(
    demo: dict[str, tuple[str, str, str]],
) -> None:
    """The chart (monitor.render.charts) draws the forecast's central value under its one name;
    the mail's chart shows that value under that name (it said 均值 beside the chart's
    预测中位数, 0.1 beside 0.0)."""
    label = v.forecast_center_label()
    for _, text, html in demo.values():
        for part in (text, html):
            assert f"（{label}，80% 区间）" in part and "中位数" not in part


# ---------------------------------------------------------------- who reads what
def test_a_recipient_also_on_an_analysts_route_keeps_the_full_mail() -> None:
    both = RouteSettings(to=("局长 <leader@example.org>",), regions=("341721",))
    red = result("341721", "resident", "red")
    only_leader = Lifecycle(AlertSettings(routes=(LEADERS, OFFICE))).run(red, now=T0)
    twice = Lifecycle(AlertSettings(routes=(LEADERS, both))).run(red, now=T0)
    for plan, settings, full in (
        (only_leader, AlertSettings(routes=(LEADERS, OFFICE)), False),
        (twice, AlertSettings(routes=(LEADERS, both)), True),
    ):
        mail = next(m for m in plan.mails if "leader@" in m.recipient)
        _, text, _ = render(mail, settings)
        assert ("fundmon alerts silence" in text) is full
    office = next(m for m in only_leader.mails if "fund@" in m.recipient)
    _, text, _ = render(office, AlertSettings(routes=(LEADERS, OFFICE)))
    assert "fundmon alerts silence" in text  # the default: the analysts' mail


# ---------------------------------------------------------------- the subject states why
def forecast_red(*, with_indicator: bool) -> Event:
    """Red only because the forecast gives 88% for depletion within 12 months, at 7.8 payable
    months (the issue's 全椒县 职工医保)."""
    base = result("341721", "employee", "red", payable=7.8, name="全椒县")
    plan = Lifecycle(AlertSettings(routes=(OFFICE,))).run(base, now=T0)
    event = plan.events[0]
    reason: dict[str, Any] = {
        "level": "red",
        "zh": "预计 12 个月内基金耗尽的概率为 88%，达到红色阈值 50%",
        "en": "probability of depletion within 12 months 88%, at the red threshold of 50%",
        "held": False,
    }
    if with_indicator:
        reason |= {"indicator": "forecast.p_depletion", "params": {"within": 12}, "value": 0.88}
    return replace(event, snapshot=replace(event.snapshot, reasons=(reason,)))


@pytest.mark.parametrize("with_indicator", [True, False], ids=["indicator", "text only"])
def test_a_colour_from_a_forecast_rule_is_what_the_subject_says(with_indicator: bool) -> None:
    event = forecast_red(with_indicator=with_indicator)
    subject, text, html = render(Mail("基金科 <fund@example.org>", (event,)), AlertSettings())
    cause = "预计 12 个月内基金耗尽的概率" + (" 88%" if with_indicator else "为 88%")
    assert subject.startswith(f"【红色预警】全椒县 职工医保 {cause}"), subject
    assert subject.endswith("（可支付月数 7.8 个月）"), subject
    assert subject in text and subject in html
    en = headline(event, FUNDS, "en")
    assert "depletion within 12 months" in en and en.endswith("(payable months 7.8)"), en


def test_payable_months_below_the_level_s_threshold_stay_the_subject() -> None:
    red = Lifecycle(AlertSettings(routes=(OFFICE,))).run(
        result("341721", "resident", "red"), now=T0
    )
    subject, _, _ = render(red.mails[0], AlertSettings(routes=(OFFICE,)))
    assert subject == "【红色预警】东至县 居民医保 可支付月数 2.7 个月"


# ---------------------------------------------------------------- the bulletin's words
def with_forecast(event: Event, **depletion: float | str | None) -> Event:
    """`event` with a 24-month forecast: the paths' mean and median differ in month 8 (-0.04
    and 0.1: the issue's 0.0 beside 0.1), some months below zero."""
    months = []
    for i in range(24):
        median = 2.0 - 0.3 * i
        months.append(
            {
                "month": f"{2025 + i // 12}-{i % 12 + 1:02d}",
                "payable_mean": -0.04 if i == 7 else median,
                "payable_median": 0.1 if i == 7 else median + 0.05,
                "payable_lo80": median - 0.5,
                "payable_hi80": median + 0.5,
                "balance_mean": 1e7,
            }
        )
    forecast = {
        "months": months,
        "depletion": {"p6": 0.003, "p12": 0.0, "p_h": 0.0, "expected_month": None} | depletion,
        "prob_below": [{"threshold": 3.0, "window": 12, "probability": 0.997}],
        "ytd_deficit": {"probability": 0.0, "median_month": None},
        "income": {"model": "mean(snaive×0.09,theta(M)×0.24)", "mase": 0.4, "coverage80": 0.8},
        "expenditure": None,
        "n_paths": 2000,
    }
    indicators = dict(event.snapshot.indicators) | {"ytd_surplus_rate": -16.7}
    return replace(
        event, snapshot=replace(event.snapshot, forecast=forecast, indicators=indicators)
    )


def one_red(**depletion: float | str | None) -> tuple[str, str]:
    plan = Lifecycle(AlertSettings(routes=(OFFICE,))).run(
        result("341721", "resident", "red"), now=T0
    )
    event = with_forecast(plan.events[0], **depletion)
    _, text, html = render(Mail("基金科 <fund@example.org>", (event,)), AlertSettings())
    return text, html


def test_probabilities_months_and_labels_read_as_in_the_bulletin() -> None:
    text, html = one_red()
    for part in (text, html):
        assert v.probability(0.003) == "<1%"  # the formatter the bulletin uses
        assert "6 个月内基金耗尽（结余 < 0）" in part and "<1%" in part
        assert "24 个月内基金耗尽（结余 < 0）" in part
        assert "12 个月内可支付月数低于 3 个月" in part and ">99%" in part
        assert "当年累计结余率" in part and "当期结余率" not in part
        assert v.forecast_center_label() in part and "中位数" not in part
        assert "-0.0" not in part
        assert "若 24 个月内耗尽" not in part and "若耗尽" not in part  # 0%: no month
    # the chart shows the central value: month 8's is below zero; the median, 0.1, not shown
    assert "2025-08        # 已耗尽（" in text.replace("\r", "")
    assert "0.1（" not in text


def test_the_depletion_month_stands_beside_a_probability_that_reads_above_zero() -> None:
    # 0% within 12 months, 6% within 24: the month goes with the 24 months' probability
    text, _ = one_red(p_h=0.06, expected_month="2026-09")
    assert "24 个月内基金耗尽（结余 < 0）：6%" in text
    assert "若 24 个月内耗尽，预计月份：2026年9月" in text
    assert "12 个月内基金耗尽的概率为 0%，24 个月内为 6%，若耗尽，预计在 2026年9月前后" in text
    # a month the paths name while the probability reads 0% is not shown
    text, _ = one_red(p_h=0.0, expected_month="2026-09")
    assert "2026年9月" not in text


def test_negative_payable_months_say_the_balance_is_exhausted() -> None:
    plan = Lifecycle(AlertSettings(routes=(OFFICE,))).run(
        result("341721", "resident", "red", payable=-0.6), now=T0
    )
    subject, text, html = render(plan.mails[0], AlertSettings(routes=(OFFICE,)))
    assert subject == "【红色预警】东至县 居民医保 可支付月数 已耗尽"
    assert "可支付月数：已耗尽" in text and ">已耗尽</td>" in html
    # (the reason keeps the rule's own words, "-0.6 个月": monitor.core.classify's text)
