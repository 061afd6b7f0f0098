"""Roll-ups of parent regions and the payable-months indicator, on hand-computed cases."""

from __future__ import annotations

import pandas as pd
import pytest

from monitor.core.indicators import payable_months
from monitor.core.rollup import rollup

REGIONS = pd.DataFrame(
    {
        "code": ["340000", "341700", "341702", "341721"],
        "name": ["安徽省", "池州市", "贵池区", "东至县"],
        "parent_code": [None, "340000", "341700", "341700"],
        "level": ["province", "city", "county", "county"],
    }
)


def rows(
    code: str,
    months: list[str],
    income: int,
    expenditure: int,
    start_balance: int,
    fund: str = "resident",
) -> pd.DataFrame:
    balance, out = start_balance, []
    for m in months:
        balance += income - expenditure
        out.append(
            {
                "region_code": code,
                "fund": fund,
                "month": m,
                "income": income,
                "expenditure": expenditure,
                "balance": balance,
            }
        )
    return pd.DataFrame(out)


def test_parent_without_ledger_is_summed_from_children_in_complete_months() -> None:
    ledger = pd.concat(
        [
            rows("341702", ["2024-01", "2024-02", "2024-03"], 100, 80, 1000),
            rows("341721", ["2024-01", "2024-03"], 50, 60, 500),
        ]
    )
    combined, findings = rollup(ledger, REGIONS)
    city = combined[combined["region_code"] == "341700"]
    assert list(city["month"]) == ["2024-01", "2024-03"]  # 2024-02 lacks 东至县
    assert list(city["income"]) == [150, 150]
    assert list(city["balance"]) == [1020 + 490, 1060 + 480]
    assert city["derived"].all()
    province = combined[combined["region_code"] == "340000"]
    assert list(province["income"]) == [150, 150]  # rolled up again from the derived city
    [missing] = [f for f in findings if f.code == "rollup_incomplete"]
    assert "东至县" in missing.message and "2024-02" in missing.message


def test_parent_with_own_ledger_is_compared_not_replaced() -> None:
    ledger = pd.concat(
        [
            rows("341702", ["2024-01"], 100, 80, 1000),
            rows("341721", ["2024-01"], 50, 60, 500),
            # the city's own expenditure is 100,000 元 above its children's; its balance agrees
            rows("341700", ["2024-01"], 150, 140 + 10_000_000, 1510).assign(balance=1510),
        ]
    )
    combined, findings = rollup(ledger, REGIONS)
    city = combined[combined["region_code"] == "341700"]
    assert len(city) == 1 and not city["derived"].any()
    mismatch = [f for f in findings if f.code == "rollup_mismatch"]
    assert [f.column for f in mismatch] == ["expenditure"]


def test_payable_months_uses_the_last_twelve_months_of_expenditure() -> None:
    months = [f"2023-{m:02d}" for m in range(1, 13)] + ["2024-01"]
    data = pd.DataFrame(
        {
            "region_code": "341721",
            "fund": "resident",
            "month": months,
            "expenditure": [100] * 12 + [220],
            "balance": [1200] * 12 + [1320],
        }
    )
    pm = payable_months(data).set_index("month")
    assert pm.loc["2023-12", "payable_months"] == pytest.approx(12.0)
    assert not pm.loc["2023-12", "short_history"]
    # window 2023-02..2024-01: 11 × 100 + 220 = 1320 → mean 110 → 1320 / 110 = 12
    assert pm.loc["2024-01", "payable_months"] == pytest.approx(12.0)
    # short history: 2023-03 uses the mean of three months and is flagged
    assert pm.loc["2023-03", "payable_months"] == pytest.approx(12.0)
    assert pm.loc["2023-03", "short_history"]


def test_payable_months_window_respects_gaps() -> None:
    data = pd.DataFrame(
        {
            "region_code": "341721",
            "fund": "resident",
            "month": ["2022-01", "2023-06", "2024-01"],
            "expenditure": [1000, 100, 300],
            "balance": [0, 0, 2000],
        }
    )
    pm = payable_months(data).set_index("month")
    # 2022-01 is outside the 12-month window of 2024-01: mean of 100 and 300 = 200
    assert pm.loc["2024-01", "payable_months"] == pytest.approx(10.0)
    assert pm.loc["2024-01", "window_months"] == 2


def test_a_parent_disagreeing_with_its_children_most_months_gets_the_own_pool_hint() -> None:
    """A city ledger that is really 市本级 (keyed with the city's code) disagrees every month:
    one finding says what to change, beside the per-month ones."""
    months = [f"2024-{m:02d}" for m in range(1, 7)]
    ledger = pd.concat(
        [
            rows("341702", months, 10**9, 8 * 10**8, 10**10),
            rows("341721", months, 5 * 10**8, 6 * 10**8, 5 * 10**9),
            rows("341700", months, 7 * 10**8, 4 * 10**8, 9 * 10**9),  # 市本级's, not the total
        ]
    )
    _, findings = rollup(ledger, REGIONS)
    assert len([f for f in findings if f.code == "rollup_mismatch"]) == 18
    [hint] = [f for f in findings if f.code == "rollup_own_pool_hint"]
    assert "有 6 个月与下级合计不一致" in hint.message
    assert "请把它的编码改为 341701（上级编码填 341700）" in hint.message
    assert "市的汇总 = 市本级 + 各县区" in hint.message
