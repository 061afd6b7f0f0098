"""Synthetic ledgers (monitor.demo.data) and the files written from them (monitor.demo.files)."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from monitor.core.columns import AMOUNTS, BY_NAME, COUNTS
from monitor.core.money import yuan_text
from monitor.demo import files as demo_files
from monitor.demo.data import (
    EXPENDITURE_PARTS,
    INCOME_PARTS,
    LEDGER_COLUMNS,
    PROVINCE_CODES,
    REFERENCE_2023,
    SPRING_FESTIVAL_MONTH,
    TRUTH_COLUMNS,
    DemoWorld,
    demo_city,
    synthetic_world,
)
from monitor.demo.files import write_canonical_csv, write_office_workbook

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
YI_FEN = 100_000_000 * 100
SERIES = ["region_code", "fund"]


@pytest.fixture(scope="module")
def city() -> DemoWorld:
    return demo_city()


@pytest.fixture(scope="module")
def world() -> DemoWorld:
    return synthetic_world(2, 3, 4, seed=11)


@pytest.fixture(scope="module")
def bigger() -> DemoWorld:
    # 31 × 4 × 4 counties × 3 funds = 1,488 series: enough for the trouble shares
    return synthetic_world(31, 4, 4, seed=5)


def payable_months(ledger: pd.DataFrame) -> pd.Series:
    """DESIGN.md: balance ÷ (sum of the last 12 months' expenditure ÷ 12)."""
    last12 = ledger.groupby(SERIES, sort=False)["expenditure"].transform(
        lambda s: s.rolling(12).sum()
    )
    return ledger["balance"] / (last12 / 12)


def at_month(ledger: pd.DataFrame, month: str) -> pd.DataFrame:
    rows = ledger.assign(payable=payable_months(ledger))
    return rows[rows["month"] == month].set_index(SERIES)


def ytd(ledger: pd.DataFrame, year: int) -> pd.DataFrame:
    rows = ledger[ledger["month"].str.startswith(str(year))]
    return rows.groupby(SERIES)[["income", "expenditure"]].sum()


def with_calendar(ledger: pd.DataFrame) -> pd.DataFrame:
    return ledger.assign(
        year=ledger["month"].str[:4].astype(int), mon=ledger["month"].str[5:].astype(int)
    )


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_frames(city: DemoWorld) -> None:
    again = demo_city()
    pd.testing.assert_frame_equal(city.regions, again.regions)
    pd.testing.assert_frame_equal(city.ledger, again.ledger)
    pd.testing.assert_frame_equal(city.truth, again.truth)
    a, b = synthetic_world(1, 2, 2, seed=3), synthetic_world(1, 2, 2, seed=3)
    pd.testing.assert_frame_equal(a.ledger, b.ledger)
    pd.testing.assert_frame_equal(a.truth, b.truth)


def test_other_seed_gives_other_numbers(city: DemoWorld) -> None:
    other = demo_city(seed=1)
    assert not city.ledger["expenditure"].equals(other.ledger["expenditure"])
    a, b = synthetic_world(1, 2, 2, seed=3), synthetic_world(1, 2, 2, seed=4)
    assert not a.ledger["income"].equals(b.ledger["income"])


# --------------------------------------------------------------------------- shape and dtypes


@pytest.mark.parametrize("name", ["city", "world"])
def test_ledger_columns_and_dtypes(name: str, request: pytest.FixtureRequest) -> None:
    ledger = request.getfixturevalue(name).ledger
    assert tuple(ledger.columns) == LEDGER_COLUMNS
    for col in AMOUNTS:
        assert ledger[col].dtype == np.int64, col
    for col in COUNTS:
        assert ledger[col].dtype == "Int64", col
    assert ledger["region_code"].str.fullmatch(r"\d{6}").all()
    assert ledger["month"].str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])").all()
    assert not ledger.duplicated(["region_code", "fund", "month"]).any()
    employee = ledger["fund"] == "employee"
    assert ledger.loc[~employee, ["insured_active", "insured_retired"]].isna().all().all()
    emp = ledger[employee]
    assert (emp["insured_active"] + emp["insured_retired"] == emp["insured"]).all()
    assert ledger["insured"].notna().all() and (ledger["insured"] > 0).all()


