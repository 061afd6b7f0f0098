"""Ledgers as offices lay them out: the workbooks of tests/data/office (made by
tests/office_books.py from the demo city), the same saved by LibreOffice as .xls, .ods and
.xlsx, and the layouts that are refused because they are ambiguous."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from office_books import BOOKS, OFFICE_DIR, write_all

from monitor.core.errors import LedgerRejected
from monitor.core.findings import Finding
from monitor.core.funds import FundCatalogue
from monitor.ledger.files import read_ledger_file
from monitor.ledger.validate import ValidLedger, validate_tables

NOW = dt.datetime(2025, 2, 1, 9, 0, tzinfo=dt.UTC)
KEYS = ["region_code", "fund", "month"]
REQUIRE_SERVICES = os.environ.get("FUNDMON_REQUIRE_SERVICES") == "1"
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def read(path: Path, **kwargs: Any) -> ValidLedger:
    return validate_tables(read_ledger_file(path), catalogue=FundCatalogue(), now=NOW, **kwargs)


def refused(path: Path, **kwargs: Any) -> list[Finding]:
    with pytest.raises(LedgerRejected) as info:
        read(path, **kwargs)
    return info.value.findings


def same_rows(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """Every expected column equal to the fen (missing where the book states nothing)."""
    got = got[list(expected.columns)].sort_values(KEYS).reset_index(drop=True)
    expected = expected.sort_values(KEYS).reset_index(drop=True)
    assert len(got) == len(expected)
    for column in expected.columns:
        a = got[column].astype(object).where(got[column].notna(), None).tolist()
        b = expected[column].astype(object).where(expected[column].notna(), None).tolist()
        assert a == b, column


# ---------------------------------------------------------------- the office books


@pytest.mark.parametrize("name", list(BOOKS), ids=[b.what for b in BOOKS.values()])
def test_office_book_is_read_to_the_fen(name: str) -> None:
    valid = read(OFFICE_DIR / name)
    same_rows(valid.rows, BOOKS[name].expected())
    assert not [w for w in valid.warnings if w.code not in ("ignored_column", "sheet_skipped")]


def test_committed_books_hold_what_the_script_makes(tmp_path: Path) -> None:
    """Compared by content (sheets, cells, merged ranges): bytes depend on openpyxl's version,
    which `python tests/office_books.py --check` compares."""
    assert len(BOOKS) >= 8
    for made in write_all(tmp_path):
        committed = openpyxl.load_workbook(OFFICE_DIR / made.name)
        fresh = openpyxl.load_workbook(made)
        assert committed.sheetnames == fresh.sheetnames, made.name
        for a, b in zip(committed.worksheets, fresh.worksheets, strict=True):
            assert [list(r) for r in a.values] == [list(r) for r in b.values], (made.name, a.title)
            assert sorted(map(str, a.merged_cells.ranges)) == sorted(
                map(str, b.merged_cells.ranges)
            )


def test_two_row_header_maps_groups_and_details_and_reports_layout() -> None:
    valid = read(OFFICE_DIR / "01_两行表头.xlsx")
    [report] = valid.tables
    assert report.header_rows == "3–4"
    columns = dict(report.columns)
    assert columns["基金收入/其中：征缴收入"] == "income_contribution"
    assert columns["基金支出/其中：住院"] == "exp_inpatient"
    assert columns["基金支出/其中：其他"] == "exp_other"
    assert columns["基金结余/期末累计结余"] == "balance"
    assert columns["基金结余/本期结余"] is None  # not a ledger column: said, not guessed
    assert (report.unit, report.unit_source) == ("元", "第 2 行：单位：元")
    assert (report.first_month, report.last_month, report.rows) == ("2024-01", "2024-12", 96)
    assert report.funds == ("employee", "resident")
    [ignored] = [w for w in valid.warnings if w.code == "ignored_column"]
    assert ignored.column == "基金结余/本期结余" and ignored.row == 4


def test_fund_by_sheet_name_and_notes_sheet_skipped_with_a_note() -> None:
    valid = read(OFFICE_DIR / "02_三行表头_按险种分表.xlsx")
    assert [(t.sheet, t.stated) for t in valid.tables] == [
        (
            "职工基本医疗保险统筹基金",
            (("fund", "employee", "工作表名称“职工基本医疗保险统筹基金”"),),
        ),
        ("城乡居民基本医疗保险", (("fund", "resident", "工作表名称“城乡居民基本医疗保险”"),)),
    ]
    notes = read(OFFICE_DIR / "03_副标题注明险种.xlsx")
    [skipped] = [w for w in notes.warnings if w.code == "sheet_skipped"]
    assert skipped.severity == "warning" and skipped.sheet == "填表说明"
    assert notes.tables[0].stated == (
        ("fund", "employee", "第 2 行注明的“职工基本医疗保险统筹基金”"),
    )


# ---------------------------------------------------------------- LibreOffice


@pytest.fixture(scope="module")
def libreoffice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The office books converted by LibreOffice (`soffice --headless --convert-to`), as WPS
    and LibreOffice users send them: one folder per format."""
    if SOFFICE is None:
        reason = "LibreOffice (soffice) is not installed: apt-get install libreoffice-calc"
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("libreoffice")
    profile = (root / "profile").as_uri()  # its own profile: no clash with a running soffice
    books = sorted(str(p) for p in OFFICE_DIR.glob("*.xlsx"))
    for fmt in ("xls", "ods", "xlsx"):
        subprocess.run(
            [SOFFICE, f"-env:UserInstallation={profile}", "--headless", "--convert-to", fmt,
             "--outdir", str(root / fmt), *books],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
    return root


@pytest.mark.parametrize("fmt", ["xls", "ods", "xlsx"])
@pytest.mark.parametrize("name", list(BOOKS), ids=[b.what for b in BOOKS.values()])
def test_book_saved_by_libreoffice_reads_like_excels(
    libreoffice: Path, fmt: str, name: str
) -> None:
    path = libreoffice / fmt / Path(name).with_suffix(f".{fmt}")
    assert path.exists(), sorted(p.name for p in (libreoffice / fmt).iterdir())
    valid = read(path)
    same_rows(valid.rows, BOOKS[name].expected())
    original = read(OFFICE_DIR / name)
    assert [(t.sheet, t.header_rows, t.columns, t.unit) for t in valid.tables] == [
        (t.sheet, t.header_rows, t.columns, t.unit) for t in original.tables
    ]


# ---------------------------------------------------------------- through the command


def test_import_check_shows_how_each_column_was_read(cli, engine) -> None:
    result = cli("import", "--check", str(OFFICE_DIR / "02_三行表头_按险种分表.xlsx"))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "工作表 职工基本医疗保险统筹基金：表头在第 3–5 行；48 行；月份 2024-01 至 2024-12" in out
    assert "险种 职工医保；金额单位 万元（第 1 行：单位：万元）" in out
    assert "基金收入/其中/征缴收入" in out and "征缴收入（income_contribution）" in out
    assert "参保人数/其中/在职" in out and "在职参保人数（insured_active）" in out
    assert "工作表名称“城乡居民基本医疗保险”" in out and "险种：居民医保（全表）" in out
    assert "校验通过（--check，未写入）：96 行" in out


def test_import_stores_an_office_book_exactly(cli, engine) -> None:
    from test_ledger_import import stored

    result = cli("import", str(OFFICE_DIR / "07_县区合并单元格_栏次.xlsx"))
    assert result.exit_code == 0, result.output
    expected = BOOKS["07_县区合并单元格_栏次.xlsx"].expected()
    same_rows(stored(engine), expected)


# ---------------------------------------------------------------- refused: ambiguous


def book(path: Path, sheets: dict[str, Sequence[Sequence[Any]]]) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(list(row))
    wb.save(path)
    return path


HEAD = ["统筹区编码", "统筹区名称", "险种", "月份", "本期收入", "本期支出", "期末累计结余"]


def rows(fund: str = "居民医保", months: Sequence[Any] = ("2024-01", "2024-02")) -> list[list[Any]]:
    return [
        ["341721", "东至县", fund, m, 100.0, 90.0, 1000.0 + 10 * i] for i, m in enumerate(months)
    ]


def test_month_2024_1_is_refused_unless_october_is_written_2024_10(tmp_path: Path) -> None:
    short = book(
        tmp_path / "a.xlsx", {"表": [["单位：元"], HEAD, *rows(months=["2024.1", "2024.2"])]}
    )
    [f] = refused(short)
    assert (f.code, f.sheet, f.row, f.column, f.value) == (
        "ambiguous_month",
        "表",
        3,
        "月份",
        "2024.1",
    )
    assert "可能是 1 月" in f.message and f.expected and "2024-10" in f.expected
    full = book(
        tmp_path / "b.xlsx", {"表": [["单位：元"], HEAD, *rows(months=["2024.1", "2024.10"])]}
    )
    assert sorted(read(full).rows["month"]) == ["2024-01", "2024-10"]


def test_month_typed_as_a_number_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = book(tmp_path / "n.xlsx", {"表": [["单位：元"], HEAD, *rows(months=[2024.05, 2024.1])]})
    findings = refused(path)
    assert [(f.code, f.row) for f in findings] == [("bad_month", 3), ("bad_month", 4)]
    assert "数字单元格" in findings[0].message and findings[0].value == "2024.05"


def test_sheet_name_and_fund_column_that_disagree_are_refused_row_by_row(tmp_path: Path) -> None:
    path = book(tmp_path / "c.xlsx", {"居民医保": [["单位：元"], HEAD, *rows("职工医保")]})
    findings = refused(path)
    assert [(f.code, f.row, f.column, f.value) for f in findings] == [
        ("stated_conflict", 3, "险种", "职工医保"),
        ("stated_conflict", 4, "险种", "职工医保"),
    ]
    assert findings[0].message == "险种与工作表名称“居民医保”不一致"
    assert findings[0].expected == "居民医保"


def test_sheet_name_and_a_labelled_line_that_disagree_are_refused(tmp_path: Path) -> None:
    head = [h for h in HEAD if h != "险种"]
    data = [[r[0], r[1], *r[3:]] for r in rows()]
    path = book(
        tmp_path / "d.xlsx", {"职工医保": [["险种：城乡居民基本医疗保险　单位：元"], head, *data]}
    )
    [f] = refused(path)
    assert (f.code, f.sheet, f.row) == ("stated_conflict", "职工医保", 1)
    assert f.message == "工作表名称“职工医保”与第 1 行注明的“城乡居民基本医疗保险”不一致"


def test_no_fund_column_and_none_stated_is_refused_saying_how_to_state_it(tmp_path: Path) -> None:
    head = [h for h in HEAD if h != "险种"]
    data = [[r[0], r[1], *r[3:]] for r in rows()]
    path = book(tmp_path / "e.xlsx", {"Sheet1": [["基金收支表（单位：元）"], head, *data]})
    [f] = refused(path)
    assert (f.code, f.sheet, f.column) == ("missing_column", "Sheet1", "险种")
    assert "工作表名称和表头上方的标题也未注明险种" in f.message
    assert f.expected and "险种：职工基本医疗保险统筹基金" in f.expected


def test_unknown_fund_in_a_labelled_line_is_refused(tmp_path: Path) -> None:
    head = [h for h in HEAD if h != "险种"]
    data = [[r[0], r[1], *r[3:]] for r in rows()]
    path = book(tmp_path / "f.xlsx", {"S": [["险种：工伤保险基金　单位：元"], head, *data]})
    [f] = refused(path)
    assert (f.code, f.row, f.value) == ("unknown_fund", 1, "工伤保险基金")


def test_month_sheets_with_a_summary_sheet_without_month_are_refused(tmp_path: Path) -> None:
    head = [h for h in HEAD if h != "月份"]
    data = [[*r[:3], *r[4:]] for r in rows()[:1]]
    path = book(tmp_path / "g.xlsx", {
        "2024年1月": [["单位：元"], head, *data],
        "2024年2月": [["单位：元"], head, *data],
        "全年汇总": [["单位：元"], head, *data],
    })  # fmt: skip
    [f] = refused(path)
    assert (f.code, f.sheet, f.column) == ("missing_column", "全年汇总", "月份")


def test_title_states_the_fund_and_the_month_when_there_is_no_column(tmp_path: Path) -> None:
    head = [h for h in HEAD if h not in ("险种", "月份")]
    data = [[r[0], r[1], *r[4:]] for r in rows()[:1]]
    title = "池州市城乡居民基本医疗保险基金2024年3月收支情况（单位：元）"
    valid = read(book(tmp_path / "h.xlsx", {"Sheet1": [[title], head, *data]}))
    assert valid.rows[["fund", "month"]].values.tolist() == [["resident", "2024-03"]]
    ranged = "池州市城乡居民基本医疗保险基金2024年1-3月收支情况（单位：元）"
    [f] = refused(book(tmp_path / "i.xlsx", {"Sheet1": [[ranged], head, *data]}))
    assert (f.code, f.column) == ("missing_column", "月份")  # a range is not a month


def test_year_to_date_group_and_a_detail_under_the_wrong_group_are_ignored(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["单位：元"])
    ws.append(
        ["统筹区编码", "统筹区名称", "险种", "月份", "本月", None, "本年累计", None, "基金收入"]
    )
    ws.append([None, None, None, None, "收入", "支出", "收入", "支出", "其中：住院"])
    ws.append(["341721", "东至县", "居民医保", "2024-01", 100, 90, 100, 90, 5])
    ws.merge_cells("E2:F2")
    ws.merge_cells("G2:H2")
    ws["J2"], ws["J3"], ws["J4"] = "期末累计结余", None, 1000
    wb.save(tmp_path / "ytd.xlsx")
    valid = read(tmp_path / "ytd.xlsx")
    assert dict(valid.tables[0].columns) == {
        "统筹区编码": "region_code", "统筹区名称": "region_name", "险种": "fund", "月份": "month",
        "本月/收入": "income", "本月/支出": "expenditure", "本年累计/收入": None,
        "本年累计/支出": None, "基金收入/其中：住院": None, "期末累计结余": "balance",
    }  # fmt: skip
    assert valid.rows["income"].tolist() == [10000]


def test_unknown_currency_in_a_group_is_refused_once(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(
        [
            "统筹区编码",
            "统筹区名称",
            "险种",
            "月份",
            "基金收入（千元）",
            None,
            "本期支出",
            "期末累计结余",
        ]
    )
    ws.append([None, None, None, None, "本期收入", "其中：征缴收入", None, None])
    ws.append(["341721", "东至县", "居民医保", "2024-01", 100, 90, 80, 1000])
    ws.merge_cells("E1:F1")
    wb.save(tmp_path / "k.xlsx")
    with pytest.raises(LedgerRejected) as info:
        read_ledger_file(tmp_path / "k.xlsx")
    assert [(f.code, f.value) for f in info.value.findings] == [("unknown_unit", "千元")]
