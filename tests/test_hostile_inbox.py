"""The watched folder under attack (issue 13, items 1, 2 and 5): links planted in its
subfolders, poisoned workbooks, files still being written, hostile names — real files, real
processes (`fundmon run --once`, `fundmon import`), SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from hostile_books import (
    HEADERS,
    ROW,
    cell,
    ledger_cells,
    ods,
    ods_cell,
    ods_ledger_rows,
    xls,
    xlsx,
)
from sqlalchemy import Engine, func, select

import monitor.ledger.importer
from monitor.config.settings import Config, ImportSettings
from monitor.core.errors import LedgerRejected, UnsafePath
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv
from monitor.ledger.files import read_ledger_file
from monitor.ledger.watch import IngestReport, ingest_folder
from monitor.store.db import open_store
from monitor.store.schema import imports, ingested_files, ledger

CLI = [sys.executable, "-c", "from monitor.cli.app import main; main()"]
NOW = dt.datetime(2025, 1, 6, 8, 30, tzinfo=dt.UTC)
XFD = '<row r="1048576">' + cell("XFD1048576", 1) + "</row>"  # one cell, 549 GB for calamine


@pytest.fixture(scope="module")
def january() -> pd.DataFrame:
    city = demo_city().ledger
    return city[city["month"] == "2024-01"]


@pytest.fixture
def watch(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def ingest(engine: Engine, config: Config, folder: Path, **kwargs: object) -> IngestReport:
    return ingest_folder(engine, config=config, watch_dir=folder, unit="元", now=NOW, **kwargs)  # type: ignore[arg-type]


def count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def outcomes(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(ingested_files.c.filename, ingested_files.c.outcome).order_by(
                ingested_files.c.id
            )
        )
        return [tuple(r) for r in rows]


def fundmon(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def ran(run: subprocess.CompletedProcess[str]) -> str:
    """`fundmon run --once` ended by itself: 0, or 1 when a step reports a rejected file."""
    assert run.returncode in (0, 1) and "Traceback" not in run.stderr, (
        run.returncode,
        run.stderr[-3000:],
    )
    return run.stderr


def office(tmp_path: Path, store_url: str, extra: str = "") -> Path:
    """A config whose watched folder is ./inbox; steps other than ingest have nothing to do."""
    (tmp_path / "config.toml").write_text(
        f'[store]\nurl = "{store_url}"\n[import]\nunit = "元"\n{extra}\n'
        '[forecast]\npaths = 100\nworkers = 1\n[ingest]\nwatch_dir = "inbox"\nsettle = "0s"\n',
        encoding="utf-8",
    )
    return tmp_path


# ---------------------------------------------------------------- 1: links in the folder
def test_link_planted_as_the_errors_temporary_never_overwrites_the_store(
    tmp_path: Path, january: pd.DataFrame
) -> None:
    """The issue's reproduction, through `fundmon run --once`: the errors file of a rejected
    ledger used to be written through `rejected/.evil.csv.errors.txt.tmp`, into the store."""
    store = tmp_path / "store.db"
    open_store(f"sqlite:///{store}", auto_upgrade=True).dispose()
    office(tmp_path, f"sqlite:///{store}")
    inbox = tmp_path / "inbox"
    (inbox / "rejected").mkdir(parents=True)
    (inbox / "rejected" / ".evil.csv.errors.txt.tmp").symlink_to(store)
    (inbox / "evil.csv").write_text("统筹区编码,险种\n1,2\n", encoding="utf-8")
    head = store.read_bytes()[:16]

    log = ran(fundmon(tmp_path, "run", "--once"))

    assert store.read_bytes()[:16] == head == b"SQLite format 3\x00"
    with sqlite3.connect(store) as db:  # still a database, holding the rejection
        assert db.execute("SELECT filename, outcome FROM ingested_files").fetchall() == [
            ("evil.csv", "rejected")
        ]
    errors = inbox / "rejected" / "evil.csv.errors.txt"
    assert stat.S_ISREG(errors.lstat().st_mode) and "evil.csv" in errors.read_text("utf-8")
    assert (inbox / "rejected" / ".evil.csv.errors.txt.tmp").is_symlink()
    assert "event=rejected job=ingest file=evil.csv" in log


@pytest.mark.parametrize("sub", ["done", "rejected"])
def test_done_or_rejected_as_a_symlink_is_refused_and_nothing_is_written(
    engine: Engine, config: Config, watch: Path, january: pd.DataFrame, tmp_path: Path, sub: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (watch / sub).symlink_to(elsewhere)
    if sub == "done":
        path = write_canonical_csv(january, watch / "2024-01.csv")
    else:
        path = watch / "bad.csv"
        path.write_text("统筹区编码,险种\n1,2\n", encoding="utf-8")

    with pytest.raises(UnsafePath, match="符号链接"):
        ingest(engine, config, watch)

    assert os.listdir(elsewhere) == []
    assert path.is_file() and outcomes(engine) == []


def test_done_and_rejected_are_made_private(
    engine: Engine, config: Config, watch: Path, january: pd.DataFrame
) -> None:
    old = os.umask(0o022)
    try:
        write_canonical_csv(january, watch / "2024-01.csv")
        (watch / "bad.csv").write_text("统筹区编码,险种\n1,2\n", encoding="utf-8")
        ingest(engine, config, watch)
    finally:
        os.umask(old)
    for sub in ("done", "rejected"):
        assert stat.S_IMODE((watch / sub).stat().st_mode) == 0o700
    errors = watch / "rejected" / "bad.csv.errors.txt"
    assert stat.S_IMODE(errors.stat().st_mode) == 0o600
    for taken in ("done/2024-01.csv", "rejected/bad.csv"):  # dropped 0644, kept 0600
        assert stat.S_IMODE((watch / taken).stat().st_mode) == 0o600


# ---------------------------------------------------------------- 2: poisoned files
def test_poisoned_workbook_is_rejected_and_the_next_file_imported_in_the_same_pass(
    tmp_path: Path, january: pd.DataFrame
) -> None:
    """A 2 KB workbook with one cell at XFD1048576 used to abort the whole pass (SIGABRT,
    the file not named) every time, and every file behind it waited."""
    store = tmp_path / "store.db"
    office(tmp_path, f"sqlite:///{store}")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    poison = xlsx(inbox / "a-poison.xlsx", {"台账": ledger_cells() + XFD})
    assert poison.stat().st_size < 3000
    write_canonical_csv(january, inbox / "b-good.csv")

    log = ran(fundmon(tmp_path, "run", "--once"))

    assert sorted(os.listdir(inbox / "rejected")) == ["a-poison.xlsx", "a-poison.xlsx.errors.txt"]
    errors = (inbox / "rejected" / "a-poison.xlsx.errors.txt").read_text("utf-8")
    assert "工作表 台账" in errors and "A1:XFD1048576" in errors and "16,384 列" in errors
    assert os.listdir(inbox / "done") == ["b-good.csv"]
    assert "event=imported job=ingest file=b-good.csv" in log
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT count(*) FROM ledger").fetchone() == (len(january),)


def test_a_reader_that_crashes_rejects_its_file_with_the_reason_and_the_pass_goes_on(
    tmp_path: Path, january: pd.DataFrame
) -> None:
    """With the limits opened up, the same workbook reaches calamine, which aborts: only the
    child that read it dies; the file is rejected with how, and the next one is imported."""
    store = tmp_path / "store.db"
    office(
        tmp_path,
        f"sqlite:///{store}",
        "max_sheet_rows = 2000000\nmax_sheet_columns = 20000\nmax_sheet_cells = 100000000000",
    )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    xlsx(inbox / "a-poison.xlsx", {"台账": ledger_cells() + XFD})
    write_canonical_csv(january, inbox / "b-good.csv")

    log = ran(fundmon(tmp_path, "run", "--once"))

    errors = (inbox / "rejected" / "a-poison.xlsx.errors.txt").read_text("utf-8")
    assert "SIGABRT" in errors and "a-poison.xlsx" in errors
    assert "未写入任何数据" in errors and "event=imported job=ingest file=b-good.csv" in log
    assert os.listdir(inbox / "done") == ["b-good.csv"]
    with sqlite3.connect(store) as db:
        assert db.execute(
            "SELECT filename, outcome FROM ingested_files ORDER BY id"
        ).fetchall() == [
            ("a-poison.xlsx", "rejected"),
            ("b-good.csv", "imported"),
        ]


def test_a_reader_beyond_its_memory_limit_is_stopped_and_the_file_rejected(
    engine: Engine, config: Config, watch: Path, january: pd.DataFrame
) -> None:
    """AN1048576 asks calamine for 1.3 GB (2.9 GB with the rows it then makes): with the limits
    opened up, the reader's address-space limit stops it instead of the machine."""
    opened = dataclasses.replace(
        config.imports,
        max_sheet_rows=2_000_000,
        max_sheet_cells=10**9,
        reader_memory_mb=_vm_mb() + 600,
    )
    config = dataclasses.replace(config, imports=opened)
    xlsx(
        watch / "a-big.xlsx",
        {"Sheet1": ledger_cells() + '<row r="1048576">' + cell("AN1048576", 1) + "</row>"},
    )
    write_canonical_csv(january, watch / "b-good.csv")
    t0 = time.monotonic()

    report = ingest(engine, config, watch)

    assert [(f.name, f.outcome) for f in report.files] == [
        ("a-big.xlsx", "rejected"),
        ("b-good.csv", "imported"),
    ]
    errors = (watch / "rejected" / "a-big.xlsx.errors.txt").read_text("utf-8")
    assert "内存" in errors or "SIGABRT" in errors, errors
    assert time.monotonic() - t0 < 20  # generous: the read is stopped, not finished
    assert count(engine, ledger) == len(january)


