"""Months far outside their own series' pattern (monitor.core.aberrant): what the default
flags, measured as if every month had been imported last, on the demo city (nothing, by
contract: the demo must hold no alert) and a synthetic province (next to nothing); what it
catches (a month keyed ×3, ×2, ×⅓); what it leaves alone (a confirmed spike's echo a year
later, old months, non-positive amounts); and the store side: a flagged month pending, kept
pending or confirmed on re-import, cleared by a correction, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from monitor.config.sections import ImportSettings
from monitor.config.settings import Config
from monitor.core.aberrant import (
    AberrantMonth,
    Aberration,
    Review,
    aberrant_findings,
    aberrant_months,
    month_reads,
    reviews_by_fund,
)
from monitor.demo.data import EXPENDITURE_PARTS, demo_city, synthetic_world
from monitor.demo.files import write_canonical_csv
from monitor.ledger.importer import import_files
from monitor.store.reviews import confirm_review, pending_reviews
from monitor.store.schema import import_findings, ledger_reviews

Z = ImportSettings().aberrant_z
COLUMNS = ["region_code", "fund", "month", "income", "expenditure"]
NOW = dt.datetime(2025, 1, 6, 1, 0, tzinfo=dt.UTC)


def every_month(ledger: pd.DataFrame, z: float = Z) -> list[Aberration]:
    """Every month from the third year on judged once, as if it had been imported last: a
    month is judged on what came before it, and an import judges its series' latest 12."""
    frame = ledger[COLUMNS]
    first, last = int(frame["month"].min()[:4]), int(frame["month"].max()[:4])
    found: list[Aberration] = []
    for year in range(first + 1, last + 1):
        found += aberrant_months(frame[frame["month"] <= f"{year}-12"].assign(incoming=True), z=z)
    return found


def judged(ledger: pd.DataFrame) -> int:
    first = int(ledger["month"].min()[:4])
    return int((ledger["month"] >= f"{first + 2}-01").sum()) * 2  # income and expenditure


def with_month(
    ledger: pd.DataFrame, code: str, fund: str, month: str, factor: float
) -> pd.DataFrame:
    rows = ledger[COLUMNS].copy()
    at = (rows["region_code"] == code) & (rows["fund"] == fund) & (rows["month"] == month)
    rows.loc[at, "expenditure"] = (rows.loc[at, "expenditure"] * factor).round().astype("int64")
    return rows


def test_the_default_flags_no_month_of_the_demo_city() -> None:
    assert Z == 6.0
    assert every_month(demo_city().ledger) == []


def test_a_synthetic_province_with_its_seasonal_lumps_flags_almost_nothing() -> None:
    world = synthetic_world(1, 12, 8)  # 96 counties × 3 funds, 2016–2024, shocks and drifts
    found = every_month(world.ledger)
    # measured: 0 of 48,384 amounts (2 of every ~1.4 million on the whole synthetic country)
    assert len(found) <= judged(world.ledger) // 10_000, found


@pytest.mark.parametrize("factor", [3.0, 2.0, 1 / 3])
def test_a_month_keyed_wrong_is_caught_in_every_demo_series(factor: float) -> None:
    ledger = demo_city().ledger
    for (code, fund), _ in ledger.groupby(["region_code", "fund"]):
        rows = with_month(ledger, code, fund, "2024-06", factor)
        found = aberrant_months(rows.assign(incoming=rows["month"] == "2024-06"), z=Z)
        assert [(a.region_code, a.fund, a.month, a.column) for a in found] == [
            (code, fund, "2024-06", "expenditure")
        ], (code, fund)
        assert found[0].ratio == pytest.approx(factor, rel=0.25)
        assert abs(found[0].z) >= Z


def test_a_confirmed_spike_is_not_flagged_again_a_year_later_nor_an_old_month_now() -> None:
    ledger = demo_city().ledger
    rows = with_month(ledger, "341721", "employee", "2023-06", 3.0)
    # a year later, June is far from last June (×⅓) but not from the past year: not flagged
    june = rows.assign(incoming=rows["month"] == "2024-06")
    assert aberrant_months(june, z=Z) == []
    # the wrong month itself, re-sent with the whole history: older than the latest 12
    assert aberrant_months(rows.assign(incoming=True), z=Z) == []
    assert aberrant_months(rows.assign(incoming=rows["month"] == "2023-06"), z=0) == []


def test_amounts_not_positive_or_without_two_years_are_not_judged() -> None:
    ledger = demo_city().ledger
    rows = with_month(ledger, "341721", "employee", "2024-06", 0.0)
    assert aberrant_months(rows.assign(incoming=rows["month"] == "2024-06"), z=Z) == []
    young = with_month(ledger[ledger["month"] < "2017-10"], "341721", "employee", "2017-09", 5)
    assert aberrant_months(young.assign(incoming=True), z=Z) == []


