"""Hostile text and months in ledgers (issue 13, items 2, 3 and 12), through the real CLI.

A control character in a stored text cell (Excel's Alt+Enter in a region name, a NUL, an
ANSI escape, a bidi override) used to be imported and then broke the alert e-mail, or
PostgreSQL; a month in 2100 was imported and turned every fund into "数据缺失". Each is now
refused at import on every path (CSV, workbook, --from-sql, the watched folder), naming the
file, row and column and showing the value escaped, never raw.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl import Workbook
from sqlalchemy import Engine, create_engine, func, select, text

from monitor.cli.app import main
from monitor.config.settings import Config
from monitor.core.errors import LedgerRejected
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv, write_office_workbook
from monitor.ledger.cell_text import FORBIDDEN
from monitor.ledger.importer import import_files
from monitor.ledger.watch import ingest_folder
from monitor.store.db import read_regions
from monitor.store.schema import imports, ledger, regions

NOW = dt.datetime(2025, 1, 6, 8, 30, tzinfo=dt.UTC)
# anything a terminal, a log, an e-mail header or PostgreSQL would take as more than text
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


@pytest.fixture(scope="module")
def city() -> pd.DataFrame:
    return demo_city().ledger


def poisoned(city: pd.DataFrame, column: str, value: object, *, at: int = 100) -> pd.DataFrame:
    """The demo city's ledger with one cell replaced; `at` is the row's position."""
    frame = city.copy()
    frame[column] = frame[column].astype(object)
    frame.iloc[at, frame.columns.get_loc(column)] = value
    return frame


def city_csv(path: Path, city: pd.DataFrame, **cells: tuple[int, str]) -> Path:
    """The canonical CSV of `city`, then cells replaced as a text editor would: column=(at,
    value). (The canonical writer normalises months, so months are poisoned after it.)"""
    write_canonical_csv(city, path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column, (at, value) in cells.items():
        if column not in frame:
            frame[column] = ""
        frame.iloc[at, frame.columns.get_loc(column)] = value
    frame.to_csv(path, index=False, lineterminator="\n")
    return path


def count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def assert_refused(result, *, where: list[str]) -> str:  # type: ignore[no-untyped-def]
    out = result.output
    assert result.exit_code == 1, out
    assert "未写入任何数据" in out
    for part in where:
        assert part in out, (part, out)
    assert not RAW.search(out), repr(out)  # the value is shown escaped, never raw
    return out


# ------------------------------------------------------------------ item 3: control chars

POISONS = {
    "alt_enter_lf": ("池州市\n东至县", "\\n", "换行"),
    "crlf": ("东至\r\n县", "\\r\\n", "回车"),
    "nul": ("东至\x00县", "\\u0000", "空字符"),
    "ansi_escape": ("\x1b[31m东至县\x1b[0m", "\\u001b[31m", "ESC"),
    "bidi_override": ("东至\u202e县", "\\u202e", "双向文字控制符"),
    "bidi_isolate": ("东至\u2067县", "\\u2067", "双向文字控制符"),
    "rtl_mark": ("东至县\u200f", "\\u200f", "双向文字控制符"),
    "c1_next_line": ("东至\x85县", "\\u0085", "控制字符"),
    "line_separator": ("东至\u2028县", "\\u2028", "行分隔符"),
    "delete": ("东至\x7f县", "\\u007f", "控制字符"),
    "inner_tab": ("东至\t县", "\\t", "制表符"),
}


@pytest.mark.parametrize("poison", POISONS, ids=list(POISONS))
def test_control_character_in_a_region_name_is_refused_with_the_value_escaped(
    tmp_path: Path, city: pd.DataFrame, poison: str
) -> None:
    value, shown, named = POISONS[poison]
    path = write_canonical_csv(poisoned(city, "region_name", value), tmp_path / "池州.csv")
    store = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(
        main, ["--db", store, "import", str(path), "--unit", "元"], catch_exceptions=False
    )
    out = assert_refused(result, where=[str(path), "第 102 行", "列 region_name", shown, named])
    assert "应为：" in out and "不含换行" in out
    engine = create_engine(store)
    assert count(engine, ledger) == 0 and count(engine, regions) == 0
    engine.dispose()


@pytest.mark.parametrize(
    "column,value,shown",
    [
        ("parent_name", "池州\n市", "池州\\n市"),
        ("fund", "职工\x1b[2J医保", "职工\\u001b[2J医保"),
        ("month", "2024\n-05", "2024\\n-05"),
        ("region_code", "3417\n02", "3417\\n02"),
    ],
)
def test_control_character_in_any_text_column_is_refused_once(
    tmp_path: Path, city: pd.DataFrame, column: str, value: str, shown: str, cli, engine
) -> None:
    path = city_csv(tmp_path / "city.csv", city, **{column: (5, value)})
    out = assert_refused(
        cli("import", str(path), "--unit", "元"), where=["第 7 行", f"列 {column}", shown]
    )
    assert out.count("错误：") == 1  # not also "unknown fund" or "bad month" for the same cell
    assert count(engine, ledger) == 0


def test_nul_byte_is_a_finding_on_sqlite_and_postgresql(
    tmp_path: Path, city: pd.DataFrame, cli, engine
) -> None:
    """Item 2: PostgreSQL text cannot hold NUL; the import raised a raw psycopg.DataError."""
    path = write_canonical_csv(
        poisoned(city, "region_name", "贵池\x00区", at=0), tmp_path / "a.csv"
    )
    assert_refused(
        cli("import", str(path), "--unit", "元"),
        where=["第 2 行", "列 region_name", "贵池\\u0000区", "空字符"],
    )
    assert count(engine, ledger) == 0 and count(engine, imports) == 0


def test_nul_and_escape_in_an_unknown_header_are_stored_escaped_in_its_warning(
    tmp_path: Path, city: pd.DataFrame, cli, engine
) -> None:
    """An unknown header is a stored warning: it is kept, escaped, and PostgreSQL accepts it."""
    path = city_csv(
        tmp_path / "a.csv", city[city["month"] == "2024-01"], **{"备注\x00\x1b[1m": (0, "x")}
    )
    result = cli("import", str(path), "--unit", "元")
    assert result.exit_code == 0, result.output
    assert "备注\\u0000\\u001b[1m" in result.output and not RAW.search(result.output)


def test_harmless_whitespace_is_normalised_not_refused(
    tmp_path: Path, city: pd.DataFrame, cli, engine
) -> None:
    frame = city[city["month"].isin(["2024-01", "2024-02"])].copy()
    codes = frame["region_code"]
    frame["region_name"] = frame["region_name"].astype(object)
    frame.loc[codes == "341721", "region_name"] = "  东至县\r\n"  # trailing newline, spaces
    frame.loc[codes == "341722", "region_name"] = "石台\u00a0县"  # no-break space
    frame.loc[codes == "341723", "region_name"] = "青阳县\u3000"  # full-width space at the end
    frame["parent_name"] = "\t池州市 "
    frame["region_code"] = frame["region_code"].astype(object)
    frame.iloc[0, frame.columns.get_loc("region_code")] = "３４１７０２"  # full-width digits
    path = write_canonical_csv(frame, tmp_path / "city.csv")
    result = cli("import", str(path), "--unit", "元")
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        names = dict(read_regions(conn)[["code", "name"]].itertuples(index=False))
        stored_codes = set(conn.execute(select(ledger.c.region_code)).scalars())
    assert stored_codes == {"341702", "341721", "341722", "341723"}
    assert names["341721"] == "东至县"
    assert names["341722"] == "石台 县"
    assert names["341723"] == "青阳县"
    assert names["341700"] == "池州市"


def test_digits_of_other_scripts_are_not_a_region_code(
    tmp_path: Path, city: pd.DataFrame, cli, engine
) -> None:
    """`\\d` took Arabic-Indic digits as a code, which was then stored as text."""
    path = city_csv(tmp_path / "city.csv", city, region_code=(0, "٣٤١٧٠٢"))
    assert_refused(
        cli("import", str(path), "--unit", "元"), where=["第 2 行", "列 region_code", "٣٤١٧٠٢"]
    )


def test_alt_enter_and_an_escape_in_a_workbook_are_refused_naming_sheet_and_column(
    tmp_path: Path, cli, engine
) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "居民医保"
    ws.append(["统筹区编码", "统筹区名称", "险种", "月份", "本期收入", "本期支出", "期末累计结余"])
    ws.append(["341721", "池州市\n东至县", "居民医保", "2024-01", 100, 90, 1000])  # Alt+Enter
    # Excel stores a control character as _x001B_ in the sheet's XML; readers decode it
    ws.append(["341722", "_x001B_[31m石台县", "居民医保", "2024-01", 100, 90, 1000])
    path = tmp_path / "台账.xlsx"
    wb.save(path)
    out = assert_refused(
        cli("import", str(path), "--unit", "万元"),
        where=["工作表 居民医保", "第 2 行", "第 3 行", "列 统筹区名称", "池州市\\n东至县"],
    )
    assert "\\u001b[31m石台县" in out
    assert count(engine, regions) == 0


def test_office_workbook_of_the_demo_city_with_one_poisoned_name(
    tmp_path: Path, city: pd.DataFrame, cli, engine
) -> None:
    frame = city[city["month"] >= "2024-01"].copy()
    frame["region_name"] = frame["region_name"].astype(object)
    frame.loc[frame["region_code"] == "341722", "region_name"] = "石台\u202e县"
    path = write_office_workbook(frame, tmp_path / "池州.xlsx", title="池州市医保基金月报")
    out = assert_refused(cli("import", str(path)), where=[str(path), "石台\\u202e县"])
    assert "列 统筹区名称" in out
    assert count(engine, ledger) == 0


def make_source(url: str, name: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("drop table if exists ledger_src"))
        conn.execute(
            text(
                "create table ledger_src (aab301 varchar(6), aaa129 varchar(50), xzlx varchar(40),"
                " aae043 varchar(6), sr numeric(16,2), zc numeric(16,2), jy numeric(16,2))"
            )
        )
        rows = [
            ("341721", "东至县", "城乡居民医保", "202401", 3512.34, 2876.50, 10234.56),
            ("341702", name, "职工医保", "202401", 5000.00, 4000.00, 30000.00),
        ]
        for r in rows:
            conn.execute(
                text("insert into ledger_src values (:a,:b,:c,:d,:e,:f,:g)"),
                dict(zip("abcdefg", r, strict=True)),
            )
    engine.dispose()


@pytest.mark.parametrize(
    "name,shown", [("贵池\r\n区", "贵池\\r\\n区"), ("贵池\x00区", "\\u0000")]
)
def test_from_sql_refuses_control_characters_the_same_way(
    tmp_path: Path, store_url: str, engine, monkeypatch: pytest.MonkeyPatch, name: str, shown: str
) -> None:
    source = f"sqlite:///{tmp_path / 'core.db'}"
    make_source(source, name)
    monkeypatch.setenv("CORE_DB_URL", source)
    conf = tmp_path / "config.toml"
    conf.write_text(
        '[source]\nurl_env = "CORE_DB_URL"\nunit = "万元"\nquery = """\n'
        "select aab301 as 统筹区编码, aaa129 as 统筹区名称, xzlx as 险种, aae043 as 月份, "
        "sr as 本期收入, zc as 本期支出, jy as 期末累计结余 from ledger_src\n"
        '"""\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main,
        ["--config", str(conf), "--db", store_url, "import", "--from-sql"],
        catch_exceptions=False,
    )
    assert_refused(result, where=["源数据库", "第 2 行", "列 统筹区名称", shown])
    assert count(engine, ledger) == 0