def _vm_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmSize")


def test_a_file_outliving_its_deadline_is_rejected_saying_so(
    engine: Engine, config: Config, watch: Path, january: pd.DataFrame
) -> None:
    write_canonical_csv(january, watch / "slow.csv")

    (item,) = ingest(engine, config, watch, file_timeout=dt.timedelta(microseconds=1)).files

    assert item.outcome == "rejected"
    errors = (watch / "rejected" / "slow.csv.errors.txt").read_text("utf-8")
    assert "秒仍未完成" in errors
    assert count(engine, ledger) == 0 and count(engine, imports) == 0


def test_fundmon_import_refuses_a_poisoned_workbook_naming_sheet_and_range(
    tmp_path: Path,
) -> None:
    """Exit 1 with the sheet and its used range, not SIGABRT without the file's name."""
    store = tmp_path / "store.db"
    office(tmp_path, f"sqlite:///{store}")
    book = xlsx(tmp_path / "月报.xlsx", {"台账": ledger_cells(), "附表": ledger_cells() + XFD})

    run = fundmon(tmp_path, "import", str(book))

    assert run.returncode == 1, (run.returncode, run.stderr[-2000:])
    assert "月报.xlsx" in run.stderr and "工作表 附表" in run.stderr
    assert "A1:XFD1048576" in run.stderr and "max_sheet_rows" in run.stderr


