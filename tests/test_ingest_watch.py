"""The watched folder on real files, on SQLite and PostgreSQL: each content imported once."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.exc import DBAPIError

from monitor.config.settings import Config
from monitor.core.errors import StoreConflict, StoreUnavailable
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv, write_office_workbook
from monitor.ledger.importer import checksum_files, import_files
from monitor.ledger.watch import IngestReport, ingest_folder, last_ingests, pending_files
from monitor.store.db import create_store_engine, open_store, read_ledger
from monitor.store.schema import imports, ingested_files, ledger, ledger_revisions

NOW = dt.datetime(2025, 1, 6, 8, 30, tzinfo=dt.UTC)
MONTHS = ("2024-01", "2024-02", "2024-03")


@pytest.fixture(scope="module")
def city_ledger() -> pd.DataFrame:
    return demo_city().ledger


def month_of(frame: pd.DataFrame, month: str) -> pd.DataFrame:
    return frame[frame["month"] == month]


def drop_csv(folder: Path, frame: pd.DataFrame, month: str, name: str | None = None) -> Path:
    return write_canonical_csv(month_of(frame, month), folder / (name or f"{month}.csv"))


def count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def stored(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return read_ledger(conn)


def ingested(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(ingested_files.c.filename, ingested_files.c.outcome).order_by(
                ingested_files.c.id
            )
        )
        return [tuple(r) for r in rows]


def ingest(engine: Engine, config: Config, folder: Path, *, now: dt.datetime = NOW) -> IngestReport:
    return ingest_folder(engine, config=config, watch_dir=folder, unit="元", now=now)


def ledger_files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


@pytest.fixture
def watch(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def test_monthly_files_are_imported_in_order_and_moved_to_done(
    engine: Engine, config: Config, watch: Path, city_ledger: pd.DataFrame
) -> None:
    # dropped out of order; the names say the order
    for month in reversed(MONTHS):
        drop_csv(watch, city_ledger, month)
    april = month_of(city_ledger, "2024-04")
    write_office_workbook(april, watch / "2024-04.xlsx", title="池州市医保基金月报", unit="万元")

    report = ingest(engine, config, watch)

    assert [f.name for f in report.files] == [*(f"{m}.csv" for m in MONTHS), "2024-04.xlsx"]
    assert [f.outcome for f in report.files] == ["imported"] * 4
    assert report.changed
    for item in report.files:
        assert item.rows == item.changed == 8  # 4 regions × 2 funds, all new
        assert item.moved_to == watch / "done" / item.name and item.moved_to.is_file()
        assert item.sha256 == checksum_files([item.moved_to])
        assert item.message.startswith(f"已导入 {item.name}（导入编号 #{item.import_id}）")
    assert ledger_files_in(watch) == []

    data = stored(engine)
    # one import per file, in month order
    ids = data.groupby("month")["import_id"].unique()
    assert [list(ids[m]) for m in (*MONTHS, "2024-04")] == [[f.import_id] for f in report.files]
    assert sorted(i for i in ids.explode()) == [f.import_id for f in report.files]
    expected = city_ledger[city_ledger["month"].isin(MONTHS)].sort_values(
        ["region_code", "fund", "month"]
    )
    got = data[data["month"].isin(MONTHS)]
    assert got["balance"].tolist() == expected["balance"].tolist()  # fen, exact
    # the workbook states 万元 itself: the folder's default 元 does not override it
    april_balance = data.loc[data["month"] == "2024-04", "balance"].to_numpy()
    exact = april.sort_values(["region_code", "fund"])["balance"].to_numpy()
    assert len(april_balance) == 8
    assert abs(april_balance - exact).max() <= 50_00  # rounded to 0.01 万元 = 100 元
    with engine.connect() as conn:
        users = set(conn.execute(select(imports.c.user)).scalars())
    assert users == {"service"}
    assert ingested(engine) == [(f.name, "imported") for f in report.files]


def test_same_content_again_is_a_duplicate_and_never_overwrites_done(
    engine: Engine, config: Config, watch: Path, city_ledger: pd.DataFrame
) -> None:
    drop_csv(watch, city_ledger, "2024-01")
    imported = ingest(engine, config, watch).files[0]
    original = (watch / "done" / "2024-01.csv").read_bytes()
    rows, n_imports = count(engine, ledger), count(engine, imports)

    # the same bytes under its own name and under another name
    drop_csv(watch, city_ledger, "2024-01")
    drop_csv(watch, city_ledger, "2024-01", name="resent-january.csv")
    later = NOW + dt.timedelta(hours=1)
    report = ingest(engine, config, watch, now=later)

    assert [(f.name, f.outcome) for f in report.files] == [
        ("2024-01.csv", "duplicate"),
        ("resent-january.csv", "duplicate"),
    ]
    assert not report.changed
    assert all(f.import_id == imported.import_id and f.changed == 0 for f in report.files)
    assert "内容相同，未重复导入" in report.files[0].message
    assert (count(engine, ledger), count(engine, imports)) == (rows, n_imports)
    assert report.files[0].moved_to == watch / "done" / "2024-01.20250106T093000Z.csv"
    assert report.files[1].moved_to == watch / "done" / "resent-january.csv"
    assert (watch / "done" / "2024-01.csv").read_bytes() == original
    assert ledger_files_in(watch) == []

    # different content under a name already in done/: imported (a correction), not clobbering
    write_canonical_csv(corrected_employee(city_ledger, "2024-01"), watch / "2024-01.csv")
    report = ingest(engine, config, watch, now=later)
    (item,) = report.files
    assert (item.outcome, item.changed, report.changed) == ("imported", 4, True)
    assert item.moved_to == watch / "done" / "2024-01.20250106T093000Z-2.csv"
    assert count(engine, ledger_revisions) == 4
    assert (watch / "done" / "2024-01.csv").read_bytes() == original


def corrected_employee(frame: pd.DataFrame, month: str) -> pd.DataFrame:
    """The employee rows of a month with 100 fen more expenditure (and less balance)."""
    rows = month_of(frame, month)
    rows = rows[rows["fund"] == "employee"].copy()
    rows["expenditure"] += 100
    rows["balance"] -= 100
    return rows


def test_correction_of_a_fund_with_empty_head_counts(
    engine: Engine,
    config: Config,
    watch: Path,
    city_ledger: pd.DataFrame,
) -> None:
    # PostgreSQL once failed here: the replaced rows' empty counts went to COPY as "67692.0"
    drop_csv(watch, city_ledger, "2024-01")
    ingest(engine, config, watch)
    corrected = month_of(city_ledger, "2024-01").copy()  # resident rows: no insured_active
    corrected["expenditure"] += 100
    corrected["balance"] -= 100
    write_canonical_csv(corrected, watch / "2024-01-v2.csv")

    (item,) = ingest(engine, config, watch).files

    assert (item.outcome, item.changed) == ("imported", 8)
    assert count(engine, ledger_revisions) == 8


def test_bad_files_go_to_rejected_with_every_error_and_nothing_stored(
    engine: Engine, config: Config, watch: Path, city_ledger: pd.DataFrame
) -> None:
    path = write_canonical_csv(month_of(city_ledger, "2024-01"), watch / "a-text-amount.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[2].split(",")
    cells[6] = "一百万"  # income of the second data row (line 3 as a text editor shows it)
    lines[2] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    unknown_unit = watch / "b-unknown-unit.csv"
    unknown_unit.write_text(
        "统筹区编码,统筹区名称,险种,月份,本期收入（千元）,本期支出（千元）,期末累计结余（千元）\n"
        "341721,东至县,居民医保,2024-01,100,90,1000\n",
        encoding="utf-8",
    )
    drop_csv(watch, city_ledger, "2024-02", name="c-good.csv")  # the pass goes on after them

    report = ingest(engine, config, watch)

    assert [(f.name, f.outcome) for f in report.files] == [
        ("a-text-amount.csv", "rejected"),
        ("b-unknown-unit.csv", "rejected"),
        ("c-good.csv", "imported"),
    ]
    rejected = watch / "rejected"
    errors = (rejected / "a-text-amount.csv.errors.txt").read_text(encoding="utf-8")
    head, *body = errors.splitlines()
    assert head.startswith("2025-01-06T08:30:00+00:00 a-text-amount.csv sha256=")
    assert report.files[0].sha256 in head
    assert any("第 3 行" in line and "income" in line and "'一百万'" in line for line in body)
    assert body[-1] == "台账被拒绝：1 个错误，未写入任何数据"
    assert "被拒绝：1 个错误" in report.files[0].message
    unit_errors = (rejected / "b-unknown-unit.csv.errors.txt").read_text(encoding="utf-8")
    assert "千元" in unit_errors and "错误：" in unit_errors
    assert (rejected / "a-text-amount.csv").read_text(encoding="utf-8").count("一百万") == 1
    assert all(f.import_id is None and f.rows == 0 for f in report.files[:2])

    data = stored(engine)
    assert set(data["month"]) == {"2024-02"}  # nothing of the rejected files
    assert count(engine, imports) == 1

    # dropped again unchanged: validated again, rejected again, the first pair kept
    shutil.copy(rejected / "a-text-amount.csv", watch / "a-text-amount.csv")
    (again,) = ingest(engine, config, watch).files
    assert again.outcome == "rejected"
    assert again.moved_to == rejected / "a-text-amount.20250106T083000Z.csv"
    assert (rejected / "a-text-amount.20250106T083000Z.csv.errors.txt").is_file()
    assert (rejected / "a-text-amount.csv.errors.txt").read_text(encoding="utf-8") == errors
    assert [o for _, o in ingested(engine)].count("rejected") == 3


def test_killed_between_record_and_move_is_moved_as_duplicate_next_time(
    engine: Engine, config: Config, watch: Path, city_ledger: pd.DataFrame
) -> None:
    drop_csv(watch, city_ledger, "2024-01")
    (first,) = ingest(engine, config, watch).files
    # the state a SIGKILL after the record and before the rename leaves behind
    (watch / "done" / "2024-01.csv").rename(watch / "2024-01.csv")
    before = stored(engine)
    n_imports = count(engine, imports)

    report = ingest(engine, config, watch)

    (item,) = report.files
    assert (item.outcome, item.import_id, item.changed) == ("duplicate", first.import_id, 0)
    assert item.moved_to == watch / "done" / "2024-01.csv"
    assert not report.changed
    assert count(engine, imports) == n_imports  # not even an empty import
    pd.testing.assert_frame_equal(stored(engine), before)
    assert ingested(engine) == [("2024-01.csv", "imported"), ("2024-01.csv", "duplicate")]


def test_killed_between_import_and_record_reimports_harmlessly(
    engine: Engine, config: Config, watch: Path, city_ledger: pd.DataFrame
) -> None:
    path = drop_csv(watch, city_ledger, "2024-01")
    # the import committed, then the service died before recording the file
    import_files(engine, [path], config=config, unit="元", now=NOW, user="service")
    before = stored(engine)

    report = ingest(engine, config, watch)

    (item,) = report.files
    assert (item.outcome, item.rows, item.changed) == ("imported", 8, 0)
    assert "无变化" in item.message
    assert not report.changed  # nothing to re-evaluate
    pd.testing.assert_frame_equal(stored(engine), before)
    assert count(engine, ledger_revisions) == 0
    assert item.moved_to.is_file() and not path.exists()


def test_hidden_partial_and_foreign_files_are_left_alone(
    engine: Engine, config: Config, watch: Path, city_ledger: pd.DataFrame
) -> None:
    # each holds a valid ledger, so taking it by mistake would import it
    left = [".2024-02.csv", "2024-02.csv.part", "2024-02.tmp", "~$2024-02.xlsx", "2024-02.pdf"]
    for name in left:
        drop_csv(watch, city_ledger, "2024-02", name=name)
    (watch / "archive").mkdir()
    drop_csv(watch / "archive", city_ledger, "2024-03")
    (watch / "2024-04.csv").symlink_to(drop_csv(watch / "archive", city_ledger, "2024-04"))
    drop_csv(watch, city_ledger, "2024-01")  # the one file to take

    assert [p.name for p in pending_files(watch)] == ["2024-01.csv"]
    report = ingest(engine, config, watch)

    assert [f.name for f in report.files] == ["2024-01.csv"]
    assert set(stored(engine)["month"]) == {"2024-01"}
    assert ledger_files_in(watch) == sorted([*left, "2024-04.csv"])
    assert ledger_files_in(watch / "archive") == ["2024-03.csv", "2024-04.csv"]

    # the writer's rename completes the upload: now it is taken
    (watch / "2024-02.csv.part").rename(watch / "2024-02.csv")
    (item,) = ingest(engine, config, watch).files
    assert (item.name, item.outcome) == ("2024-02.csv", "imported")


def test_unreachable_store_leaves_the_file_in_place_for_the_next_run(
    engine: Engine, config: Config, watch: Path, city_ledger: pd.DataFrame
) -> None:
    path = drop_csv(watch, city_ledger, "2024-01")
    content = path.read_bytes()
    down = create_store_engine("postgresql+psycopg://postgres@127.0.0.1:1/x?connect_timeout=1")
    try:
        with pytest.raises(StoreUnavailable):
            ingest(down, config, watch)
    finally:
        down.dispose()
    assert path.read_bytes() == content
    assert sorted(p.name for p in watch.iterdir()) == ["2024-01.csv"]  # no done/, rejected/

    # the store is back: the same file is taken (it was a good file all along)
    (item,) = ingest(engine, config, watch).files
    assert item.outcome == "imported" and item.changed == 8


def test_store_failing_during_the_import_leaves_the_file_in_place(
    tmp_path: Path, watch: Path, city_ledger: pd.DataFrame
) -> None:
    """SQLite locked by another writer: the checksum lookup reads fine, the import's write fails."""
    db = tmp_path / "store.db"
    open_store(f"sqlite:///{db}").dispose()
    config = Config(store_url=f"sqlite:///{db}")
    # a short busy timeout, so the lock makes the import fail fast instead of waiting
    engine = create_engine(f"sqlite:///{db}", connect_args={"timeout": 0.2})
    path = drop_csv(watch, city_ledger, "2024-01")
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="locked") as failure:
            ingest(engine, config, watch)
        # the import failed, not the checksum lookup before it (WAL lets that read)
        assert "import_files" in [entry.name for entry in failure.traceback]
        holder.execute("ROLLBACK")
        assert path.is_file() and not (watch / "done").exists()
        assert count(engine, ledger) == 0 and ingested(engine) == []

        (item,) = ingest(engine, config, watch).files
        assert item.outcome == "imported" and count(engine, ledger) == 8
    finally:
        holder.close()
        engine.dispose()