def test_watched_folder_sets_a_poisoned_file_aside_and_imports_the_next(
    tmp_path: Path, city: pd.DataFrame, engine: Engine, config: Config
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    january = city[city["month"] == "2024-01"].reset_index(drop=True)
    write_canonical_csv(poisoned(january, "region_name", "东至\n县", at=1), inbox / "a.csv")
    write_canonical_csv(city[city["month"] == "2024-02"], inbox / "b.csv")
    report = ingest_folder(engine, config=config, watch_dir=inbox, unit="元", now=NOW)
    assert [(f.name, f.outcome) for f in report.files] == [
        ("a.csv", "rejected"),
        ("b.csv", "imported"),
    ]
    errors = (inbox / "rejected" / "a.csv.errors.txt").read_text(encoding="utf-8")
    assert "第 3 行" in errors and "东至\\n县" in errors
    assert not RAW.search(errors.replace("\n", ""))
    with engine.connect() as conn:
        months = set(conn.execute(select(ledger.c.month)).scalars())
    assert months == {"2024-02"}


def test_the_refused_class_is_exactly_the_control_format_and_separator_categories() -> None:
    refused = {"Cc", "Cf", "Cs", "Zl", "Zp"}
    wrong = [
        f"U+{cp:04X}"
        for cp in range(0x110000)
        if (unicodedata.category(chr(cp)) in refused) != bool(FORBIDDEN.match(chr(cp)))
    ]
    assert wrong == [], (
        f"monitor/cell_text._RANGES is stale for Unicode {unicodedata.unidata_version}"
    )


# ------------------------------------------------------------------ item 12: months


def test_a_month_in_2100_is_refused_naming_the_latest_acceptable_month(
    tmp_path: Path, city: pd.DataFrame, cli, engine
) -> None:
    """It was accepted with a gap warning, and evaluate then ran at 2100-01: all 数据缺失."""
    frame = city[city["month"] == "2024-12"]
    path = city_csv(tmp_path / "city.csv", frame, month=(3, "2100-01"))
    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8)))
    nxt = today.year * 12 + today.month  # index of next month (0-based months)
    latest = f"{nxt // 12:04d}-{nxt % 12 + 1:02d}"
    out = assert_refused(
        cli("import", str(path), "--unit", "元"), where=["第 5 行", "列 month", "2100-01", latest]
    )
    assert "晚于" in out
    assert count(engine, ledger) == 0