@pytest.mark.parametrize("name", ["city", "world"])
def test_every_series_reconciles_exactly(name: str, request: pytest.FixtureRequest) -> None:
    ledger = request.getfixturevalue(name).ledger
    prev = ledger.groupby(SERIES, sort=False)["balance"].shift()
    later = prev.notna()
    expected = prev[later].astype(np.int64) + ledger["income"][later] - ledger["expenditure"][later]
    assert (ledger["balance"][later] == expected).all()


@pytest.mark.parametrize("name", ["city", "world"])
def test_detail_columns_sum_exactly(name: str, request: pytest.FixtureRequest) -> None:
    ledger = request.getfixturevalue(name).ledger
    assert (ledger[list(INCOME_PARTS)].sum(axis=1) == ledger["income"]).all()
    assert (ledger[list(EXPENDITURE_PARTS)].sum(axis=1) == ledger["expenditure"]).all()
    assert (ledger[[*INCOME_PARTS, *EXPENDITURE_PARTS]] >= 0).all().all()


# --------------------------------------------------------------------------- the demo city


def test_demo_regions(city: DemoWorld) -> None:
    regions = city.regions.set_index("region_code")
    assert list(regions.index) == ["340000", "341700", "341702", "341721", "341722", "341723"]
    assert regions.loc["340000", "level"] == "province"
    assert pd.isna(regions.loc["340000", "parent_code"])
    assert regions.loc["341700", ["region_name", "parent_code", "level"]].tolist() == [
        "池州市", "340000", "city",
    ]  # fmt: skip
    counties = regions[regions["level"] == "county"]
    assert counties["region_name"].tolist() == ["贵池区", "东至县", "石台县", "青阳县"]
    assert (counties["parent_code"] == "341700").all()
    # ledgers only for county-level regions, both funds, 2016-01..2024-12
    ledger = city.ledger
    assert set(ledger["region_code"]) == set(counties.index)
    assert (ledger["parent_code"] == "341700").all() and (ledger["parent_name"] == "池州市").all()
    assert set(ledger["fund"]) == {"employee", "resident"}
    assert ledger["month"].min() == "2016-01" and ledger["month"].max() == "2024-12"
    assert len(ledger) == 4 * 2 * 108


def test_demo_counties_have_different_sizes(city: DemoWorld) -> None:
    spend = ytd(city.ledger, 2023)["expenditure"].groupby(level=0).sum()
    assert spend.nunique() == 4
    assert spend.max() / spend.min() > 4  # 贵池区 against 石台县


def test_city_2023_totals_match_the_reference(city: DemoWorld) -> None:
    totals = ytd(city.ledger, 2023).sum() / YI_FEN
    balance = city.ledger.loc[city.ledger["month"] == "2023-12", "balance"].sum() / YI_FEN
    assert totals["income"] == pytest.approx(REFERENCE_2023["income"], rel=0.02)
    assert totals["expenditure"] == pytest.approx(REFERENCE_2023["expenditure"], rel=0.02)
    assert totals["income"] - totals["expenditure"] == pytest.approx(2.86, rel=0.02)
    assert balance == pytest.approx(REFERENCE_2023["balance"], rel=0.02)


PAYABLE_BANDS = {
    ("341721", "resident"): (1.5, 3.0),  # red
    ("341722", "resident"): (3.5, 5.5),  # orange
    ("341723", "employee"): (6.5, 8.5),  # yellow (with a 2024 deficit)
    ("341702", "employee"): (16.0, 40.0),  # excess-balance notice
    ("341702", "resident"): (9.0, 15.0),
    ("341721", "employee"): (9.0, 15.0),
    ("341722", "employee"): (9.0, 15.0),
    ("341723", "resident"): (9.0, 15.0),
}


def test_payable_months_at_2024_12(city: DemoWorld) -> None:
    dec = at_month(city.ledger, "2024-12")["payable"]
    for key, (low, high) in PAYABLE_BANDS.items():
        assert low < dec[key] < high, (key, dec[key])


def test_ytd_deficits_in_2024(city: DemoWorld) -> None:
    year = ytd(city.ledger, 2024)
    deficit = year["income"] < year["expenditure"]
    assert deficit[("341721", "resident")] and deficit[("341723", "employee")]
    # 石台县 resident runs about even (orange either way); every other series has a surplus
    others = deficit.drop([("341721", "resident"), ("341723", "employee"), ("341722", "resident")])
    assert not others.any()


