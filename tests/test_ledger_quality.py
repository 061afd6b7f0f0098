"""Spike warnings: seasonal lumps that move between months pass, wrong units do not."""

from __future__ import annotations

import pandas as pd

from monitor.ledger.quality import quality_findings


def resident_income(years: int = 6) -> pd.DataFrame:
    """Contributions in Sep–Dec, a subsidy in June or July (alternating), little otherwise."""
    rows, balance = [], 10**12
    for y in range(years):
        for m in range(1, 13):
            income = 2_000_000_00 if m in (9, 10, 11, 12) else 50_000_00
            if m == (6 if y % 2 else 7):
                income = 3_000_000_00
            expenditure = 600_000_00
            balance += income - expenditure
            rows.append(
                {
                    "region_code": "341721",
                    "fund": "resident",
                    "month": f"{2019 + y}-{m:02d}",
                    "income": income,
                    "expenditure": expenditure,
                    "balance": balance,
                }
            )
    return pd.DataFrame(rows)


def test_moving_seasonal_lumps_are_not_spikes() -> None:
    data = resident_income().assign(incoming=True)
    assert [f for f in quality_findings(data) if f.code == "spike"] == []


def test_a_month_keyed_in_fen_instead_of_yuan_is_a_spike() -> None:
    data = resident_income().assign(incoming=False)
    last = data.index[-1]
    data.loc[last, "expenditure"] *= 100
    data.loc[last, "balance"] -= data.loc[last, "expenditure"] - 600_000_00
    data.loc[last, "incoming"] = True
    [spike] = [f for f in quality_findings(data) if f.code == "spike"]
    assert spike.column == "expenditure" and spike.month == "2024-12"
    assert "100.0 倍" in spike.message