def test_a_month_in_1900_is_refused_as_before_any_fund(
    tmp_path: Path, city: pd.DataFrame, cli, engine
) -> None:
    path = city_csv(tmp_path / "city.csv", city[city["month"] == "2024-12"], month=(0, "1900-01"))
    out = assert_refused(
        cli("import", str(path), "--unit", "元"), where=["第 2 行", "列 month", "1900-01"]
    )
    assert "早于 1990-01" in out


@pytest.mark.parametrize("month,accepted", [("2025-02", True), ("2025-03", False)])
def test_next_month_is_accepted_and_the_one_after_refused_by_the_injected_clock(
    tmp_path: Path, city: pd.DataFrame, engine: Engine, config: Config, month: str, accepted: bool
) -> None:
    frame = city[city["month"] == "2024-12"].reset_index(drop=True)
    frame["month"] = month
    path = write_canonical_csv(frame, tmp_path / "city.csv")
    if accepted:
        result = import_files(engine, [path], config=config, unit="元", now=NOW)
        assert result.inserted == len(frame)
        return
    with pytest.raises(LedgerRejected) as exc:
        import_files(engine, [path], config=config, unit="元", now=NOW)
    first = exc.value.findings[0]
    assert (first.code, first.row, first.column, first.value) == (
        "month_in_future",
        2,
        "month",
        "2025-03",
    )
    assert "2025-02" in (first.expected or "")
    assert len(exc.value.findings) == len(frame)
    # Beijing time: 2025-01-31 16:00 UTC is already February there, so March is next month
    late = dt.datetime(2025, 1, 31, 16, 0, tzinfo=dt.UTC)
    assert import_files(engine, [path], config=config, unit="元", now=late).inserted == len(frame)
