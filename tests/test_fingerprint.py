"""One fingerprint of a fund's data (`monitor.core.fingerprint`): the evaluation stores it, the
bulletin recomputes it to tell a stale evaluation, and both agree with the bytes stores
already hold; and one rule for `evaluations.profile`, whoever evaluates."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from monitor.cli.app import main
from monitor.config.bulletin import settings_from_config
from monitor.config.settings import Config, ForecastSettings
from monitor.core.fingerprint import fingerprint
from monitor.core.rollup import rollup
from monitor.core.thresholds import default_profile_path, load_profile, parse_profile_text
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv
from monitor.ledger.importer import import_files
from monitor.pipeline.bulletin import read_inputs
from monitor.pipeline.evaluate import evaluate_store, profile_label
from monitor.service.steps import evaluate_changes
from monitor.store.db import open_store, read_ledger, read_regions
from monitor.store.schema import evaluations

NOW = dt.datetime(2025, 1, 6, 2, 30, tzinfo=dt.UTC)
SMALL = ForecastSettings(horizon=12, paths=300, seed=0, workers=2)


def legacy_hash(months: list[str], fen: np.ndarray) -> str:
    """What the first version stored: `history.to_csv(index=False)` of the yuan figures."""
    history = pd.DataFrame(
        {
            "month": months,
            "income": fen[:, 0].astype("float64") / 100,
            "expenditure": fen[:, 1].astype("float64") / 100,
            "balance": fen[:, 2].astype("float64") / 100,
        }
    )
    payload = history[["month", "income", "expenditure", "balance"]].to_csv(index=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def test_the_fingerprint_keeps_the_bytes_stores_already_hold() -> None:
    fen = np.array([[123456, 100000, 5_000_000_00], [0, 1, -1], [10**18, 7, 10**17]])
    months = ["2024-01", "2024-02", "2024-03"]
    got = fingerprint(months, fen[:, 0], fen[:, 1], fen[:, 2])
    assert got == legacy_hash(months, fen)
    # pinned: a change of the hashed text makes every stored evaluation look stale
    assert got == "090c7b8b16a5681eb6c35790079a4304111a49fcc425e18d7b18b652b2aa90cb"
    assert fingerprint([], [], [], []) == legacy_hash([], fen[:0])


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Config, Path]:
    """The demo city imported and evaluated for 2024-11 and then its latest month."""
    folder = tmp_path_factory.mktemp("city")
    url = f"sqlite:///{folder / 'store.db'}"
    config = Config(store_url=url, forecast=SMALL)
    engine = open_store(url, auto_upgrade=True)
    csv = write_canonical_csv(demo_city().ledger, folder / "ledger.csv")
    import_files(engine, [csv], config=config, unit="元", now=NOW, user="test")
    for month in ("2024-11", None):
        evaluate_store(engine, config, now=NOW, month=month, progress=False)
    yield engine, config, folder
    engine.dispose()


def test_evaluation_bulletin_and_core_agree_on_every_fund_of_the_demo_city(city) -> None:  # type: ignore[no-untyped-def]
    engine, config, folder = city
    with engine.connect() as conn:
        stored = conn.execute(
            select(
                evaluations.c.region_code,
                evaluations.c.fund,
                evaluations.c.month,
                evaluations.c.data_hash,
            )
        ).all()
        combined, _ = rollup(read_ledger(conn), read_regions(conn))
        bulletins = {
            month: read_inputs(
                conn,
                config=config,
                settings=settings_from_config(config),
                month=month,
                scope=None,
                lang="zh",
                now=NOW,
            )
            for month in ("2024-11", "2024-12")
        }
    assert len(stored) == 20  # 10 funds (roll-ups included) × 2 months
    for r in stored:
        rows = combined[
            (combined["region_code"] == r.region_code)
            & (combined["fund"] == r.fund)
            & (combined["month"] <= r.month)
        ].sort_values("month")
        fen = rows[["income", "expenditure", "balance"]].to_numpy(dtype=np.int64)
        months = rows["month"].tolist()
        assert fingerprint(months, fen[:, 0], fen[:, 1], fen[:, 2]) == r.data_hash
        assert legacy_hash(months, fen) == r.data_hash
    for month, inputs in bulletins.items():
        assert len(inputs.evaluations) == 10, month
        assert not any(e.stale for e in inputs.evaluations), month

    # a correction: the bulletin now sees the evaluation of that fund as stale, and only it
    fixed = demo_city().ledger
    fixed = fixed[(fixed.region_code == "341721") & (fixed.fund == "resident")]
    fixed = fixed[fixed.month == "2024-12"].assign(income=lambda f: f.income + 100)
    fixed = fixed.assign(balance=lambda f: f.balance + 100)
    csv = write_canonical_csv(fixed, folder / "fix.csv")
    import_files(engine, [csv], config=config, unit="元", now=NOW, user="test")
    with engine.connect() as conn:
        inputs = read_inputs(
            conn,
            config=config,
            settings=settings_from_config(config),
            month="2024-12",
            scope=None,
            lang="zh",
            now=NOW,
        )
    stale = {(e.region_code, e.fund) for e in inputs.evaluations if e.stale}
    assert stale == {("341721", "resident"), ("341700", "resident")}  # the county, its city


# ---------------------------------------------------------------- evaluations.profile
def labels(engine: Engine, month: str) -> set[str]:
    with engine.connect() as conn:
        q = select(evaluations.c.profile).where(evaluations.c.month == month).distinct()
        return set(conn.execute(q).scalars())


def test_the_profile_label_is_the_name_and_the_file_it_came_from(tmp_path: Path) -> None:
    assert profile_label(load_profile(default_profile_path())) == "national"
    shipped = Path(str(default_profile_path())).read_text(encoding="utf-8")
    office = tmp_path / "city.toml"
    office.write_text(shipped, encoding="utf-8")  # an office's copy that kept the name
    assert profile_label(load_profile(office)) == "national (city.toml)"
    unnamed = tmp_path / "county.toml"
    unnamed.write_text(shipped.replace('name = "national"', "", 1), encoding="utf-8")
    assert profile_label(load_profile(unnamed)) == "county (county.toml)"
    assert profile_label(parse_profile_text(shipped)) == "national"  # not from a file


def test_every_caller_stores_the_same_profile_label(tmp_path: Path) -> None:
    """The service, `fundmon evaluate` and `--profile` store the profile's name and, for an
    office's file, the file's name — not a path for one caller and a name for another."""
    ledger = demo_city().ledger
    ledger = ledger[ledger.region_code.isin(["341721", "341722"])]
    local = tmp_path / "local.toml"
    shutil.copyfile(str(default_profile_path()), local)
    other = tmp_path / "other.toml"
    shutil.copyfile(str(default_profile_path()), other)
    conf = tmp_path / "config.toml"
    conf.write_text(
        "[forecast]\nhorizon = 12\npaths = 200\nworkers = 1\n"
        f'[thresholds]\nprofile = "{local.name}"\n',
        encoding="utf-8",
    )
    url = f"sqlite:///{tmp_path / 'store.db'}"
    config = Config(store_url=url, forecast=SMALL, profile_path=local)
    engine = open_store(url, auto_upgrade=True)
    try:
        csv = write_canonical_csv(ledger, tmp_path / "ledger.csv")
        import_files(engine, [csv], config=config, unit="元", now=NOW, user="test")

        assert evaluate_changes(engine, config, config.load_profile(), NOW)["evaluated"] == 6
        assert labels(engine, "2024-12") == {"national (local.toml)"}

        def cli(*args: str) -> None:
            result = CliRunner().invoke(
                main, ["--config", str(conf), "--db", url, *args], catch_exceptions=False
            )
            assert result.exit_code == 0, result.output

        cli("evaluate", "--month", "2024-11")
        assert labels(engine, "2024-11") == {"national (local.toml)"}
        cli("evaluate", "--month", "2024-10", "--profile", str(other))
        assert labels(engine, "2024-10") == {"national (other.toml)"}
        shipped = Config(store_url=url, forecast=SMALL)
        evaluate_store(engine, shipped, now=NOW, month="2024-09", progress=False)
        assert labels(engine, "2024-09") == {"national"}
    finally:
        engine.dispose()
