"""The stress province (monitor.demo.data.stress_province): the troubles it promises are in its
ledgers, where its `truth` says, the same for the same seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitor.demo.data import (
    EXPENDITURE_PARTS,
    INCOME_PARTS,
    LEDGER_COLUMNS,
    TRUTH_COLUMNS,
    DemoWorld,
    stress_province,
)

SERIES = ["region_code", "fund"]


@pytest.fixture(scope="module")
def world() -> DemoWorld:
    return stress_province()


def series(world: DemoWorld, code: str, fund: str) -> pd.DataFrame:
    rows = world.ledger[(world.ledger["region_code"] == code) & (world.ledger["fund"] == fund)]
    return rows.reset_index(drop=True)


def position(rows: pd.DataFrame, month: str) -> int:
    return int(np.flatnonzero(rows["month"].to_numpy() == month)[0])


def test_same_seed_same_world_other_seed_other_world(world: DemoWorld) -> None:
    again = stress_province()
    pd.testing.assert_frame_equal(world.ledger, again.ledger)
    pd.testing.assert_frame_equal(world.truth, again.truth)
    other = stress_province(seed=17)
    assert not world.ledger["balance"].equals(other.ledger["balance"])


def test_shape_regions_and_reconciliation(world: DemoWorld) -> None:
    ledger = world.ledger
    assert list(ledger.columns) == list(LEDGER_COLUMNS)
    assert list(world.truth.columns) == list(TRUTH_COLUMNS)
    # 4 cities × 5 counties × (employee, resident) × 108 months
    assert ledger.groupby(SERIES).ngroups == 40
    assert len(ledger) == 40 * 108
    levels = world.regions["level"].value_counts().to_dict()
    assert levels == {"province": 1, "city": 4, "county": 20}
    assert (ledger["income"] == ledger[list(INCOME_PARTS)].sum(axis=1)).all()
    assert (ledger["expenditure"] == ledger[list(EXPENDITURE_PARTS)].sum(axis=1)).all()
    for _, rows in ledger.groupby(SERIES):
        flow = (rows["income"] - rows["expenditure"]).to_numpy()[1:]
        assert (np.diff(rows["balance"].to_numpy()) == flow).all()


def test_every_kind_of_trouble_is_there(world: DemoWorld) -> None:
    kinds = set(world.truth["kind"])
    assert {"drift", "reform", "late_subsidy", "enrolment_decline"} <= kinds
    # early warning needs funds that do fall below 3 payable months, and funds that do not
    ledger = world.ledger.copy()
    last12 = ledger.groupby(SERIES)["expenditure"].transform(lambda s: s.rolling(12).mean())
    ledger["payable"] = ledger["balance"] / last12
    lowest = ledger[ledger["month"] >= "2018-01"].groupby(SERIES)["payable"].min()
    assert 8 <= (lowest < 3).sum() <= 32


def _yoy(exp: np.ndarray, months: np.ndarray) -> np.ndarray:
    """log expenditure against the same month a year before; NaN where either month is in the
    2020 dip (Feb–May), which would swamp a step."""
    d = np.full(len(exp), np.nan)
    d[12:] = np.log(exp[12:]) - np.log(exp[:-12])
    dip = np.isin(months, ["2020-02", "2020-03", "2020-04", "2020-05"])
    d[dip] = np.nan
    d[12:][dip[:-12]] = np.nan
    return d


def test_benefit_reform_is_a_level_shift_in_resident_expenditure(world: DemoWorld) -> None:
    """In the 12 months after the reform the year-on-year change carries the step; in the
    12 after those it no longer does: the difference is the step's size."""
    reforms = world.truth[world.truth["kind"] == "reform"]
    assert len(reforms) == 20  # every resident fund, in its city's month
    assert set(reforms["fund"]) == {"resident"}
    errors, steps = [], []
    for r in reforms.itertuples():
        rows = series(world, r.region_code, r.fund)
        d = _yoy(rows["expenditure"].to_numpy(dtype=float), rows["month"].to_numpy())
        t = position(rows, r.start_month)
        step = np.nanmean(d[t : t + 12]) - np.nanmean(d[t + 12 : t + 24])
        steps.append(step)
        errors.append(step - r.magnitude)
    assert abs(float(np.median(errors))) < 0.03
    assert sum(s > 0.03 for s in steps) >= 18
    # a city's counties reform in the same month
    by_city = reforms.assign(city=reforms["region_code"].str[:4]).groupby("city")["start_month"]
    assert (by_city.nunique() == 1).all()


def test_late_subsidies_arrive_as_one_lump_in_the_next_year(world: DemoWorld) -> None:
    late = world.truth[world.truth["kind"] == "late_subsidy"]
    assert len(late) >= 10
    for r in late.itertuples():
        rows = series(world, r.region_code, r.fund)
        subsidy = rows["income_subsidy"].to_numpy()
        due, paid = position(rows, r.start_month), position(rows, r.end_month)
        year_end = position(rows, r.start_month[:4] + "-12")
        # nothing from the first late lump to the year's end; the money in one month later
        assert (subsidy[due : year_end + 1] == 0).all()
        assert r.end_month[:4] == str(int(r.start_month[:4]) + 1)
        assert r.end_month[5:] in {"02", "03", "04"}
        assert subsidy[paid] >= round(r.magnitude * 100) - 1  # fen
        # the year's first lump came on time
        assert subsidy[position(rows, r.start_month[:4] + "-01") : due].sum() > 0


def test_declining_enrolment_is_in_the_head_counts_and_the_income(world: DemoWorld) -> None:
    decline = world.truth[world.truth["kind"] == "enrolment_decline"]
    assert 3 <= len(decline) <= 17
    declining = set(decline["region_code"])
    for code in world.regions.loc[world.regions["level"] == "county", "region_code"]:
        rows = series(world, code, "resident")
        insured = rows["insured"].to_numpy(dtype=float)
        by_year = insured.reshape(-1, 12)
        assert (by_year == by_year[:, :1]).all()  # resident enrolment is per year
        yearly = by_year[:, 0]
        if code in declining:
            rate = float(decline.loc[decline["region_code"] == code, "magnitude"].iloc[0])
            assert rate < -0.019
            assert (np.diff(yearly) < 0).all()
            assert yearly[-1] / yearly[0] == pytest.approx(np.exp(rate * 8), rel=0.01)
        else:
            assert (yearly == yearly[0]).all()
    # their resident income grows slower than the others'
    res = world.ledger[world.ledger["fund"] == "resident"]
    income = res.groupby(["region_code", res["month"].str[:4]])["income"].sum().unstack()
    growth = np.log(income["2024"] / income["2017"])
    is_declining = growth.index.isin(list(declining))
    assert growth[is_declining].mean() < growth[~is_declining].mean() - 0.1


def test_resident_contributions_are_seasonal(world: DemoWorld) -> None:
    """Collected Sep–Dec for the next year and in Jan–Feb; a trickle in Mar–Aug."""
    res = world.ledger[world.ledger["fund"] == "resident"]
    month = res["month"].str[5:].astype(int)
    quiet = res.loc[month.between(3, 8), "income_contribution"].sum()
    assert quiet / res["income_contribution"].sum() < 0.04
    employee = world.ledger[world.ledger["fund"] == "employee"]
    e_month = employee["month"].str[5:].astype(int)
    share = employee.loc[e_month.between(3, 8), "income_contribution"].sum()
    assert 0.45 < share / employee["income_contribution"].sum() < 0.55


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        stress_province(0, 5)
    with pytest.raises(ValueError):
        stress_province(start="2023-01", end="2024-12")
