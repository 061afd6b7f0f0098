"""Reading ledger files as offices export them: monitor.ledger.files."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from hostile_books import ROW, cell, xlsx

from monitor.core.errors import LedgerRejected
from monitor.core.findings import Finding
from monitor.ledger.files import RawTable, read_ledger_file

HEADERS = ["统筹区编码", "统筹区名称", "险种", "月份", "本期收入", "本期支出", "期末累计结余"]
CANONICAL = ["region_code", "region_name", "fund", "month", "income", "expenditure", "balance"]
DISTRICTS = [("341702", "贵池区"), ("341721", "东至县"), ("341722", "石台县"), ("341723", "青阳县")]
FUNDS = ["职工医保", "居民医保"]


def ledger_rows(months: int = 3) -> list[list[Any]]:
    """4 districts x 2 funds x `months` months of figures in 万元."""
    rows = []
    for k, (code, name) in enumerate(DISTRICTS):
        for f, fund in enumerate(FUNDS):
            for m in range(1, months + 1):
                income = 1000.0 + 100 * k + 10 * f + m
                rows.append([code, name, fund, f"2024-{m:02d}", income, income - 50.5, 9000.25 + m])
    return rows


def write_book(path: Path, sheets: dict[str, Sequence[Sequence[Any]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(list(row))
    book.save(path)
    return path


def office_book(path: Path) -> Path:
    """A fund office's monthly report: merged title with the unit, a blank row, the
    header in row 3, 24 data rows (4..27), a 合计 row and a 制表/审核 footer."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "2024年"
    sheet["A1"] = "某市基本医疗保险基金收支月报（单位：万元）"
    sheet.merge_cells("A1:G1")
    sheet.append([])
    sheet.append(HEADERS)
    for row in ledger_rows():
        sheet.append(row)
    sheet.append(["合计", None, None, None, 99999.0, 88888.0, 77777.0])
    sheet.append([])
    sheet.append(["制表：张三　审核：李四"])
    book.save(path)
    return path


def rejected(path: Path, **kwargs: Any) -> list[Finding]:
    with pytest.raises(LedgerRejected) as info:
        read_ledger_file(path, **kwargs)
    return info.value.findings


def only(tables: list[RawTable]) -> RawTable:
    assert len(tables) == 1
    return tables[0]


def write_csv(path: Path, lines: Sequence[str], encoding: str = "utf-8") -> Path:
    path.write_bytes("".join(line + "\r\n" for line in lines).encode(encoding))
    return path


def csv_lines(rows: Sequence[Sequence[Any]], sep: str = ",") -> list[str]:
    return [sep.join(str(v) for v in row) for row in rows]


# ---------------------------------------------------------------- workbooks


def test_office_workbook_title_unit_rows_and_footer(tmp_path: Path) -> None:
    table = only(read_ledger_file(office_book(tmp_path / "月报.xlsx")))
    assert table.source == str(tmp_path / "月报.xlsx")
    assert table.sheet == "2024年"
    assert table.header_row == 3
    assert table.headers == dict(zip(CANONICAL, HEADERS, strict=True))
    assert table.unit == "万元"
    assert table.unit_source == "第 1 行：单位：万元"
    assert table.ignored_columns == []
    frame = table.frame
    assert list(frame.columns) == [*CANONICAL, "row"]
    assert len(frame) == 24
    assert frame["row"].tolist() == list(range(4, 28))  # 合计 (28) and footer (30) dropped
    assert frame["row"].dtype == "int64"
    first = frame.iloc[0].tolist()
    assert first == ["341702", "贵池区", "职工医保", "2024-01", 1001.0, 950.5, 9001.25, 4]
    last = frame.iloc[-1].tolist()
    assert last == ["341723", "青阳县", "居民医保", "2024-03", 1313.0, 1262.5, 9003.25, 27]


