"""`evaluate_store(changed_only=True)`: only changed funds, the same rows as a full run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from monitor.config.settings import Config, ForecastSettings
from monitor.core.evaluation import FundResult
from monitor.demo.data import synthetic_world
from monitor.demo.files import write_canonical_csv
from monitor.demo.run import store_regions
from monitor.ledger.importer import import_files
from monitor.pipeline.evaluate import StoreEvaluation, evaluate_store
from monitor.store.db import open_store
from monitor.store.schema import evaluations

NOW = dt.datetime(2024, 1, 15, 9, 0, tzinfo=dt.UTC)
# a small country: 2 counties under one city under one province, two funds (8 funds with the
# roll-ups); forecasts kept small so the test stays quick
FORECAST = ForecastSettings(horizon=12, paths=200, seed=3, workers=2)


def small_world() -> tuple[pd.DataFrame, pd.DataFrame]:
    world = synthetic_world(1, 1, 2, funds=("employee", "resident"), start="2019-01", end="2023-12")
    return world.regions, world.ledger


def corrected(ledger: pd.DataFrame, county: str, month: str) -> pd.DataFrame:
    """`county`'s `month` re-issued with 20 % more expenditure (balances carried forward)."""
    out = ledger.copy()
    rows = (out["region_code"] == county) & (out["fund"] == "resident")
    at = rows & (out["month"] == month)
    extra = (out.loc[at, "expenditure"] * 0.2).round().astype("int64").iloc[0]
    out.loc[at, "expenditure"] += extra
    out.loc[rows & (out["month"] >= month), "balance"] -= extra
    return out


def load(engine: Engine, regions: pd.DataFrame, ledger: pd.DataFrame, path: Path) -> None:
    store_regions(engine, regions)
    write_canonical_csv(ledger, path)
    import_files(
        engine, [path], config=Config(store_url=str(engine.url)), unit="元", now=NOW, user="t"
    )


def evaluation(engine: Engine, **kwargs) -> StoreEvaluation:  # type: ignore[no-untyped-def]
    config = Config(store_url=str(engine.url), forecast=FORECAST)
    return evaluate_store(engine, config, now=NOW, **kwargs)


def run(engine: Engine, **kwargs) -> list[FundResult]:  # type: ignore[no-untyped-def]
    return evaluation(engine, **kwargs).results


def stored_rows(engine: Engine) -> list[tuple]:
    cols = [c for c in evaluations.c if c.name not in ("id", "evaluated_at")]
    with engine.connect() as conn:
        rows = conn.execute(select(*cols).order_by(*cols[:3])).all()
    return [tuple(r) for r in rows]


def test_changed_only_after_a_new_month_and_a_correction_stores_what_a_full_run_does(
    engine: Engine, tmp_path: Path
) -> None:
    regions, ledger = small_world()
    county = str(ledger["region_code"].iloc[0])
    fixed = corrected(ledger, county, "2023-06")

    # incremental: evaluated through November, then December arrives with a correction
    load(engine, regions, ledger[ledger["month"] <= "2023-11"], tmp_path / "a.csv")
    assert len(run(engine)) == 8
    load(engine, regions, fixed, tmp_path / "b.csv")
    changed = run(engine, changed_only=True)
    assert {(r.region_code, r.month) for r in changed} >= {(county, "2023-12")}
    assert len(changed) == 8  # December is new for every fund

    # full: the corrected data all at once, November then December evaluated
    other = open_store(f"sqlite:///{tmp_path / 'full.db'}")
    try:
        load(other, regions, fixed, tmp_path / "c.csv")
        run(other, month="2023-11")
        run(other)
        assert stored_rows(engine) == stored_rows(other)
    finally:
        other.dispose()


