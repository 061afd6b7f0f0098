"""One vocabulary (monitor.core.vocabulary): a fact reads the same in every output.

The words themselves first, then the demo city end to end: the same fund's level, payable
months, data month and depletion probabilities as `fundmon evaluate` prints them, as the
alert e-mail (rendered through the outbox) says them and as the bulletin shows them.
"""

from __future__ import annotations

import datetime as dt
import email
import html
import math
import re
from email import policy
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli.app import main
from monitor.core import vocabulary as v
from monitor.core.thresholds import Level, level_word
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv
from monitor.render import alert_mail, bulletin, evaluation
from monitor.render.templating import FILTERS


# ---------------------------------------------------------------- the words
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_module_names_a_level_with_the_vocabularys_word(lang: str) -> None:
    for level in Level:
        word = v.level_label(level.value, lang)
        assert level.label(lang) == word  # log lines, service steps, reasons
        assert level_word(level, lang) == word
        assert FILTERS["level_label"](level.value, lang) == word  # office templates
        assert alert_mail.level_word(level, lang) == word
        assert evaluation.level_text(level.value, lang, color=False) == word
        assert bulletin.LEVEL_LABELS[lang][level.value] == v.level_badge(level, lang)
        assert v.level_badge(level, lang).lower() == word.lower()
    assert Level.GREEN.label() == "正常" and Level.GREEN.label("en") == "normal"
    assert level_word(None, lang) == v.level_label("notice", lang)


def test_numbers_have_one_form_each() -> None:
    assert [v.probability(p) for p in (0, 0.003, 0.005, 0.006, 0.4, 0.9951, 1)] == [
        "0%", "<1%", "<1%", "1%", "40%", ">99%", "100%",
    ]  # fmt: skip
    assert v.months_text(2.43) == "2.4 个月" and v.months_text(2.43, "en") == "2.4 months"
    assert v.decimal(2.43) == "2.4" and v.decimal(-0.26, signed=True) == "-0.3"
    assert v.percent(3.59) == "3.6%" and v.growth(3.59) == "+3.6%"
    assert v.points(5.91) == "+5.9 个百分点" and v.points(5.91, "en") == "+5.9 pp"
    assert v.amount(1.404e9) == "14.04亿元" and v.amount(1.404e9, "en") == "CNY 1.40 bn"
    for nothing in (None, math.nan, math.inf, True, "n/a"):
        shown = (v.probability, v.months_text, v.decimal, v.percent, v.points, v.amount)
        assert {f(nothing) for f in shown} == {v.MISSING}


def test_months_times_and_funds() -> None:
    assert v.month_label("2024-05") == "2024年5月" and v.month_label("2024-05", "en") == "May 2024"
    naive_utc = dt.datetime(2025, 1, 5, 18, 30)  # SQLite gives stored times back naive
    assert v.local_time(naive_utc) == v.local_time(naive_utc.replace(tzinfo=dt.UTC))
    assert v.local_time(naive_utc) == "2025-01-06 02:30" and v.local_date(naive_utc) == "2025-01-06"
    from monitor.core.funds import FundCatalogue

    funds = FundCatalogue()
    assert v.fund_name(funds, "resident") == "居民医保"
    assert v.fund_name(funds, "long_term_care", "en") == "long term care"
    assert v.fund_name(funds, "employee", full=True) == "职工基本医疗保险统筹基金"
    assert v.fund_name(funds, "no_such_fund", "en") == "no_such_fund"