def test_dongzhi_resident_drifts_into_trouble(city: DemoWorld) -> None:
    key = ("341721", "resident")
    decembers = [at_month(city.ledger, f"{y}-12")["payable"][key] for y in range(2020, 2025)]
    assert decembers == sorted(decembers, reverse=True)  # falling every year since 2020
    assert decembers[0] > 6
    ratio = ytd(city.ledger, 2020).loc[key] / ytd(city.ledger, 2024).loc[key]
    assert ratio["expenditure"] < ratio["income"]  # spending outgrew income


def test_every_colour_at_2024_12(city: DemoWorld) -> None:
    """The default profile's current-value rules (DESIGN.md, Risk levels)."""
    dec = at_month(city.ledger, "2024-12")
    year = ytd(city.ledger, 2024)
    levels, notices = {}, set()
    for key, months in dec["payable"].items():
        in_deficit = year.loc[key, "income"] < year.loc[key, "expenditure"]
        if months < 3:
            levels[key] = "red"
        elif months < 6:
            levels[key] = "orange"
        elif months < 9 and in_deficit:
            levels[key] = "yellow"
        else:
            levels[key] = "green"
        if months > 15:
            notices.add(key)
    assert levels == {
        ("341702", "employee"): "green",
        ("341702", "resident"): "green",
        ("341721", "employee"): "green",
        ("341721", "resident"): "red",
        ("341722", "employee"): "green",
        ("341722", "resident"): "orange",
        ("341723", "employee"): "yellow",
        ("341723", "resident"): "green",
    }
    assert notices == {("341702", "employee")}


def test_demo_balances_stay_positive(city: DemoWorld) -> None:
    assert (city.ledger["balance"] > 0).all()


def test_demo_truth_names_the_drifting_series(city: DemoWorld) -> None:
    truth = city.truth.set_index(SERIES)
    assert tuple(city.truth.columns) == TRUTH_COLUMNS
    drifting = truth[truth["kind"] == "drift"]
    assert set(drifting.index) == {("341721", "resident"), ("341723", "employee")}
    assert drifting.loc[("341721", "resident"), "start_month"] == "2021-01"


# --------------------------------------------------------------------------- shapes


def test_2020_dip(city: DemoWorld) -> None:
    rows = with_calendar(city.ledger)
    feb_apr = rows[rows["mon"].between(2, 4)].groupby([*SERIES, "year"])["expenditure"].sum()
    assert (feb_apr.xs(2020, level="year") < feb_apr.xs(2019, level="year")).all()
    emp = rows[(rows["fund"] == "employee") & rows["mon"].between(2, 6)]
    contributions = emp.groupby([*SERIES, "year"])["income_contribution"].sum()
    assert (contributions.xs(2020, level="year") < contributions.xs(2019, level="year")).all()


def test_2023_employee_reform_level_shift(city: DemoWorld) -> None:
    emp = city.ledger[city.ledger["fund"] == "employee"]
    y22 = ytd(emp, 2022)
    y23 = ytd(emp, 2023)
    assert (y23["income"] > 1.1 * y22["income"]).all()
    outpatient = {
        y: emp[emp["month"].str.startswith(str(y))].groupby("region_code")["exp_outpatient"].sum()
        for y in (2022, 2023)
    }
    assert (outpatient[2023] > 1.3 * outpatient[2022]).all()
    # no such jump for residents
    res = city.ledger[city.ledger["fund"] == "resident"]
    assert (ytd(res, 2023)["income"] < 1.15 * ytd(res, 2022)["income"]).all()


@pytest.mark.parametrize("name", ["city", "world"])
def test_spring_festival_dip_and_december_peak(name: str, request: pytest.FixtureRequest) -> None:
    rows = with_calendar(request.getfixturevalue(name).ledger)
    peak = dip = total = 0
    for (_, _, year), g in rows.groupby([*SERIES, "year"]):
        spend = g.set_index("mon")["expenditure"]
        if len(spend) < 12:
            continue
        total += 1
        peak += spend.idxmax() == 12
        festival = SPRING_FESTIVAL_MONTH[year]
        others = spend.drop([festival, 12])
        dip += spend[festival] < 0.95 * others.mean()
    assert peak / total > 0.95
    assert dip / total > 0.95


