"""Issue 16: the same fact reads the same everywhere.

First the vocabulary's forms (monitor.core.vocabulary) for the facts the issue names — a
probability near 0 or 1, a figure that rounds to zero, payable months below zero, the
forecast's central value, the expected month of depletion — then the demo city end to end:
for its red, orange and yellow funds, the payable months, probabilities and words of
`evaluate --format json`, the alert e-mail, the bulletin HTML and `fundmon forecast` agree.
"""

from __future__ import annotations

import email
import html
import json
import math
import re
from email import policy
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli.app import main
from monitor.core import vocabulary as v

NEGATIVE_ZERO = re.compile(r"-0\.0+(?!\d)")  # '-0.0', not the '-0.08' of a correlation


# ---------------------------------------------------------------- the forms
def test_a_probability_is_never_a_false_certainty() -> None:
    assert v.probability(0.003) == "<1%"  # the bulletin said <1%, mail and forecast 0%
    assert v.probability(0.997) == ">99%"
    assert v.probability(0.0) == "0%" and v.probability(1.0) == "100%"  # exactly: no path/all


def test_a_figure_that_rounds_to_zero_has_no_sign() -> None:
    assert v.decimal(-0.04) == "0.0" and v.decimal(-0.04, signed=True) == "0.0"
    assert v.decimal(0.04, signed=True) == "0.0" and v.decimal(-0.06, signed=True) == "-0.1"
    assert v.percent(-0.04) == "0.0%" and v.growth(-0.04) == "0.0%"
    assert v.points(-0.01) == "0.0 个百分点"
    assert v.months_text(0.04) == "0.0 个月"  # "-0.0 个月" was shown
    assert not NEGATIVE_ZERO.search(v.months_text(-0.04) + v.payable(-0.04) + v.payable(-0.0))


@pytest.mark.parametrize(("lang", "word"), [("zh", "已耗尽"), ("en", "exhausted")])
def test_payable_months_below_zero_say_the_balance_is_exhausted(lang: str, word: str) -> None:
    assert v.months_text(-0.6, lang) == word and v.payable(-2.8, lang) == word
    assert v.payable(2.43, lang) == "2.4" and v.payable(0.0, lang) == "0.0"
    assert v.payable_band(1.8, 2.0) == "1.8～2.0" and v.payable_band(1.8, 2.0, "en") == "1.8 to 2.0"
    assert v.payable_band(-0.4, 0.6, lang).startswith(word)
    assert v.payable_band(-1.1, -0.1, lang) == word
    assert v.payable(math.nan, lang) == v.payable_band(None, 1, lang) == v.MISSING


def test_the_forecast_has_one_central_value_with_one_name() -> None:
    # the value the rules classify on (forecast.payable_months) is the paths' mean
    assert v.FORECAST_CENTER["payable"] == "payable_mean"
    assert v.forecast_center_label() == "预测均值"
    assert v.forecast_center_label("en") == "forecast mean"


def test_the_month_of_depletion_only_beside_a_probability_above_zero() -> None:
    # 青阳县 employee in the demo: 0% within 12 months, 6% within 24, median month 2026-09
    d = {"p6": 0.0, "p12": 0.0, "p_h": 0.058, "expected_month": "2026-09"}
    assert v.depletion_spans(d, 24) == [(6, 0.0), (12, 0.0), (24, 0.058)]
    assert v.depletion_month(d) == "2026-09"  # shown beside the 24-month 6%
    assert v.depletion_month({**d, "p_h": 0.0}) is None
    assert v.depletion_spans(d, 12) == [(6, 0.0), (12, 0.0)]


# ---------------------------------------------------------------- the demo, every output
RED, ORANGE = ("341721", "resident"), ("341722", "resident")
YELLOW_CITY, YELLOW_COUNTY = ("341700", "resident"), ("341723", "employee")
WATCHED = (RED, ORANGE, YELLOW_CITY, YELLOW_COUNTY)