def test_import_failing_for_a_reason_outside_the_file_leaves_it_in_place(
    engine: Engine, config: Config, watch: Path, city_ledger: pd.DataFrame
) -> None:
    """Only a refused file is rejected; any other failure of its import is retried later."""
    path = drop_csv(watch, city_ledger, "2024-01")
    # the store refuses the import's first row (as a racing writer or a full disk would)
    if engine.dialect.name == "sqlite":
        ddl = [
            "CREATE TRIGGER refuse BEFORE INSERT ON imports "
            "BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
        ]
        drop = "DROP TRIGGER refuse"
    else:
        ddl = [
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused by test'; END $$",
            "CREATE TRIGGER refuse BEFORE INSERT ON imports FOR EACH ROW EXECUTE FUNCTION refuse()",
        ]
        drop = "DROP TRIGGER refuse ON imports"
    with engine.begin() as conn:
        for statement in ddl:
            conn.execute(text(statement))

    with pytest.raises((StoreConflict, DBAPIError), match="refused by test"):
        ingest(engine, config, watch)

    assert path.is_file() and sorted(p.name for p in watch.iterdir()) == ["2024-01.csv"]
    assert ingested(engine) == [] and count(engine, ledger) == 0
    with engine.begin() as conn:
        conn.execute(text(drop))
    (item,) = ingest(engine, config, watch).files
    assert item.outcome == "imported" and count(engine, ledger) == 8


def test_last_ingests_newest_first_with_aware_times(
    engine: Engine, config: Config, watch: Path, city_ledger: pd.DataFrame
) -> None:
    for i, month in enumerate(MONTHS):
        drop_csv(watch, city_ledger, month)
        ingest(engine, config, watch, now=NOW + dt.timedelta(days=i))

    with engine.connect() as conn:
        latest = last_ingests(conn, limit=2)
        everything = last_ingests(conn)

    assert [r["filename"] for r in latest] == ["2024-03.csv", "2024-02.csv"]
    assert len(everything) == 3
    assert latest[0]["processed_at"] == NOW + dt.timedelta(days=2)
    assert latest[0]["processed_at"].tzinfo is not None
    assert latest[0]["outcome"] == "imported" and latest[0]["rows"] == 8
    assert len(latest[0]["sha256"]) == 64


def test_naive_now_is_refused(engine: Engine, config: Config, watch: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ingest_folder(
            engine, config=config, watch_dir=watch, unit=None, now=dt.datetime(2025, 1, 1)
        )