def test_resident_income_arrives_in_collection_periods_and_lumps(city: DemoWorld) -> None:
    rows = with_calendar(city.ledger)
    res = rows[(rows["fund"] == "resident") & (rows["year"] == 2023)]
    by_month = res.groupby("mon")[["income_contribution", "income_subsidy", "income_interest"]]
    sums = by_month.sum()
    collected = sums.loc[[9, 10, 11, 12, 1, 2], "income_contribution"].sum()
    assert collected / sums["income_contribution"].sum() > 0.9
    lumps = res.groupby("region_code")["income_subsidy"].apply(lambda s: (s > 0).sum())
    assert (lumps == 3).all()
    assert (sums["income_interest"].drop(12) == 0).all()  # resident interest: once a year
    emp = rows[(rows["fund"] == "employee") & (rows["year"] == 2023)]
    interest_months = set(emp.loc[emp["income_interest"] > 0, "mon"])
    assert interest_months == {3, 6, 9, 12}  # employee interest: quarterly


def test_retirees_share_rises(city: DemoWorld) -> None:
    emp = city.ledger[city.ledger["fund"] == "employee"].set_index(["region_code", "month"])
    share = emp["insured_retired"] / emp["insured"]
    assert (share.xs("2024-12", level=1) > share.xs("2016-01", level=1) + 0.04).all()


# --------------------------------------------------------------------------- synthetic world


def test_synthetic_world_sizes_and_codes(world: DemoWorld) -> None:
    regions = world.regions
    assert regions["level"].value_counts().to_dict() == {"county": 24, "city": 6, "province": 2}
    assert regions["region_code"].str.fullmatch(r"\d{6}").all()
    assert regions["region_code"].is_unique
    by_code = regions.set_index("region_code")
    for code, row in by_code.iterrows():
        if row["level"] == "province":
            assert pd.isna(row["parent_code"]) and code.endswith("0000")
            assert code[:2] in PROVINCE_CODES
        elif row["level"] == "city":
            assert code.endswith("00") and row["parent_code"] == code[:2] + "0000"
            assert by_code.loc[row["parent_code"], "level"] == "province"
        else:
            assert code[4:] != "00" and row["parent_code"] == code[:4] + "00"
            assert by_code.loc[row["parent_code"], "level"] == "city"
    counties = set(by_code.index[by_code["level"] == "county"])
    ledger = world.ledger
    assert set(ledger["region_code"]) == counties
    assert len(ledger) == 24 * 3 * 108
    assert "110101" in counties and "120304" in counties
    assert by_code.loc["110101", "region_name"] == "合成县110101"
    parents = ledger.drop_duplicates("region_code").set_index("region_code")
    assert (parents["parent_name"] == parents["parent_code"].map(by_code["region_name"])).all()


def test_synthetic_truth(bigger: DemoWorld) -> None:
    truth = bigger.truth
    assert tuple(truth.columns) == TRUTH_COLUMNS
    assert len(truth) == bigger.ledger.groupby(SERIES).ngroups == 31 * 4 * 4 * 3
    share = truth["kind"].value_counts(normalize=True)
    assert 0.07 < share["drift"] < 0.13
    assert 0.03 < share["shock"] < 0.07
    assert 0.02 < share["recovery"] < 0.07
    troubled = truth[truth["kind"] != "none"]
    assert troubled["start_month"].str.fullmatch(r"\d{4}-\d{2}").all()
    assert truth.loc[truth["kind"] == "none", "start_month"].isna().all()
    recovered = truth[truth["kind"] == "recovery"]
    assert (recovered["end_month"] > recovered["start_month"]).all()
    assert truth.loc[truth["kind"] != "recovery", "end_month"].isna().all()


def test_injected_trouble_shows_in_the_data(bigger: DemoWorld) -> None:
    dec = at_month(bigger.ledger, "2024-12")["payable"]
    kinds = bigger.truth.set_index(SERIES)["kind"]
    median = dec.groupby(kinds.reindex(dec.index)).median()
    assert median["none"] > 10
    assert median["drift"] < median["none"] - 5
    assert median["shock"] < median["none"] - 5
    # a shock is a step: spending in the 6 months after it against the same months a year
    # before rises far more than for healthy series
    rows = bigger.ledger.set_index([*SERIES, "month"])["expenditure"].sort_index()
    truth = bigger.truth
    shocks = truth[(truth["kind"] == "shock") & (truth["start_month"] <= "2024-01")]
    months = pd.period_range("2016-01", "2024-12", freq="M").strftime("%Y-%m").tolist()
    jumps = []
    for _, row in shocks.iterrows():
        i = months.index(row["start_month"])
        after = rows.loc[(row["region_code"], row["fund"])].iloc[i : i + 6].sum()
        before = rows.loc[(row["region_code"], row["fund"])].iloc[i - 12 : i - 6].sum()
        jumps.append(after / before)
    assert np.median(jumps) > 1.2