# ---------------------------------------------------------------- the same fact, every output
def _text_of_html(page: str) -> str:
    page = re.sub(r"<(style|svg)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo city evaluated once (2024-12): the evaluate table and JSON, the county's alert
    e-mail as the outbox delivered it (.eml), the bulletin's HTML and its e-mail edition."""
    folder = tmp_path_factory.mktemp("vocabulary")
    conf = folder / "config.toml"
    conf.write_text(
        "[forecast]\nhorizon = 12\npaths = 300\nseed = 0\nworkers = 1\n"
        '[alerts]\nmail_dir = "mail"\n'
        '[[alerts.routes]]\nregions = ["341721"]\nto = ["dongzhi@example.org"]\n'
        '[bulletin]\nto = ["leader@example.org"]\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    store = f"sqlite:///{folder / 'store.db'}"

    def cli(*args: str) -> Any:
        result = runner.invoke(main, ["--config", str(conf), "--db", store, *args])
        assert result.exit_code == 0, result.output
        return result

    write_canonical_csv(demo_city().ledger, folder / "demo.csv")
    cli("import", "--unit", "元", str(folder / "demo.csv"))
    table = cli("evaluate").output  # queues the alerts too
    import json

    results = {(r["region_code"], r["fund"]): r for r in json.loads(
        cli("evaluate", "--format", "json").output
    )}  # fmt: skip
    cli("outbox", "send")
    [eml] = (folder / "mail").glob("*.eml")
    alert = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    cli("bulletin", "--out", str(folder / "bulletins"))
    [page] = (folder / "bulletins").glob("bulletin-2024-12-*-zh.html")
    [edition] = (folder / "bulletins").glob("bulletin-2024-12-*-zh-mail.eml")
    bulletin_mail = email.message_from_bytes(edition.read_bytes(), policy=policy.default)
    return {
        "results": results,
        "table": table,
        "alert_subject": str(alert["Subject"]),
        "alert_text": alert.get_body(("plain",)).get_content(),
        "alert_html": _text_of_html(alert.get_body(("html",)).get_content()),
        "bulletin": _text_of_html(page.read_text(encoding="utf-8")),
        "bulletin_mail": bulletin_mail.get_body(("plain",)).get_content(),
    }


def _row(table: str, *needles: str) -> str:
    [line] = [row for row in table.splitlines() if all(n in row for n in needles)]
    return line


def test_a_funds_level_and_figures_read_the_same_in_the_table_the_alert_and_the_bulletin(
    outputs: dict[str, Any],
) -> None:
    red = outputs["results"][("341721", "resident")]
    level = v.level_label(red["level"])
    payable = red["indicators"]["payable_months"]
    depletion = red["forecast"]["depletion"]
    assert red["level"] == "red" and 0 < depletion["p6"] < 0.005  # the demo's red county

    # `fundmon evaluate`: a table under headings that name the units
    row = _row(outputs["table"], "东至县", "居民医保")
    assert f" {level} " in row and f" {v.decimal(payable)} " in row
    assert f" {v.probability(depletion['p12'])} " in row

    # the alert e-mail, both parts, as the outbox delivered it
    text, page = outputs["alert_text"], outputs["alert_html"]
    assert outputs["alert_subject"].startswith(f"【{level}预警】东至县 居民医保")
    assert f"可支付月数 {v.months_text(payable)}" in outputs["alert_subject"]
    for part in (text, page):
        assert f"可支付月数：{v.months_text(payable)}" in part or (
            f"可支付月数 {v.months_text(payable)}" in part
        )
        assert f"数据月份 {v.month_label('2024-12')}" in part
        # 6-month depletion: 1 path in 300 is "<1%" everywhere (the alert said "0%")
        six = re.escape(v.probability(depletion["p6"]))
        assert re.search(rf"6 个月内基金耗尽（结余 < 0）(：| ){six}", part)
        assert f"12 个月内基金耗尽（结余 < 0）：{v.probability(depletion['p12'])}" in text

    # the bulletin: its KPI table, the fund's section, its probabilities, its e-mail edition
    doc = outputs["bulletin"]
    kpi = rf"东至县 · 居民医保 {level} (\S+ ){{5}}{re.escape(v.decimal(payable))} "
    assert re.search(kpi, doc)  # income, expenditure, surplus, rate, balance, payable months
    assert f"可支付 {v.months_text(payable)}" in doc
    assert f"数据截至 {v.month_label('2024-12')}" in doc
    assert f"6 个月内基金耗尽（结余 < 0） {v.probability(depletion['p6'])}" in doc
    assert f"12 个月内基金耗尽（结余 < 0） {v.probability(depletion['p12'])}" in doc
    assert f"[{level}] 东至县居民医保" in outputs["bulletin_mail"]


def test_a_green_fund_is_normal_in_every_output(outputs: dict[str, Any]) -> None:
    normal = v.level_label("green")
    assert outputs["results"][("341702", "resident")]["level"] == "green"
    assert f" {normal} " in _row(outputs["table"], "贵池区", "居民医保")
    assert f"贵池区 · 居民医保 {normal} " in outputs["bulletin"]
    # 东至县 居民医保 has been red for months: its first alert is no rise from 正常
    assert f"此前级别：{normal}" not in outputs["alert_text"]
    assert "红色，已连续 5 个月（自 2024-08）" in outputs["alert_text"]
    assert "绿色" not in outputs["table"] + outputs["alert_text"] + outputs["bulletin"]