def _text_of_html(page: str) -> str:
    page = re.sub(r"<(style|svg|script)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`fundmon demo` as a user runs it, then `evaluate --format json` and `forecast` (table
    and JSON) on its store: the same month, forecast settings and seed everywhere."""
    out = tmp_path_factory.mktemp("same") / "demo"
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(main, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    cli("demo", "--out", str(out))
    db = ["--db", f"sqlite:///{out / 'fundmon.db'}"]
    results = {(r["region_code"], r["fund"]): r for r in json.loads(
        cli(*db, "evaluate", "--format", "json")
    )}  # fmt: skip
    forecasts = {
        key: (
            cli(*db, "forecast", "--region", key[0], "--fund", key[1]),
            json.loads(
                cli(*db, "forecast", "--region", key[0], "--fund", key[1], "--format", "json")
            ),
        )
        for key in WATCHED
    }
    digest = None
    for eml in sorted((out / "mail").glob("*.eml")):
        msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
        if "jijinke@" in str(msg["To"]):  # the fund office gets every level: all four funds
            digest = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert digest is not None
    [page] = (out / "bulletin").glob("bulletin-2024-12-*-zh.html")
    return {
        "results": results,
        "forecasts": forecasts,
        "mail": digest,
        "bulletin": _text_of_html(page.read_text(encoding="utf-8")),
    }


def _ahead(result: dict[str, Any], n: int) -> dict[str, Any]:
    return dict(result["forecast"]["months"][n - 1])


def _mail_part(mail: str, region: str, fund_word: str) -> str:
    """The digest's section on one fund (sections are separated by a rule of '=')."""
    parts = re.split(r"\n=+\n", mail)
    [part] = [p for p in parts if re.match(rf"\S+（{region}） {fund_word} +\[", p)]
    return part


FUND_WORDS = {"resident": "居民医保", "employee": "职工医保"}


def test_the_demo_has_the_funds_the_issue_names(demo: dict[str, Any]) -> None:
    levels = {key: demo["results"][key]["level"] for key in WATCHED}
    assert levels == {RED: "red", ORANGE: "orange", YELLOW_CITY: "yellow", YELLOW_COUNTY: "yellow"}
    red = demo["results"][RED]["forecast"]
    assert 0 < red["depletion"]["p6"] < 0.005  # the 0.3 % shown as "<1%" and as "0%"
    assert min(m["payable_mean"] for m in red["months"]) < 0  # below zero: exhausted
    county = demo["results"][YELLOW_COUNTY]["forecast"]["depletion"]
    assert county["p12"] == 0 and county["p_h"] > 0 and county["expected_month"]


@pytest.mark.parametrize("key", WATCHED, ids=lambda k: "-".join(k))
def test_forecast_agrees_with_evaluate(demo: dict[str, Any], key: tuple[str, str]) -> None:
    result = demo["results"][key]
    table, as_json = demo["forecasts"][key]
    center = v.FORECAST_CENTER["payable"]
    for n in (6, 12):  # the same simulation: the same value after the same rounding
        assert v.payable(as_json["months"][n - 1][center]) == v.payable(_ahead(result, n)[center])
    for w in (6, 12):
        assert v.probability(as_json["depletion"][f"p{w}"]) == v.probability(
            result["forecast"]["depletion"][f"p{w}"]
        )
    first = table.splitlines()[0]
    assert first.endswith(f"可支付月数 {v.payable(result['indicators']['payable_months'])}")
    assert not NEGATIVE_ZERO.search(table)


@pytest.mark.parametrize("key", WATCHED, ids=lambda k: "-".join(k))
def test_forecast_table_names_the_central_value_and_says_exhausted(
    demo: dict[str, Any], key: tuple[str, str]
) -> None:
    result = demo["results"][key]
    table, _ = demo["forecasts"][key]
    assert f"可支付月数（{v.forecast_center_label()}）" in table
    for n in (6, 12):
        row = _ahead(result, n)
        [line] = [x for x in table.splitlines() if x.startswith(row["month"] + " ")]
        assert f" {v.payable(row['payable_mean'])} " in line
        assert v.payable_band(row["payable_lo80"], row["payable_hi80"]) in line
    months = result["forecast"]["months"]
    if any(m["payable_mean"] < 0 for m in months):
        assert v.exhausted_word() in table
    dep = result["forecast"]["depletion"]
    for w in (6, 12):
        assert f"{w} 个月内 {v.probability(dep[f'p{w}'])}" in table
    month = v.depletion_month(dep)
    assert ("若耗尽" in table) == (month is not None)
    if month:
        assert f"24 个月内 {v.probability(dep['p_h'])}；若耗尽，预计在 {month}" in table