def test_synthetic_world_other_funds_and_months() -> None:
    w = synthetic_world(1, 1, 2, funds=("employee", "long_term_care"), start="2020-07",
                        end="2021-06", seed=1)  # fmt: skip
    assert len(w.ledger) == 2 * 2 * 12
    assert set(w.ledger["fund"]) == {"employee", "long_term_care"}
    assert w.ledger["month"].iloc[0] == "2020-07"
    ltc = w.ledger[w.ledger["fund"] == "long_term_care"]
    assert ltc["insured_active"].isna().all()


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((32, 1, 1), {}), ((1, 0, 1), {}), ((1, 1, 100), {}), ((1, 1, 1), {"end": "2015-12"})],
)
def test_synthetic_world_refuses_bad_sizes(args: tuple[int, int, int], kwargs: dict) -> None:
    with pytest.raises(ValueError):
        synthetic_world(*args, **kwargs)


# --------------------------------------------------------------------------- files


def small(city: DemoWorld) -> pd.DataFrame:
    return city.ledger[city.ledger["month"] >= "2024-01"]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_canonical_csv_reads_back_exact_yuan(
    city: DemoWorld, tmp_path: Path, encoding: str
) -> None:
    ledger = small(city)
    path = write_canonical_csv(ledger, tmp_path / "ledger.csv", encoding=encoding)
    text = pd.read_csv(path, dtype=str, encoding=encoding, keep_default_na=False)
    assert list(text.columns[:9]) == [
        "region_code", "region_name", "parent_code", "parent_name", "fund", "month",
        "income", "expenditure", "balance",
    ]  # fmt: skip
    assert list(text.columns) == list(LEDGER_COLUMNS)
    for col in AMOUNTS:
        assert text[col].tolist() == [yuan_text(v) for v in ledger[col]], col
    numbers = pd.read_csv(path, dtype={"region_code": str, "parent_code": str}, encoding=encoding)
    for col in AMOUNTS:
        assert (numbers[col].to_numpy() == ledger[col].to_numpy() / 100).all(), col
    assert text["month"].tolist() == ledger["month"].tolist()
    assert text["region_code"].tolist() == ledger["region_code"].tolist()
    resident = text["fund"] == "resident"
    assert (text.loc[resident, "insured_active"] == "").all()
    assert text.loc[~resident, "insured_active"].str.fullmatch(r"\d+").all()


def test_canonical_csv_negative_and_missing_amounts(tmp_path: Path) -> None:
    ledger = pd.DataFrame(
        {
            "region_code": ["341702"] * 3,
            "fund": ["resident"] * 3,
            "month": pd.period_range("2024-01", periods=3, freq="M"),
            "income": pd.array([5, -105, 123456789], dtype="Int64"),
            "expenditure": pd.array([0, None, 1], dtype="Int64"),
            "balance": [-1, -100, 99],
        }
    )
    path = write_canonical_csv(ledger, tmp_path / "x.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "region_code,fund,month,income,expenditure,balance"
    assert lines[1:] == [
        "341702,resident,2024-01,0.05,0.00,-0.01",
        "341702,resident,2024-02,-1.05,,-1.00",
        "341702,resident,2024-03,1234567.89,0.01,0.99",
    ]


def hundredths_of_wan(fen: int) -> float:
    """Half away from zero, from the integer: fen ÷ 1e6 to 2 decimals."""
    q = (abs(fen) + 5000) // 10000
    return (q if fen >= 0 else -q) / 100


def test_office_workbook_layout(city: DemoWorld, tmp_path: Path) -> None:
    ledger = small(city)
    title = "池州市基本医疗保险基金收支月报（演示数据）"
    path = write_office_workbook(
        ledger, tmp_path / "book.xlsx", title=title, made_on=dt.date(2025, 1, 10)
    )
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["职工医保", "居民医保"]
    ws = wb["职工医保"]
    n_cols = len(LEDGER_COLUMNS)
    last = openpyxl.utils.get_column_letter(n_cols)
    assert [str(r) for r in ws.merged_cells.ranges] == [f"A1:{last}1"]
    assert ws["A1"].value == f"{title}（单位：万元）"
    assert all(c.value is None for c in ws[2])
    header = [c.value for c in ws[3]]
    assert header == [BY_NAME[name].label for name in LEDGER_COLUMNS]
    assert header[:9] == [
        "统筹区编码", "统筹区名称", "上级编码", "上级名称", "险种", "月份",
        "本期收入", "本期支出", "期末累计结余",
    ]  # fmt: skip
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=4)]
    footer = rows[-1][0]
    assert footer == "制表：基金科　审核：财务科　制表日期：2025年1月10日"
    assert all(v is None for v in rows[-2])
    body = rows[:-2]
    totals = [r for r in body if r[0] == "合计"]
    data = [r for r in body if r[0] != "合计"]
    assert len(totals) == 12 and len(data) == 4 * 12
    assert body[4][0] == "合计" and body[4][5] == "2024年1月"  # after the four counties
    first = data[0]
    source = ledger[(ledger["fund"] == "employee") & (ledger["month"] == "2024-01")].iloc[0]
    assert first[:6] == ["341702", "贵池区", "341700", "池州市", "职工医保", "2024年1月"]
    col = {name: i for i, name in enumerate(LEDGER_COLUMNS)}
    for name in AMOUNTS:
        assert isinstance(first[col[name]], (int, float)), name
        assert first[col[name]] == hundredths_of_wan(int(source[name])), name
    assert first[col["insured"]] == source["insured"]
    block = ledger[(ledger["fund"] == "employee") & (ledger["month"] == "2024-01")]
    total = body[4]
    assert total[col["balance"]] == hundredths_of_wan(int(block["balance"].sum()))
    assert total[col["insured_retired"]] == block["insured_retired"].sum()
    resident = [r for r in wb["居民医保"].iter_rows(min_row=4, values_only=True) if r[4]]
    assert {r[4] for r in resident} == {"居民医保"}
    assert all(r[col["insured_active"]] is None for r in resident)