def test_changed_only_touches_only_the_corrected_county_and_its_parents(
    tmp_path: Path,
) -> None:
    regions, ledger = small_world()
    county = str(ledger["region_code"].iloc[0])
    engine = open_store(f"sqlite:///{tmp_path / 'inc.db'}")
    try:
        load(engine, regions, ledger, tmp_path / "a.csv")
        run(engine)
        assert run(engine, changed_only=True) == []  # nothing changed since

        before = {r[:3]: r for r in stored_rows(engine)}
        load(engine, regions, corrected(ledger, county, "2023-12"), tmp_path / "b.csv")
        changed = run(engine, changed_only=True)
        city = regions.set_index("region_code").loc[county, "parent_code"]
        province = regions.set_index("region_code").loc[city, "parent_code"]
        assert sorted((r.region_code, r.fund) for r in changed) == sorted(
            [(county, "resident"), (city, "resident"), (province, "resident")]
        )
        after = {r[:3]: r for r in stored_rows(engine)}
        untouched = [
            k for k in after if (k[0], k[1]) not in {(r.region_code, r.fund) for r in changed}
        ]
        assert untouched and all(after[k] == before[k] for k in untouched)
    finally:
        engine.dispose()


def two_provinces() -> tuple[pd.DataFrame, pd.DataFrame]:
    world = synthetic_world(2, 1, 2, funds=("employee",), start="2020-01", end="2023-12")
    return world.regions, world.ledger


def tree_of(regions: pd.DataFrame, county: str) -> set[str]:
    """Every region under the province that holds `county`."""
    parent = dict(zip(regions["region_code"], regions["parent_code"], strict=True))
    root = county
    while isinstance(parent.get(root), str):
        root = parent[root]
    out = {root}
    while True:
        more = {c for c, p in parent.items() if p in out} - out
        if not more:
            return out
        out |= more


def test_a_county_month_reads_only_its_province_and_an_idle_run_reads_nothing(
    engine: Engine, tmp_path: Path
) -> None:
    regions, ledger = two_provinces()
    county = str(ledger["region_code"].iloc[0])
    tree = tree_of(regions, county)
    load(engine, regions, ledger[ledger["month"] <= "2023-11"], tmp_path / "a.csv")
    run(engine)  # a full run at the latest month has seen every import so far

    idle = evaluation(engine, changed_only=True)
    assert idle.results == []
    assert idle.timings.rows == 0

    # the county's December arrives alone, as the service would take it from the folder
    mine = ledger[(ledger["region_code"] == county) & (ledger["month"] == "2023-12")]
    load(engine, regions, mine, tmp_path / "b.csv")
    done = evaluation(engine, changed_only=True)
    changed, tm = done.results, done.timings
    in_tree = ledger[ledger["region_code"].isin(tree)]
    assert tm.rows == len(in_tree[in_tree["month"] <= "2023-11"]) + len(mine)
    assert tm.rows < len(ledger) / 2
    # its city sums December only once the other county reports it too
    assert [(r.region_code, r.month) for r in changed] == [(county, "2023-12")]
    city = regions.set_index("region_code").loc[county, "parent_code"]
    sibling = next(c for c in tree if c != county and c not in set(regions["parent_code"]))
    theirs = ledger[(ledger["region_code"] == sibling) & (ledger["month"] == "2023-12")]
    load(engine, regions, theirs, tmp_path / "c.csv")
    done = evaluation(engine, changed_only=True)
    changed, tm = done.results, done.timings
    province = regions.set_index("region_code").loc[city, "parent_code"]
    assert sorted(r.region_code for r in changed) == sorted([sibling, city, province])
    assert tm.rows == len(in_tree)

    # the same file again writes nothing: nothing to read, and it is not pending any more
    load(engine, regions, mine, tmp_path / "b.csv")
    again = evaluation(engine, changed_only=True)
    assert again.results == [] and again.timings.rows == 0
    assert run(engine, changed_only=True) == []