def test_merged_cells_title_empty_and_region_filled_down(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["基金收支表（单位：元）"])
    sheet.merge_cells("A1:G1")
    sheet.append(HEADERS)
    sheet.append(["341702", "贵池区", "职工医保", "2024-01", 10, 5, 100])
    sheet.append([None, None, "居民医保", "2024-01", 20, 6, 200])
    sheet.merge_cells("A3:A4")  # the region named once over its two funds
    sheet.merge_cells("B3:B4")
    sheet.append(["341721", "东至县", "职工医保", "2024-01", 30, 7, 300])
    sheet.append(["341721", "东至县", "居民医保", "2024-01", 40, None, None])
    sheet.merge_cells("F5:F6")  # a merged amount is ambiguous: left as calamine gives it
    book.save(tmp_path / "merged.xlsx")

    table = only(read_ledger_file(tmp_path / "merged.xlsx"))
    assert (table.header_row, table.unit, table.unit_source) == (2, "元", "第 1 行：单位：元")
    frame = table.frame
    assert frame["row"].tolist() == [3, 4, 5, 6]
    assert frame["region_code"].tolist() == ["341702", "341702", "341721", "341721"]
    assert frame["region_name"].tolist() == ["贵池区", "贵池区", "东至县", "东至县"]
    assert frame["expenditure"].tolist()[2:] == [7.0, None]


def test_header_unit_suffixes_and_count_column(tmp_path: Path) -> None:
    headers = ["统筹区编码", "险种", "月份", "本期收入（万元）", "本期支出（万元）",
               "期末累计结余(万元)", "参保人数（人）"]  # fmt: skip
    data = ["341702", "职工医保", "2024-05", 1, 2, 3, 4567]
    path = write_book(tmp_path / "u.xlsx", {"表1": [headers, data]})
    table = only(read_ledger_file(path))
    assert table.unit == "万元"
    assert table.unit_source == "列 本期收入（万元）"
    assert table.headers["insured"] == "参保人数（人）"
    assert table.headers["balance"] == "期末累计结余(万元)"
    assert table.frame.iloc[0].to_dict() == {
        "region_code": "341702", "fund": "职工医保", "month": "2024-05", "income": 1.0,
        "expenditure": 2.0, "balance": 3.0, "insured": 4567.0, "row": 2,
    }  # fmt: skip


def test_unit_conflict_names_both_places(tmp_path: Path) -> None:
    rows = [
        ["基金收支月报", None, "单位：万元"],
        ["统筹区编码", "险种", "月份", "本期收入", "本期支出（元）", "期末累计结余"],
        ["341702", "职工医保", "2024-05", 1, 2, 3],
    ]
    findings = rejected(write_book(tmp_path / "c.xlsx", {"S": rows}))
    assert len(findings) == 1
    f = findings[0]
    assert (f.code, f.sheet, f.row, f.column, f.value, f.expected) == (
        "unit_conflict", "S", 2, "本期支出（元）", "元", "万元",
    )  # fmt: skip
    assert f.message == "金额单位不一致：第 1 行：单位：万元 为 万元，列 本期支出（元） 为 元"


def test_unknown_currency_unit_refused_and_reporting_office_ignored(tmp_path: Path) -> None:
    rows = [
        ["填报单位：某市医疗保障局"],  # "单位" here is the office, not a unit
        ["统筹区编码", "险种", "月份", "本期收入（千元）", "本期支出", "期末累计结余"],
        ["341702", "职工医保", "2024-05", 1, 2, 3],
    ]
    findings = rejected(write_book(tmp_path / "k.xlsx", {"S": rows}))
    assert [(f.code, f.row, f.column, f.value) for f in findings] == [
        ("unknown_unit", 2, "本期收入（千元）", "千元")
    ]


def test_reporting_office_line_states_no_unit(tmp_path: Path) -> None:
    data = ["341702", "贵池区", "职工医保", "2024-05", 1, 2, 3]
    rows = [["填报单位：某市医疗保障局"], HEADERS, data]
    table = only(read_ledger_file(write_book(tmp_path / "o.xlsx", {"S": rows})))
    assert (table.unit, table.unit_source, table.header_row) == (None, None, 2)