def test_office_workbook_one_sheet_and_other_unit(city: DemoWorld, tmp_path: Path) -> None:
    ledger = small(city)
    path = write_office_workbook(
        ledger, tmp_path / "one.xlsx", title="月报", unit="亿元", sheet_per_fund=False
    )
    wb = openpyxl.load_workbook(path)
    assert len(wb.sheetnames) == 1
    ws = wb.worksheets[0]
    assert ws["A1"].value == "月报（单位：亿元）"
    body = list(ws.iter_rows(min_row=4, values_only=True))[:-2]
    assert sum(r[0] == "合计" for r in body) == 24  # one per month and fund
    assert len(body) == len(ledger) + 24
    with pytest.raises(ValueError):
        write_office_workbook(ledger, tmp_path / "bad.xlsx", title="x", unit="美元")


def test_office_workbook_streamed_mode(
    city: DemoWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo_files, "WRITE_ONLY_ABOVE_ROWS", 0)
    ledger = small(city)
    path = write_office_workbook(ledger, tmp_path / "big.xlsx", title="月报")
    normal = write_office_workbook(
        ledger.iloc[:0], tmp_path / "empty.xlsx", title="月报"
    )  # nothing to write is still a valid workbook
    wb = openpyxl.load_workbook(path)
    ws = wb["职工医保"]
    last = openpyxl.utils.get_column_letter(len(LEDGER_COLUMNS))
    assert [str(r) for r in ws.merged_cells.ranges] == [f"A1:{last}1"]
    assert ws["A3"].value == "统筹区编码"
    assert ws.cell(ws.max_row, 1).value.startswith("制表：")
    assert ws["G4"].number_format == "#,##0.00"
    assert openpyxl.load_workbook(normal).sheetnames == ["全部险种"]


# --------------------------------------------------------------------------- examples


def test_examples_are_current(city: DemoWorld, tmp_path: Path) -> None:
    """examples/ holds what make_examples.py writes today (re-run it after a change)."""
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fresh_csv, fresh_book = module.main(tmp_path)
    assert (EXAMPLES / "ledger.csv").read_text() == fresh_csv.read_text()
    ours = openpyxl.load_workbook(EXAMPLES / "office_workbook.xlsx")
    new = openpyxl.load_workbook(fresh_book)
    assert ours.sheetnames == new.sheetnames == ["职工医保", "居民医保"]
    for name in ours.sheetnames:
        a = list(ours[name].iter_rows(values_only=True))
        b = list(new[name].iter_rows(values_only=True))
        assert a == b
    title = "池州市基本医疗保险基金收支月报（演示数据）"
    assert ours["职工医保"]["A1"].value == f"{title}（单位：万元）"
    months = pd.read_csv(EXAMPLES / "ledger.csv", dtype=str)["month"]
    assert months.min() == "2023-01" and months.max() == "2024-12"
