"""Months, units, amounts and fund names as offices write them."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.core.columns import match_header
from monitor.core.funds import FundCatalogue
from monitor.core.money import format_amount, parse_unit, yuan_text
from monitor.core.months import parse_month


@pytest.mark.parametrize(
    ("raw", "month"),
    [
        ("2024-05", "2024-05"),
        ("202405", "2024-05"),
        ("2024年5月", "2024-05"),
        ("2024年05月", "2024-05"),
        ("2024/5", "2024-05"),
        (" 2024-05 ", "2024-05"),
        (202405, "2024-05"),
        (202405.0, "2024-05"),
        (dt.datetime(2024, 5, 1), "2024-05"),
        (dt.date(2024, 12, 31), "2024-12"),
        ("2024-05-01", "2024-05"),
    ],
    ids=lambda v: repr(v),
)
def test_accepted_month_forms(raw: object, month: str) -> None:
    assert parse_month(raw) == month


@pytest.mark.parametrize("raw", ["2024-13", "2024年", "五月", "20245", "24-05", 2024.5, "1899-01"])
def test_rejected_month_forms(raw: object) -> None:
    assert parse_month(raw) is None


def test_units_and_amount_display() -> None:
    assert (
        parse_unit("万元") == "万元" and parse_unit(" 元 ") == "元" and parse_unit("亿") == "亿元"
    )
    assert parse_unit("美元") is None
    assert format_amount(1_404_000_000) == "14.04亿元"
    assert format_amount(2_500_000) == "250.00万元"
    assert format_amount(123_456_789_000, "万元") == "12,345,678.90万元"
    assert format_amount(1_404_000_000, lang="en") == "CNY 1.40 bn"
    assert yuan_text(123456789) == "1234567.89" and yuan_text(-5) == "-0.05"


def test_headers_with_units_and_aliases() -> None:
    assert match_header("本期收入（万元）") == ("income", "万元")
    assert match_header("期末累计结余(元)") == ("balance", "元")
    assert match_header("region_code (统筹区编码)") == ("region_code", None)
    assert match_header("参保人数（人）") == ("insured", None)
    assert match_header("备注") == (None, None)


def test_funds_by_key_or_chinese_name() -> None:
    funds = FundCatalogue()
    assert funds.key_for("职工医保") == "employee"
    assert funds.key_for("城乡居民基本医疗保险基金") == "resident"
    assert funds.key_for(" Resident ") == "resident"
    assert funds.key_for("工伤保险") is None