@pytest.mark.parametrize("key", WATCHED, ids=lambda k: "-".join(k))
def test_the_bulletin_agrees_with_evaluate(demo: dict[str, Any], key: tuple[str, str]) -> None:
    result, doc = demo["results"][key], demo["bulletin"]
    level = v.level_label(result["level"])
    payable = result["indicators"]["payable_months"]
    region = result["region_name"]
    title = f"{region}{FUND_WORDS[key[1]]}"
    assert f"{level} {title} 触发原因" in doc  # its warning, under its level's word
    [warning] = re.findall(
        rf"{level} {title} 触发原因.*?(?=(?:红色|橙色|黄色) \S+ 触发原因|提示（不定颜色）)",
        doc,
    )
    dep = result["forecast"]["depletion"]
    for w in (6, 12):
        assert f"{w} 个月内基金耗尽（结余 < 0） {v.probability(dep[f'p{w}'])}" in warning
    center = v.forecast_center_label()
    for n in (6, 12):
        row = _ahead(result, n)
        when = v.month_label(row["month"])
        assert (
            f"{n} 个月后（{when}）可支付月数{center} {v.months_text(row['payable_mean'])}"
            f"（80% 区间 {v.payable_band(row['payable_lo80'], row['payable_hi80'])}）"
        ) in warning
    month = v.depletion_month(dep)
    assert ("若耗尽" in warning) == (month is not None)
    assert f"可支付 {v.months_text(payable)}" in doc
    figure = re.escape(v.payable(payable))
    kpi = rf"{region} · {FUND_WORDS[key[1]]} (\S+ )?{level} (\S+ ){{5}}{figure} "
    assert re.search(kpi, doc)
    assert "预测中位数" not in doc and not NEGATIVE_ZERO.search(doc)


@pytest.mark.parametrize("key", WATCHED, ids=lambda k: "-".join(k))
def test_the_alert_mail_agrees_with_evaluate(demo: dict[str, Any], key: tuple[str, str]) -> None:
    result = demo["results"][key]
    part = _mail_part(demo["mail"], key[0], FUND_WORDS[key[1]])
    level = v.level_label(result["level"])
    payable = result["indicators"]["payable_months"]
    status = part.splitlines()[0]  # a change reads "黄色 → 红色", a standing level "红色，已连续…"
    assert f"→ {level}" in status or f"] {level}，已连续" in status, status
    assert f"可支付月数：{v.months_text(payable)}" in part
    dep = result["forecast"]["depletion"]
    for w in (6, 12):
        assert f"{w} 个月内基金耗尽（结余 < 0）：{v.probability(dep[f'p{w}'])}" in part
    rate = v.percent(result["indicators"]["ytd_surplus_rate"])
    assert f"当年累计结余率：{rate}" in part and "当期结余率" not in part
    assert v.forecast_center_label() in part
    assert not re.search("(?<!预测)均值", part) and "中位数" not in part  # one name, not two
    assert not NEGATIVE_ZERO.search(part)
    month = v.depletion_month(dep)
    assert ("若" in part and "耗尽，预计" in part) == (month is not None)
    for n in (6, 12):  # the months ahead: the same value and band as the bulletin's
        row = _ahead(result, n)
        figure = v.payable(row[v.FORECAST_CENTER["payable"]])
        band = v.payable_band(row["payable_lo80"], row["payable_hi80"])
        lines = [x for x in part.splitlines() if x.strip().startswith(row["month"])]
        assert any(f"{figure}（{band}）" in x for x in lines), lines
    if any(m["payable_lo80"] < 0 for m in result["forecast"]["months"]):
        assert v.exhausted_word() in part  # a band below zero reads 已耗尽, not -0.5


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_payable_chart_draws_the_one_central_value_and_nothing_below_zero(
    demo: dict[str, Any], lang: str
) -> None:
    from monitor.render.charts import fund_charts

    months = demo["results"][RED]["forecast"]["months"]  # its mean goes below zero
    [payable, balance, _] = fund_charts(
        [], months, [], lang=lang, chart_id="f", cid_tail="t", title="东至县"
    )
    [line] = [x for x in payable.spec.lines if x.role == "forecast"]
    assert line.values == tuple(max(m["payable_mean"], 0.0) for m in months)  # was the median
    drawn = [x for b in payable.spec.bands for x in (*b.lo, *b.hi)] + list(line.values)
    assert min(x for x in drawn if x is not None) == 0.0  # at 0, named: not a bare -2.8
    labels = [item.label for item in payable.legend]
    assert v.forecast_center_label(lang) in labels  # was 预测中位数 / forecast median
    assert any(v.exhausted_word(lang) in x for x in labels)
    assert any(v.exhausted_word(lang) in x.label for x in balance.legend)  # goes below 0