def test_a_region_moved_by_an_import_makes_the_next_run_read_everything(
    engine: Engine, tmp_path: Path
) -> None:
    """The tree a county leaves is no longer in the store: every tree is read and compared."""
    regions, ledger = two_provinces()
    load(engine, regions, ledger[ledger["month"] <= "2023-11"], tmp_path / "a.csv")
    run(engine)
    cities = regions[regions["level"] == "city"]["region_code"].tolist()
    county = str(ledger["region_code"].iloc[0])
    old_city = regions.set_index("region_code").loc[county, "parent_code"]
    new_city = next(c for c in cities if c != old_city)
    moved = ledger[(ledger["region_code"] == county) & (ledger["month"] == "2023-12")]
    load(engine, regions, moved.assign(parent_code=new_city), tmp_path / "b.csv")
    done = evaluation(engine, changed_only=True)
    changed, tm = done.results, done.timings
    assert tm.rows == len(ledger[ledger["month"] <= "2023-11"]) + len(moved)
    # both cities' and provinces' roll-ups changed: one lost the county, one gained it
    assert {old_city, new_city} <= {r.region_code for r in changed}


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_a_fund_whose_forecast_fails_gets_a_note_and_the_run_goes_on(
    executor: str, tmp_path: Path
) -> None:
    """A region with two months of data (too short to forecast) fails in the worker."""
    if executor == "dask":
        pytest.importorskip(
            "distributed", reason="dask[distributed] 未安装（pip install '.[dask]'）"
        )
    from monitor.config.compute import ComputeSettings

    regions, ledger = small_world()
    lone = ledger[ledger["region_code"] == ledger["region_code"].iloc[0]].copy()
    lone = lone[lone["month"] >= "2023-11"].assign(
        region_code="990101", region_name="新设县", parent_code=None
    )
    new_region = pd.DataFrame(
        [{"region_code": "990101", "region_name": "新设县", "parent_code": None, "level": "county"}]
    )
    engine = open_store(f"sqlite:///{tmp_path / 'fail.db'}")
    try:
        load(
            engine,
            pd.concat([regions, new_region], ignore_index=True),
            pd.concat([ledger, lone], ignore_index=True),
            tmp_path / "a.csv",
        )
        compute = ComputeSettings(executor=executor, scheduler="local", workers=2)
        results = run(engine, compute=compute)
    finally:
        engine.dispose()
    by_key = {(r.region_code, r.fund): r for r in results}
    assert len(by_key) == 10
    failed = by_key[("990101", "resident")]
    assert failed.forecast is None
    assert any("预测失败" in n.text_zh and "至少需要" in n.text_zh for n in failed.decision.notes)
    assert all(r.forecast is not None for k, r in by_key.items() if k[0] != "990101")


def test_a_fund_whose_worker_process_dies_gets_a_note_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL in the middle of one fund's forecast (as the OOM killer would): that fund is
    classified on current values with a note, every other fund is forecast as usual."""
    import os
    from functools import partial

    from compute_tasks import forecast_or_die

    import monitor.pipeline.evaluate

    regions, ledger = small_world()
    county = str(ledger["region_code"].iloc[0])
    engine = open_store(f"sqlite:///{tmp_path / 'die.db'}")
    try:
        load(engine, regions, ledger, tmp_path / "a.csv")
        doomed = (county, "resident")
        monkeypatch.setattr(
            monitor.pipeline.evaluate,
            "forecast_fund",
            partial(forecast_or_die, doomed=doomed, spare_pid=os.getpid()),
        )
        results = run(engine)  # 8 funds, a pool of 2 workers
        stored = stored_rows(engine)
    finally:
        engine.dispose()
    by_key = {(r.region_code, r.fund): r for r in results}
    assert len(by_key) == 8 and len(stored) == 8
    dead = by_key[doomed]
    assert dead.forecast is None
    notes = [n.text_zh for n in dead.decision.notes]
    assert any("预测失败" in n and "计算进程意外退出" in n for n in notes), notes
    assert all(r.forecast is not None for k, r in by_key.items() if k != doomed)
