"""Cell values as offices write them: fund names, months, numbers typed as text, and the
parts of a header of several rows (monitor.core.funds, months, columns; ledger.validate)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from monitor.core.columns import match_header, match_header_parts
from monitor.core.funds import Fund, FundCatalogue
from monitor.core.months import ambiguous_month, month_in_text, number_as_month, read_month
from monitor.ledger.files import RawTable
from monitor.ledger.validate import validate_tables


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("职工基本医疗保险统筹基金", "employee"),
        ("城镇职工基本医疗保险统筹基金", "employee"),
        ("职工基本医疗保险（含生育保险）", "employee"),
        ("职 工 医 保", "employee"),
        ("城乡居民基本医疗保险", "resident"),
        ("城镇居民基本医疗保险", "resident"),
        ("城乡居民医疗保险基金", "resident"),
        ("居民医保", "resident"),
        ("大病保险资金", "critical_illness"),
        ("职工基本医疗保险个人账户", None),  # not the pooled fund
        ("工伤保险基金", None),
    ],
)
def test_fund_names_as_offices_write_them(text: str, key: str | None) -> None:
    assert FundCatalogue().key_for(text) == key


def test_configured_funds_that_differ_by_a_remark_stay_apart() -> None:
    funds = FundCatalogue([Fund("a", "大病保险（职工）", "职工大病", "a"),
                           Fund("b", "大病保险（居民）", "居民大病", "b")])  # fmt: skip
    assert (funds.key_for("大病保险(居民)"), funds.key_for("大病保险（职工）")) == ("b", "a")


def test_funds_named_in_a_title() -> None:
    funds = FundCatalogue()
    assert funds.named_in("池州市城乡居民基本医疗保险基金收支月报") == {"resident"}
    assert funds.named_in("城乡居民大病保险资金收支表") == {"critical_illness"}  # not 居民
    assert funds.named_in("职工医保和居民医保收支") == {"employee", "resident"}
    assert funds.named_in("职工基本医疗保险（含生育保险）收支表") == {"employee"}
    assert funds.named_in("基本医疗保险基金收支月报") == set()


@pytest.mark.parametrize(
    ("value", "month"),
    [
        ("2024.05", "2024-05"), ("2024年05月份", "2024-05"), ("２０２４年５月", "2024-05"),
        ("２０２４．０５", "2024-05"), ("2024/5/31", "2024-05"), ("2024年5月1日", "2024-05"),
        ("2024 年 5 月", "2024-05"), ("2024.10", "2024-10"), (dt.datetime(2024, 5, 1), "2024-05"),
        ("24年5月", None), ("2024.13", None), (2024.05, None),
    ],
    ids=repr,
)  # fmt: skip
def test_month_forms(value: object, month: str | None) -> None:
    assert read_month(value) == month


def test_ambiguous_and_number_months_and_months_in_titles() -> None:
    assert ambiguous_month("2024.1") and ambiguous_month("２０２４．１")
    assert not ambiguous_month("2024.01") and not ambiguous_month("2024.10")
    assert number_as_month(2024.05) and number_as_month(2024.1) and not number_as_month(202405.0)
    assert month_in_text("池州市2024年5月基金收支情况表") == "2024-05"
    assert month_in_text("截至2024年5月") == "2024-05"
    for text in ("2024年1-5月收支", "2024年1月至5月", "2024年5月与2024年6月对比", "基金月报"):
        assert month_in_text(text) is None, text


@pytest.mark.parametrize(
    ("parts", "column"),
    [
        (["基金收入（万元）", "其中：征缴收入"], ("income_contribution", "万元")),
        (["基金支出", "合计"], ("expenditure", None)),
        (["统筹区", "编码"], ("region_code", None)),
        (["基金支出", "其中", "其他"], ("exp_other", None)),
        (["基金收入", "其中", "其他"], ("income_other", None)),
        (["参保人数", "其中", "在职"], ("insured_active", None)),
        (["本期收入", "万元"], ("income", "万元")),
        (["本年累计", "收入"], (None, None)),
        (["上年同期", "支出"], (None, None)),
        (["基金收入", "住院"], (None, None)),
        (["基金结余", "本期结余"], (None, None)),
        (["基金结余", "期末累计结余"], ("balance", None)),
    ],
    ids=lambda v: "/".join(v) if isinstance(v, list) else str(v),
)
def test_header_parts(parts: list[str], column: tuple[str | None, str | None]) -> None:
    assert match_header_parts(parts) == column


def test_details_marked_and_numbered_in_one_row_headers() -> None:
    assert match_header("其中：住院")[0] == "exp_inpatient"
    assert match_header("1.住院费用")[0] == "exp_inpatient"
    assert match_header("（二）普通门诊")[0] == "exp_outpatient"
    assert match_header("一、本期收入（元）") == ("income", "元")


def test_numbers_typed_as_text_full_width_and_dashes() -> None:
    frame = pd.DataFrame({
        "region_code": ["341721"] * 4, "region_name": ["东至县"] * 4, "fund": ["居民医保"] * 4,
        "month": ["2024-01", "2024-02", "2024-03", "2024-04"],
        "income": ["１２３，４５６.７８", "1,234.50", " 12 345 ", "¥1.5"],
        "expenditure": ["1", "2", "3", "4"], "balance": ["10", "20", "30", "40"],
        "income_interest": ["—", "-", "/", "－"], "row": [2, 3, 4, 5],
    })  # fmt: skip
    table = RawTable("t.csv", None, 1, {c: c for c in frame.columns}, "元", "test", frame, [])
    valid = validate_tables(
        [table], catalogue=FundCatalogue(), now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    )
    assert valid.rows["income"].tolist() == [12345678, 123450, 1234500, 150]
    assert valid.rows["income_interest"].isna().all()  # a dash: nothing reported