def test_sheet_starting_at_c3_keeps_excel_row_numbers(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "数据"
    for j, text in enumerate(HEADERS):
        sheet.cell(row=3, column=3 + j, value=text)
    for i, row in enumerate(ledger_rows(1)[:3]):
        row[0] = int(row[0])  # codes typed as numbers
        row[3] = dt.datetime(2024, 1, 1)  # months typed as dates
        for j, value in enumerate(row):
            sheet.cell(row=5 + i, column=3 + j, value=value)  # row 4 left blank
    sheet["J5"] = "核对无误"  # data under no header
    book.save(tmp_path / "c3.xlsx")

    table = only(read_ledger_file(tmp_path / "c3.xlsx"))
    assert table.header_row == 3
    assert table.frame["row"].tolist() == [5, 6, 7]
    assert table.frame["region_code"].tolist() == [341702.0, 341702.0, 341721.0]  # floats
    assert table.frame["month"].tolist()[0] == dt.date(2024, 1, 1)
    assert table.ignored_columns == ["J 列（无表头）"]


def test_two_ledger_sheets_and_a_notes_sheet(tmp_path: Path) -> None:
    rows = ledger_rows(1)
    path = write_book(tmp_path / "two.xlsx", {
        "职工": [HEADERS, *[r for r in rows if r[2] == "职工医保"]],
        "说明": [["填表说明"], ["金额单位为万元，月份为 YYYY-MM"]],
        "居民": [["（单位：亿元）"], HEADERS, *[r for r in rows if r[2] == "居民医保"]],
    })  # fmt: skip
    tables = read_ledger_file(path)
    assert [(t.sheet, t.header_row, t.unit, len(t.frame)) for t in tables] == [
        ("职工", 1, None, 4),
        ("居民", 2, "亿元", 4),
    ]
    assert tables[1].frame["row"].tolist() == [3, 4, 5, 6]
    assert set(tables[1].frame["fund"]) == {"居民医保"}

    one = only(read_ledger_file(path, sheet="居民"))
    assert one.sheet == "居民"


def test_sheet_option_unknown_or_not_a_ledger(tmp_path: Path) -> None:
    path = write_book(tmp_path / "b.xlsx", {"职工": [HEADERS], "说明": [["填表说明"]]})
    [f] = rejected(path, sheet="居民")
    assert (f.code, f.value, f.expected) == ("no_sheet", "居民", "职工、说明")
    assert f.message == "工作簿中没有工作表 居民"
    [f] = rejected(path, sheet="说明")
    assert (f.code, f.sheet) == ("no_header", "说明")


def test_workbook_without_any_ledger_sheet_names_each_sheet(tmp_path: Path) -> None:
    path = write_book(tmp_path / "n.xlsx", {
        "封面": [["某市医保基金月报"]],
        "草稿": [["统筹区编码", "月份", "备注"], ["341702", "2024-05", "x"]],
        "空": [],
    })  # fmt: skip
    findings = rejected(path)
    assert [(f.code, f.sheet) for f in findings] == [
        ("no_ledger_sheet", "封面"), ("no_ledger_sheet", "草稿"), ("no_ledger_sheet", "空"),
    ]  # fmt: skip
    assert "没有可识别的列名" in findings[0].message
    assert "最接近的是第 1 行，只认出必需列：统筹区编码、月份" in findings[1].message
    assert findings[2].message == "工作表 空：工作表是空的"


def test_missing_required_column_names_it_and_the_header_row(tmp_path: Path) -> None:
    rows = [["收支表"], [], ["统筹区编码", "险种", "月份", "本期收入", "期末累计结余"]]
    [f] = rejected(write_book(tmp_path / "m.xlsx", {"表": rows}))
    assert (f.code, f.severity, f.sheet, f.row) == ("missing_column", "error", "表", 3)
    assert f.column == "本期支出"
    assert f.message == "缺少必需列 本期支出（表头在第 3 行）"
    assert f.expected is not None
    assert f.expected.startswith("本期支出、expenditure、支出、基金支出")


def test_duplicate_column_refused(tmp_path: Path) -> None:
    rows = [[*HEADERS, "收入（万元）"], ["341702", "贵池区", "职工医保", "2024-05", 1, 2, 3, 1]]
    [f] = rejected(write_book(tmp_path / "d.xlsx", {"S": rows}))
    assert (f.code, f.row, f.column) == ("duplicate_column", 1, "收入（万元）")
    assert f.message == "列 本期收入 和列 收入（万元） 都对应 本期收入"


def test_corrupt_workbook_missing_file_and_other_types(tmp_path: Path) -> None:
    (tmp_path / "bad.xlsx").write_bytes(b"this is not a zip file")
    [f] = rejected(tmp_path / "bad.xlsx")
    assert f.code == "unreadable"
    assert f.message.startswith("无法读取工作簿：")
    [f] = rejected(tmp_path / "nope.csv")
    assert (f.code, f.message, f.file) == ("unreadable", "文件不存在", str(tmp_path / "nope.csv"))
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    [f] = rejected(tmp_path / "a.pdf")
    assert (f.code, f.value) == ("unsupported_file", ".pdf")


def test_html_saved_as_xls_gets_a_hint(tmp_path: Path) -> None:
    (tmp_path / "export.xls").write_text("<html><table><tr><td>统筹区编码</td></tr></table></html>")
    [f] = rejected(tmp_path / "export.xls")
    assert f.code == "unreadable"
    assert f.message.endswith("请用 Excel 打开后另存为 .xlsx）")


def test_xlsx_content_with_xls_name_is_read(tmp_path: Path) -> None:
    path = office_book(tmp_path / "real.xlsx")
    renamed = tmp_path / "renamed.xls"
    renamed.write_bytes(path.read_bytes())
    assert len(only(read_ledger_file(renamed)).frame) == 24


# ---------------------------------------------------------------- delimited text


def office_csv_lines() -> list[str]:
    return [
        "某市基本医疗保险基金收支月报（单位：万元）,,,,,,",
        ",,,,,,",
        ",".join(HEADERS),
        *csv_lines(ledger_rows(1)),
        "合计,,,,1.0,2.0,3.0",
        "",
        "制表：张三　审核：李四,,,,,,",
    ]


def test_gbk_csv(tmp_path: Path) -> None:
    table = only(read_ledger_file(write_csv(tmp_path / "gbk.csv", office_csv_lines(), "gbk")))
    assert table.sheet is None
    assert (table.header_row, table.unit, table.unit_source) == (3, "万元", "第 1 行：单位：万元")
    assert table.frame["row"].tolist() == list(range(4, 12))
    assert table.frame["region_name"].tolist()[:2] == ["贵池区", "贵池区"]
    assert table.frame.iloc[0]["income"] == "1001.0"  # text kept as written
    assert table.ignored_columns == []


def test_utf8_bom_csv(tmp_path: Path) -> None:
    lines = [",".join(HEADERS), "341702,贵池区,职工医保,2024-05,1,,3"]
    table = only(read_ledger_file(write_csv(tmp_path / "bom.csv", lines, "utf-8-sig")))
    assert table.headers["region_code"] == "统筹区编码"  # no BOM glued to it
    row = table.frame.iloc[0]
    assert (row["region_code"], row["income"], row["row"]) == ("341702", "1", 2)
    assert math.isnan(row["expenditure"])  # empty CSV cells are NaN


def test_gb18030_csv_with_rare_characters(tmp_path: Path) -> None:
    lines = [",".join(HEADERS), "341702,𠀀㐀区,居民医保,2024年5月,1,2,3"]
    path = write_csv(tmp_path / "gb.csv", lines, "gb18030")
    with pytest.raises(UnicodeEncodeError):
        "𠀀".encode("gbk")  # not in GBK: only GB18030's four-byte form holds it
    table = only(read_ledger_file(path))
    assert table.frame["region_name"].tolist() == ["𠀀㐀区"]
    assert table.frame["month"].tolist() == ["2024年5月"]


def test_latin1_garbage_refused_with_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("region_code,region_name\n341702,Caf\xe9,\xff\n".encode("latin-1"))
    [f] = rejected(path)
    assert f.code == "bad_encoding"
    assert "按 UTF-8 在字节偏移 34 处无法解码（e9 2c ff 0a）" in f.message
    assert "按 GB18030 在字节偏移 34 处无法解码" in f.message


def test_utf8_file_with_a_gbk_row_later_is_refused_not_garbled(tmp_path: Path) -> None:
    # the bad row lies beyond the header scan, so it is the parser that meets it
    head = (",".join(HEADERS) + "\n" + "341702,贵池区,职工医保,2024-05,1,2,3\n" * 40_000).encode()
    path = tmp_path / "mixed.csv"
    path.write_bytes(head + "341721,东至县,职工医保,2024-05,1,2,3\n".encode("gbk"))
    [f] = rejected(path)
    assert f.code == "bad_encoding"
    assert f"按 UTF-8 在字节偏移 {len(head) + 7} 处无法解码" in f.message


def test_utf16_text_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    path.write_bytes("\t".join(HEADERS).encode("utf-16"))
    [f] = rejected(path)
    assert f.code == "bad_encoding"
    assert "UTF-16" in f.message


def test_tab_delimited_txt(tmp_path: Path) -> None:
    lines = ["基金收支（单位：元）", "\t".join(HEADERS), *csv_lines(ledger_rows(1)[:2], sep="\t")]
    table = only(read_ledger_file(write_csv(tmp_path / "t.txt", lines)))
    assert (table.header_row, table.unit) == (2, "元")
    assert table.frame["row"].tolist() == [3, 4]
    assert table.frame["fund"].tolist() == ["职工医保", "居民医保"]


def test_english_canonical_headers(tmp_path: Path) -> None:
    names = "region_code,region_name,parent_code,fund,month,income,expenditure,balance"
    lines = [
        names,
        "341702,Guichi,341700,employee,2024-05,100.5,90.25,1000",
        "341700,Chizhou,,resident,202405,1,2,3",
    ]
    table = only(read_ledger_file(write_csv(tmp_path / "en.csv", lines)))
    assert table.headers == {c: c for c in names.split(",")}
    assert table.unit is None
    assert table.frame["parent_code"].tolist()[0] == "341700"
    assert math.isnan(table.frame["parent_code"].tolist()[1])
    assert table.frame["row"].tolist() == [2, 3]


def test_csv_line_numbers_with_blank_lines_and_quoted_line_breaks(tmp_path: Path) -> None:
    lines = [
        '"基金月报',
        '（单位：万元）"',  # a title spanning two lines inside quotes
        ",".join(HEADERS),
        "341702,贵池区,职工医保,2024-05,1,2,3",
        "",
        "   ",
        '341721,"东至县',
        '（新）",职工医保,2024-05,"1,000.5",2,3',
        "341722,石台县,职工医保,2024-05,1,2,3",
        "小计,,,,1,2,3",
        "注：本表由系统导出",
    ]
    table = only(read_ledger_file(write_csv(tmp_path / "q.csv", lines)))
    assert (table.header_row, table.unit, table.unit_source) == (3, "万元", "第 1 行：单位：万元")
    assert table.frame["region_code"].tolist() == ["341702", "341721", "341722"]
    assert table.frame["row"].tolist() == [4, 7, 9]
    assert table.frame["region_name"].tolist()[1] == "东至县\r\n（新）"
    assert table.frame["income"].tolist()[1] == "1,000.5"


def test_csv_extra_fields_and_broken_rows_are_kept(tmp_path: Path) -> None:
    lines = [
        ",".join(HEADERS) + ",备注",
        "341702,贵池区,职工医保,2024-05,1,2,3,",
        "341702,贵池区,居民医保,2024-05,1,2,3,,多出的一格",
        ",贵池区,居民医保,2024-06,x,,",  # no code: kept for validation to report
    ]
    table = only(read_ledger_file(write_csv(tmp_path / "r.csv", lines)))
    assert table.frame["row"].tolist() == [2, 3, 4]
    assert math.isnan(table.frame["region_code"].tolist()[2])
    assert table.ignored_columns == ["备注", "第 9 列（无表头）"]


def test_csv_without_header(tmp_path: Path) -> None:
    lines = ["统筹区编码,月份,金额", "341702,2024-05,1"]
    [f] = rejected(write_csv(tmp_path / "h.csv", lines))
    assert (f.code, f.sheet) == ("no_header", None)
    assert "最接近的是第 1 行，只认出必需列：统筹区编码、月份" in f.message


def test_full_width_spaces_and_spaced_total_row(tmp_path: Path) -> None:
    lines = [
        ",".join(f"\u3000{h} " for h in HEADERS),
        "341702,贵池区,职工医保,2024-05,1,2,3",
        "合　　计,,,,1,2,3",
    ]
    table = only(read_ledger_file(write_csv(tmp_path / "w.csv", lines)))
    assert table.headers["region_code"] == "统筹区编码"
    assert table.frame["row"].tolist() == [2]


def test_frame_dtypes_for_csv(tmp_path: Path) -> None:
    lines = [",".join(HEADERS), "341702,贵池区,职工医保,2024-05,1,2,3"]
    frame = only(read_ledger_file(write_csv(tmp_path / "s.csv", lines))).frame
    assert all(pd.api.types.is_string_dtype(frame[c]) for c in CANONICAL)
    assert frame["row"].dtype == "int64"


def test_a_merged_block_as_wide_as_the_sheet_costs_a_step_per_key_cell(tmp_path: Path) -> None:
    """A block A2:XFD60001 over 60,000 rows used to cost 16,384 steps per row: 23 s here (6
    minutes for a million rows, well within the sheet limits); now 4 per row, 0.4 s."""
    rows = [
        f'<row r="1">{"".join(cell(f"{chr(65 + c)}1", h) for c, h in enumerate(HEADERS))}</row>'
    ]
    for r in range(2, 60_002):
        values = ROW if r == 2 else ["", "", "", "2024-01", 100, 90, 1000]
        cells = "".join(cell(f"{chr(65 + c)}{r}", v) for c, v in enumerate(values) if v != "")
        rows.append(f'<row r="{r}">{cells}</row>')
    merged = '<mergeCells count="1"><mergeCell ref="A2:XFD60001"/></mergeCells>'
    book = xlsx(tmp_path / "wide.xlsx", {"Sheet1": "".join(rows)}, dimension=None, after=merged)
    t0 = time.monotonic()
    table = only(read_ledger_file(book))
    assert time.monotonic() - t0 < 10  # generous: 0.4 s measured
    assert set(table.frame["region_code"]) == {"341721"}  # filled down the whole block
    assert len(table.frame) == 60_000


def test_overlapping_merged_blocks_are_refused(tmp_path: Path) -> None:
    rows = [
        f'<row r="1">{"".join(cell(f"{chr(65 + c)}1", h) for c, h in enumerate(HEADERS))}</row>'
    ]
    for r in range(2, 202):
        cells = "".join(cell(f"{chr(65 + c)}{r}", v) for c, v in enumerate(ROW))
        rows.append(f'<row r="{r}">{cells}</row>')
    blocks = "".join('<mergeCell ref="A2:A201"/>' for _ in range(100))
    merged = f'<mergeCells count="100">{blocks}</mergeCells>'
    book = xlsx(tmp_path / "overlap.xlsx", {"Sheet1": "".join(rows)}, dimension=None, after=merged)
    [f] = rejected(book)
    assert (f.code, f.sheet) == ("unreadable", "Sheet1") and "合并单元格" in f.message


# ---------------------------------------------------------------- headers of several rows


def test_two_row_header_saved_as_csv_reads_the_group_and_its_details(tmp_path: Path) -> None:
    """Excel saves merged group cells as text in the first column only; before, the second
    header row was read as data (统筹区编码为空, 本期收入不是数字)."""
    lines = [
        "池州市基本医疗保险基金收支情况表（单位：元）,,,,,,,,",
        "统筹区编码,统筹区名称,险种,月份,基金收入,,基金支出,,基金结余",
        ",,,,本期收入,其中：征缴收入,本期支出,其中：住院,期末累计结余",
        "甲,乙,丙,丁,1,2,3,4,5",
        "341721,东至县,居民医保,2024-01,100,80,90,60,1000",
        "东至县小计,,,,100,80,90,60,",
    ]
    table = only(read_ledger_file(write_csv(tmp_path / "two.csv", lines)))
    assert (table.first_header_row, table.header_row, table.header_rows()) == (2, 3, "2–3")
    assert table.headers == {
        "region_code": "统筹区编码", "region_name": "统筹区名称", "fund": "险种",
        "month": "月份", "income": "基金收入/本期收入",
        "income_contribution": "基金收入/其中：征缴收入", "expenditure": "基金支出/本期支出",
        "exp_inpatient": "基金支出/其中：住院", "balance": "基金结余/期末累计结余",
    }  # fmt: skip
    assert table.unit == "元"
    assert table.frame["row"].tolist() == [5]  # the 栏次 row and the 小计 row are not data
    assert table.frame.iloc[0]["income_contribution"] == "80"


def test_a_group_row_above_the_best_header_row_is_part_of_the_header(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["统筹区编码", "统筹区名称", "险种", "月份", "基金收入", None, "基金支出", None,
                  "期末累计结余"])  # fmt: skip
    sheet.append([None, None, None, None, "本期收入", "其中：财政补助", "本期支出", "其中：药店"])
    sheet.append(["341721", "东至县", "居民医保", "2024-01", 100, 10, 90, 5, 1000])
    for block in ("A1:A2", "B1:B2", "C1:C2", "D1:D2", "E1:F1", "G1:H1", "I1:I2"):
        sheet.merge_cells(block)
    book.save(tmp_path / "g.xlsx")
    table = only(read_ledger_file(tmp_path / "g.xlsx"))
    assert table.header_rows() == "1–2" and table.ignored_columns == []
    assert table.headers["income_subsidy"] == "基金收入/其中：财政补助"
    assert table.headers["exp_pharmacy"] == "基金支出/其中：药店"
    assert table.headers["region_code"] == "统筹区编码"  # merged down: shown once
    assert table.frame["row"].tolist() == [3]


def test_title_and_unit_rows_above_a_header_are_not_part_of_it(tmp_path: Path) -> None:
    path = write_book(tmp_path / "t.xlsx", {"表": [
        ["池州市医保基金收支表", "池州市医保基金收支表"],
        ["填报单位：池州市医疗保障局", "单位：万元"],
        HEADERS,
        ["341721", "东至县", "居民医保", "2024-01", 1, 1, 1],
    ]})  # fmt: skip
    table = only(read_ledger_file(path))
    assert table.header_rows() == "3" and table.unit == "万元"
    assert [(s.column, s.how, s.where) for s in table.stated if s.how == "sheet"] == [
        ("fund", "sheet", "工作表名称"), ("month", "sheet", "工作表名称"),
    ]  # fmt: skip


def test_a_unit_note_at_the_end_of_a_group_row_states_the_unit(tmp_path: Path) -> None:
    lines = [
        "统筹区编码,统筹区名称,险种,月份,基金收入,,基金支出,期末累计结余,单位：万元",
        ",,,,本期收入,其中：利息收入,本期支出,,",
        "341721,东至县,居民医保,2024-01,100,1,90,1000,",
    ]
    table = only(read_ledger_file(write_csv(tmp_path / "note.csv", lines)))
    assert table.header_rows() == "1–2" and table.unit == "万元"
    assert table.unit_source == "第 1 行：单位：万元"
    assert table.headers["income_interest"] == "基金收入/其中：利息收入"
    assert table.ignored_columns == []


def test_a_row_of_units_under_the_header_states_each_columns_unit(tmp_path: Path) -> None:
    path = write_book(tmp_path / "u.xlsx", {"表": [
        [*HEADERS, "参保人数"],
        [None, None, None, None, "万元", "万元", "万元", "人"],
        ["341721", "东至县", "居民医保", "2024-01", 1.5, 1.25, 10, 300],
    ]})  # fmt: skip
    table = only(read_ledger_file(path))
    assert table.header_rows() == "1–2" and table.unit == "万元"
    assert table.unit_source == "列 本期收入/万元"
    assert table.headers["income"] == "本期收入/万元" and table.headers["insured"] == "参保人数/人"
    assert table.frame["row"].tolist() == [3]
    mixed = write_book(tmp_path / "m.xlsx", {"表": [
        HEADERS, [None, None, None, None, "万元", "元", "万元"],
        ["341721", "东至县", "居民医保", "2024-01", 1.5, 1.25, 10],
    ]})  # fmt: skip
    [f] = rejected(mixed)
    assert f.code == "unit_conflict"