def test_fundmon_import_refuses_an_xls_whose_dimensions_lie(tmp_path: Path) -> None:
    """calamine reserves the room an xls DIMENSIONS record claims: 65,536 × 65,535 aborted it."""
    store = tmp_path / "store.db"
    office(tmp_path, f"sqlite:///{store}")
    cells = [(0, c, v) for c, v in enumerate(HEADERS)] + [(1, c, v) for c, v in enumerate(ROW)]
    book = xls(tmp_path / "lying.xls", cells, dimensions=(0, 65536, 0, 65535))

    run = fundmon(tmp_path, "import", str(book))

    assert run.returncode == 1, (run.returncode, run.stderr[-2000:])
    assert "lying.xls" in run.stderr and "65,535 列" in run.stderr


def test_configured_limits_refuse_a_sheet_before_reading_it(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    office(tmp_path, f"sqlite:///{store}", "max_sheet_rows = 100")
    book = xlsx(
        tmp_path / "long.xlsx",
        {"Sheet1": ledger_cells() + '<row r="101">' + cell("A101", 1) + "</row>"},
    )

    run = fundmon(tmp_path, "import", str(book))

    assert run.returncode == 1, run.stderr[-2000:]
    assert "A1:G101" in run.stderr and "101 行" in run.stderr and "最多 100 行" in run.stderr


@pytest.mark.parametrize(
    "sheet_data",
    [
        pytest.param(
            ledger_cells() + "<row r='9'><c r='XFD1048576'><v>1</v></c></row>", id="quotes"
        ),
        pytest.param(
            ledger_cells() + '<row r="9"><c t="n" r="XFD1048576"><v>1</v></c></row>',
            id="r-not-first",
        ),
        pytest.param(
            ledger_cells() + '<row r="9"><c r="xfd1048576"><v>1</v></c></row>', id="lower-case"
        ),
        pytest.param(
            ledger_cells() + '<x:c xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/'
            '2006/main" r="XFD1048576"><x:v>1</x:v></x:c>',
            id="prefix",
        ),
        pytest.param(
            ledger_cells() + "<row>" + "<c><v>1</v></c>" * 300 + "</row>", id="no-r-300-columns"
        ),
    ],
)
def test_every_way_of_writing_a_far_cell_is_measured(tmp_path: Path, sheet_data: str) -> None:
    """calamine honours all of these; a scan that only knew `<c r="…">` would miss them."""
    book = xlsx(tmp_path / "book.xlsx", {"Sheet1": sheet_data})
    with pytest.raises(LedgerRejected) as refused:
        read_ledger_file(book)
    (finding,) = refused.value.findings
    assert finding.code == "sheet_too_large" and finding.sheet == "Sheet1"


def refusal(path: Path) -> str:
    with pytest.raises(LedgerRejected) as refused:
        read_ledger_file(path)
    return "\n".join(f.render() for f in refused.value.findings)


def test_a_lying_dimension_element_is_not_believed(tmp_path: Path) -> None:
    book = xlsx(tmp_path / "book.xlsx", {"Sheet1": ledger_cells() + XFD}, dimension="A1:G2")
    assert "A1:XFD1048576" in refusal(book)


def test_ods_repeats_are_counted_and_libreoffice_padding_is_not(tmp_path: Path) -> None:
    padded = ods_ledger_rows() + (
        '<table:table-row table:number-rows-repeated="1048574">'
        '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
    )
    book = ods(tmp_path / "padded.ods", {"Sheet1": padded})
    (table,) = read_ledger_file(book, limits=ImportSettings(unit="元"))
    assert len(table.frame) == 1

    wide = ods_ledger_rows() + (
        '<table:table-row table:number-rows-repeated="1048574">'
        + ods_cell(1, repeat=16384)
        + "</table:table-row>"
    )
    assert "A1:XFD1048576" in refusal(ods(tmp_path / "wide.ods", {"Sheet1": wide}))


def test_a_normal_workbook_and_the_sheets_not_read_are_not_refused(tmp_path: Path) -> None:
    book = xlsx(tmp_path / "book.xlsx", {"台账": ledger_cells(), "附表": ledger_cells() + XFD})
    (table,) = read_ledger_file(book, sheet="台账")
    assert table.frame["region_code"].tolist() == ["341721"]
    cells = [(0, c, v) for c, v in enumerate(HEADERS)] + [(1, c, v) for c, v in enumerate(ROW)]
    (table,) = read_ledger_file(xls(tmp_path / "ok.xls", cells, dimensions=(0, 2, 0, 7)))
    assert table.frame["region_code"].tolist() == ["341721"]


# ---------------------------------------------------------------- 5: files being written
def test_a_file_changed_while_it_is_read_is_rolled_back_and_waits(
    engine: Engine,
    config: Config,
    watch: Path,
    january: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The writer appends while the import runs (a file written in place, not renamed into
    it). The import used to commit the rows it had read; the next pass then refused the
    finished file saying "未写入任何数据" while those rows stayed stored."""
    path = watch / "growing.csv"
    first, rest = january.iloc[:4], january.iloc[4:]
    write_canonical_csv(first, path)
    tail = write_canonical_csv(rest, watch.parent / "rest.csv").read_text("utf-8").split("\n", 1)[1]
    validate = monitor.ledger.importer.validate_tables

    def validate_while_the_writer_goes_on(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        with path.open("a", encoding="utf-8") as fh:  # runs in the reader's child process
            fh.write(tail)
        return validate(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(
        monitor.ledger.importer, "validate_tables", validate_while_the_writer_goes_on
    )
    report = ingest(engine, config, watch)

    assert count(engine, ledger) == 0 and count(engine, imports) == 0
    assert outcomes(engine) == [] and path.is_file()
    assert report.files == [] and report.waiting == ["growing.csv"]

    monkeypatch.setattr(monitor.ledger.importer, "validate_tables", validate)
    (item,) = ingest(engine, config, watch).files  # settled now: all of it, once
    assert (item.outcome, item.rows) == ("imported", len(january))
    assert count(engine, ledger) == len(january)


def test_a_refusal_of_a_file_that_changed_while_read_is_not_reported(
    engine: Engine,
    config: Config,
    watch: Path,
    january: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = watch / "half.csv"
    path.write_text(",".join(HEADERS) + "\n341721,东至县,居民", encoding="utf-8")  # cut short
    validate = monitor.ledger.importer.validate_tables

    def validate_while_the_writer_goes_on(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        with path.open("a", encoding="utf-8") as fh:
            fh.write("医保,2024-01,100,90,1000\n")
        return validate(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(
        monitor.ledger.importer, "validate_tables", validate_while_the_writer_goes_on
    )
    report = ingest(engine, config, watch)

    assert not (watch / "rejected").exists() and outcomes(engine) == []
    assert report.files == [] and report.waiting == ["half.csv"]


def test_a_file_is_taken_only_once_it_has_settled_whatever_the_simulated_time(
    engine: Engine, config: Config, watch: Path, january: pd.DataFrame
) -> None:
    """`now` is simulated (2025-01-06); file times are real: settling is judged on `wall`."""
    path = write_canonical_csv(january, watch / "2024-01.csv")
    settle = dt.timedelta(seconds=30)

    report = ingest(engine, config, watch, settle=settle)
    assert report.files == [] and report.waiting == ["2024-01.csv"] and path.is_file()

    with path.open("a", encoding="utf-8") as fh:
        fh.write("")  # a write (even of nothing) that moves mtime
    os.utime(path)
    later = time.time() + 29
    assert ingest(engine, config, watch, settle=settle, wall=lambda: later).files == []

    # a writer that sets mtime back (cp -p, rsync -t) still moves ctime: not settled either
    os.utime(path, (time.time() - 3600, time.time() - 3600))
    assert ingest(engine, config, watch, settle=settle).files == []

    settled = time.time() + 31
    (item,) = ingest(engine, config, watch, settle=settle, wall=lambda: settled).files
    assert (item.outcome, item.rows) == ("imported", len(january))


# ---------------------------------------------------------------- hostile names
def test_hostile_names_are_taken_without_crashing_and_never_leave_the_folder(
    engine: Engine, config: Config, watch: Path, january: pd.DataFrame
) -> None:
    names = [
        "a\nevent=imported job=ingest file=FORGED.csv",
        "b\x1b[31mred\x1b[0m\u202etxt.csv",
        "c" + "长" * 80 + ".csv",  # 244 bytes: a stamped name would not fit
        os.fsdecode(b"d-\xff\xfe-not-utf8.csv"),
        "e 全角\u3000空格.csv",
    ]
    for name in names:
        write_canonical_csv(january, watch / name)
    write_canonical_csv(january, watch / ("f" + "长" * 80 + ".csv"))  # a duplicate, long too

    report = ingest(engine, config, watch)

    assert [f.outcome for f in report.files] == ["imported"] + ["duplicate"] * 5
    for item in report.files:
        assert item.moved_to.parent == watch / "done" and item.moved_to.is_file()
        assert item.name.isprintable() or "\u3000" in item.name
        assert "\n" not in item.message and "\x1b" not in item.message
    assert report.files[0].name.startswith("a\\nevent=imported")
    assert report.files[1].name == "b\\u001b[31mred\\u001b[0m\\u202etxt.csv"
    assert report.files[3].name == "d-\\xff\\xfe-not-utf8.csv"
    assert report.files[4].name == "e 全角\u3000空格.csv"
    assert os.listdir(watch) == ["done"]
    assert len(os.listdir(watch / "done")) == 6
    assert all(len(os.fsencode(n)) <= 255 for n in os.listdir(watch / "done"))
    stored = [name for name, _ in outcomes(engine)]
    assert stored == [f.name for f in report.files]

    # the long name again: now taken in done/, so stamped — and shortened to fit
    write_canonical_csv(january, watch / names[2])
    (again,) = ingest(engine, config, watch).files
    assert again.outcome == "duplicate" and again.moved_to.is_file()
    assert again.moved_to.name.endswith(".20250106T083000Z.csv")
    assert len(os.fsencode(again.moved_to.name)) <= 255
