"""Current indicators on hand-computed ledgers, and the value mappings the classifier reads."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from monitor.core.indicators import (
    DATA_MISSING,
    current_indicators,
    forecast_values,
    indicator_key,
    indicator_values,
    key_label,
    key_text,
    month_values,
    payable_months,
)

YUAN = 100  # fen per yuan


def ledger_rows(
    months: list[str],
    income: list[float],
    expenditure: list[float],
    *,
    region: str = "341700",
    fund: str = "employee",
    start_balance: float = 100_000,
    **extra: list[int],
) -> pd.DataFrame:
    """Rows in integer fen, from amounts in yuan, with a reconciling balance."""
    balance, out = start_balance, []
    for i, (m, inc, exp) in enumerate(zip(months, income, expenditure, strict=True)):
        balance += inc - exp
        row = {
            "region_code": region,
            "fund": fund,
            "month": m,
            "income": round(inc * YUAN),
            "expenditure": round(exp * YUAN),
            "balance": round(balance * YUAN),
        }
        row.update({k: v[i] for k, v in extra.items()})
        out.append(row)
    return pd.DataFrame(out)


def year(y: int, months: range = range(1, 13)) -> list[str]:
    return [f"{y}-{m:02d}" for m in months]


@pytest.fixture
def two_years() -> pd.DataFrame:
    # 2023: income 10,000 + 100·m yuan, expenditure 8,000; 2024 Jan–Mar: 11,000 and 9,600
    return ledger_rows(
        year(2023) + year(2024, range(1, 4)),
        [10_000 + 100 * m for m in range(1, 13)] + [11_000] * 3,
        [8_000] * 12 + [9_600] * 3,
    )


def test_year_to_date_sums_restart_in_january(two_years: pd.DataFrame) -> None:
    ind = current_indicators(two_years).set_index("month")
    assert ind.loc["2023-12", "ytd_income"] == pytest.approx(120_000 + 100 * 78)
    assert ind.loc["2023-12", "ytd_expenditure"] == pytest.approx(96_000)
    # across the year boundary: January counts only itself
    assert ind.loc["2024-01", "ytd_income"] == pytest.approx(11_000)
    assert ind.loc["2024-02", "ytd_surplus"] == pytest.approx(2 * (11_000 - 9_600))
    assert ind.loc["2024-02", "ytd_surplus_rate"] == pytest.approx(2_800 / 22_000 * 100)
    assert isinstance(ind.loc["2024-02", "ytd_income"], float)  # yuan, not fen


def test_growth_compares_with_the_same_months_a_year_before(two_years: pd.DataFrame) -> None:
    ind = current_indicators(two_years).set_index("month")
    # 2024 Jan–Feb against 2023 Jan–Feb (10,100 + 10,200), not against all of 2023
    income_growth = (22_000 / 20_300 - 1) * 100
    expenditure_growth = (19_200 / 16_000 - 1) * 100
    assert ind.loc["2024-02", "income_growth"] == pytest.approx(income_growth)
    assert ind.loc["2024-02", "expenditure_growth"] == pytest.approx(expenditure_growth)
    assert ind.loc["2024-02", "growth_gap"] == pytest.approx(expenditure_growth - income_growth)
    # no year before 2023: growth unknown
    assert ind.loc["2023-12", ["income_growth", "growth_gap"]].isna().all()


def test_growth_is_nan_when_the_year_before_is_incomplete() -> None:
    # history starts in 2023-03: Jan–Feb 2023 are missing, so 2024-03 has nothing to compare
    ledger = ledger_rows(
        year(2023, range(3, 13)) + year(2024, range(1, 4)), [10_000] * 13, [9_000] * 13
    )
    ind = current_indicators(ledger).set_index("month")
    assert math.isnan(ind.loc["2023-03", "ytd_income"])  # January and February unknown
    assert ind.loc["2024-03", "ytd_income"] == pytest.approx(30_000)
    assert math.isnan(ind.loc["2024-03", "income_growth"])
    assert math.isnan(ind.loc["2024-03", "growth_gap"])


def test_a_missing_month_leaves_the_rest_of_its_year_unknown() -> None:
    ledger = ledger_rows(["2024-01", "2024-03"], [100, 100], [50, 50])
    ind = current_indicators(ledger).set_index("month")
    assert ind.loc["2024-01", "ytd_income"] == pytest.approx(100)
    assert math.isnan(ind.loc["2024-03", "ytd_income"])  # February is missing


def test_retiree_ratio_for_employee_where_the_ledger_has_it() -> None:
    employee = ledger_rows(
        ["2024-01", "2024-02"],
        [100, 100],
        [50, 50],
        insured_active=[300_000, 290_000],
        insured_retired=[100_000, 0],
    )
    resident = ledger_rows(
        ["2024-01"],
        [100],
        [50],
        fund="resident",
        insured_active=[1],
        insured_retired=[1],
    )
    ind = current_indicators(pd.concat([employee, resident])).set_index(["fund", "month"])
    assert ind.loc[("employee", "2024-01"), "retiree_ratio"] == pytest.approx(3.0)
    assert math.isnan(ind.loc[("employee", "2024-02"), "retiree_ratio"])  # no retirees
    assert math.isnan(ind.loc[("resident", "2024-01"), "retiree_ratio"])
    without = current_indicators(ledger_rows(["2024-01"], [100], [50]))
    assert without["retiree_ratio"].isna().all()


def test_payable_months_is_the_same_as_payable_months(two_years: pd.DataFrame) -> None:
    ind = current_indicators(two_years)
    pm = payable_months(two_years)
    pd.testing.assert_series_equal(ind["payable_months"], pm["payable_months"])
    assert list(ind["short_history"]) == list(pm["short_history"])


def test_every_series_at_once() -> None:
    a = ledger_rows(year(2024, range(1, 3)), [100, 100], [60, 60], region="341702")
    b = ledger_rows(year(2024, range(1, 3)), [200, 200], [300, 300], region="341721")
    ind = current_indicators(pd.concat([b, a]))
    assert list(ind["region_code"]) == ["341702", "341702", "341721", "341721"]
    assert list(ind["ytd_surplus"]) == pytest.approx([40, 80, -100, -200])


def test_indicator_keys_and_their_names() -> None:
    key = indicator_key("forecast.p_payable_below", threshold=3, within=12)
    assert key == ("forecast.p_payable_below", 3.0, 12)
    assert indicator_key("payable_months") == "payable_months"
    assert key_text(key) == "预计 12 个月内可支付月数低于 3 个月的概率"
    assert key_label(key) == "forecast.p_payable_below(threshold=3, within=12)"
    with pytest.raises(ValueError):
        indicator_key("forecast.p_depletion")


def test_values_for_the_classifier_from_a_row_and_forecasts(two_years: pd.DataFrame) -> None:
    ind = current_indicators(two_years)
    row = ind[ind["month"] == "2023-12"].iloc[0]
    values = indicator_values(row, {("forecast.p_depletion", 12): 0.2})
    assert values["payable_months"] == pytest.approx(row["payable_months"])
    assert values["income_growth"] is None  # NaN becomes missing
    assert values[("forecast.p_depletion", 12)] == 0.2
    assert indicator_values(None) == {DATA_MISSING: True}


def test_month_values_marks_months_without_rows_as_missing() -> None:
    ind = current_indicators(ledger_rows(["2024-01", "2024-03"], [100, 100], [50, 50]))
    months = month_values(ind, through="2024-04")
    assert [m for m, _ in months] == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert months[1][1] == {DATA_MISSING: True}
    assert months[3][1] == {DATA_MISSING: True}
    assert "payable_months" in months[2][1]


def test_forecast_values_read_off_an_outlook() -> None:
    monthly = pd.DataFrame(
        {
            "month": [f"2025-{m:02d}" for m in range(1, 13)],
            "payable_mean": [8.0 - 0.5 * i for i in range(12)],
            "p_depleted": [0.0] * 10 + [0.1, 0.3],
        }
    )
    prob_below = pd.DataFrame(
        {"threshold": [3.0, 6.0, 3.0], "window": [12, 12, 24], "probability": [0.4, 0.7, 0.5]}
    )
    outlook = SimpleNamespace(
        monthly=monthly,
        prob_below=prob_below,
        ytd_deficit={"median_month": "2025-04"},
    )
    values = forecast_values(outlook)
    assert values[("forecast.payable_months", 6)] == pytest.approx(5.5)
    assert values[("forecast.p_depletion", 12)] == pytest.approx(0.3)
    assert values[("forecast.p_payable_below", 3, 12)] == pytest.approx(0.4)
    assert ("forecast.p_payable_below", 3.0, 24) not in values  # beyond the horizon
    assert values["forecast.months_to_ytd_deficit"] == 4
    outlook.ytd_deficit = {"median_month": None}
    assert forecast_values(outlook)["forecast.months_to_ytd_deficit"] == math.inf