def test_the_import_warning_names_the_month_the_fix_and_keeps_the_figures() -> None:
    rows = with_month(demo_city().ledger, "341723", "employee", "2024-12", 3.0)
    rows = rows.assign(incoming=rows["month"] == "2024-12", file="十二月.csv", row=7)
    (finding,) = aberrant_findings(rows, z=Z)
    assert isinstance(finding, AberrantMonth) and finding.code == "aberrant"
    assert (finding.file, finding.row, finding.column) == ("十二月.csv", 7, "expenditure")
    assert "已标记为待核实" in finding.message
    assert "fundmon ledger confirm --region 341723 --fund employee --month 2024-12" in (
        finding.message
    )
    assert "aberrations" not in finding.as_dict()  # import_findings has no such column
    (a,) = finding.aberrations
    at = rows[(rows["region_code"] == "341723") & (rows["fund"] == "employee")]
    assert a.value == int(at.loc[at["month"] == "2024-12", "expenditure"].iloc[0])
    assert a.ratio == pytest.approx(3.0, rel=0.1)
    assert "倍（稳健 z 值" in a.text("zh") and "robust z" in a.text("en")


def test_a_review_reaches_its_roll_ups_and_the_twelve_months_that_read_it() -> None:
    review = Review(1, "341723", "employee", "2024-12", "pending", ())
    parents = {"341723": "341700", "341700": "340000", "340000": None}
    by_fund = reviews_by_fund([review], parents)
    assert set(by_fund) == {("341723", "employee"), ("341700", "employee"), ("340000", "employee")}
    assert month_reads("2024-12", "2024-12") and month_reads("2024-12", "2025-11")
    assert not month_reads("2024-12", "2025-12") and not month_reads("2024-12", "2024-11")


# ---------------------------------------------------------------- the store, through imports
def _import(engine: Engine, config: Config, frame: pd.DataFrame, path: Path) -> int:
    write_canonical_csv(frame, path)
    result = import_files(engine, [path], config=config, unit="元", now=NOW)
    assert result.import_id is not None
    return result.import_id


def test_flagged_kept_confirmed_and_cleared_on_both_backends(
    engine: Engine, config: Config, tmp_path: Path
) -> None:
    ledger = demo_city().ledger
    _import(engine, config, ledger[ledger["month"] < "2024-12"], tmp_path / "history.csv")
    with engine.connect() as conn:
        assert conn.execute(select(ledger_reviews)).all() == []  # the demo holds nothing

    december = ledger[ledger["month"] == "2024-12"].copy()
    at = (december["region_code"] == "341723") & (december["fund"] == "employee")
    wrong = december.copy()
    for column in ("expenditure", *EXPENDITURE_PARTS):
        wrong.loc[at, column] = wrong.loc[at, column] * 3
    first = _import(engine, config, wrong, tmp_path / "wrong.csv")
    with engine.connect() as conn:
        (review,) = pending_reviews(conn)
        codes = [r.code for r in conn.execute(select(import_findings.c.code))]
    assert (review.region_code, review.fund, review.month) == ("341723", "employee", "2024-12")
    assert review.region_name == "青阳县" and "aberrant" in codes
    assert review.aberrations[0].column == "expenditure"

    _import(engine, config, wrong, tmp_path / "again.csv")  # the same file again: still pending
    with engine.connect() as conn:
        row = conn.execute(select(ledger_reviews)).one()
    assert (row.status, row.import_id) == ("pending", first)

    with engine.begin() as conn:
        confirm_review(
            conn, region_code="341723", fund="employee", month="2024-12", by="李四", note="",
            now=NOW,
        )  # fmt: skip
    _import(engine, config, wrong, tmp_path / "third.csv")  # confirmed figures again: confirmed
    with engine.connect() as conn:
        assert conn.execute(select(ledger_reviews.c.status)).scalar_one() == "confirmed"

    worse = december.copy()
    worse.loc[at, "expenditure"] = worse.loc[at, "expenditure"] * 4
    _import(engine, config, worse, tmp_path / "worse.csv")  # other figures, again aberrant
    with engine.connect() as conn:
        row = conn.execute(select(ledger_reviews)).one()
    assert (row.status, row.decided_by) == ("pending", None)

    fixed = _import(engine, config, december, tmp_path / "fixed.csv")  # corrected: cleared
    with engine.connect() as conn:
        row = conn.execute(select(ledger_reviews)).one()
        assert pending_reviews(conn) == []
    assert (row.status, row.decided_import_id) == ("cleared", fixed)
