"""Workbooks made the way fund offices make them, from the demo city's 2024 ledger.

    python tests/office_books.py           # writes tests/data/office/*.xlsx
    python tests/office_books.py --check   # exits 1 when a committed book differs from its making

ALL FIGURES ARE SYNTHETIC (monitor.demo.data.demo_city). Each book is one office habit or
several: titles merged across the table, a unit in a note or a header, headers of two and
three rows with groups merged over their columns (基金收入 over 本期收入 | 其中：征缴收入 | …),
one sheet per fund or per month with the fund or month stated only by the sheet's name or a
line above the header, numbers typed as text with thousands separators or in full-width digits,
months as text, numbers or Excel dates, region cells merged over their rows, blank spacer rows
and columns, 小计/合计 rows, a row of column numbers (栏次), notes sheets and footers.

`BOOKS` maps each file name to the writer and to the rows the book states (`expected`): the
ledger's integer fen rounded to what the book writes (an amount in 万元 with two decimals
states it to 100 元), so an import is checked to the fen. openpyxl writes the books; their
bytes are made reproducible by fixing the document's dates and the zip entries' times, so
`--check` can compare them byte for byte (a newer openpyxl may write other bytes: then run
the script and commit its books; the tests compare what the books hold, not their bytes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import io
import sys
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

from monitor.core.money import UNITS, yuan_grouped
from monitor.demo.data import EXPENDITURE_PARTS, demo_city

OFFICE_DIR = Path(__file__).parent / "data" / "office"
YEAR = 2024
MADE_ON = dt.datetime(2025, 1, 10, 9, 0)  # the books' document dates, fixed
ZIP_TIME = (2025, 1, 10, 9, 0, 0)

FUND_NAMES = {  # as offices write them
    "employee": "职工基本医疗保险统筹基金",
    "resident": "城乡居民基本医疗保险",
}
SHORT = {"employee": "职工医保", "resident": "居民医保"}
INCOME_PARTS = ("income_contribution", "income_subsidy", "income_interest", "income_other")
EXP_PARTS = ("exp_inpatient", "exp_outpatient", "exp_chronic", "exp_pharmacy", "exp_other")
KEYS = ("region_code", "fund", "month")


@functools.cache
def ledger() -> pd.DataFrame:
    """The demo city's four counties, both funds, 2024: sorted by month, fund, region."""
    data = demo_city().ledger
    data = data[data["month"].str.startswith(str(YEAR))]
    return data.sort_values(["month", "fund", "region_code"], kind="stable").reset_index(drop=True)


def rounded(fen: pd.Series, unit: str, decimals: int) -> pd.Series:
    """Fen as a book written in `unit` with `decimals` states them (half away from zero)."""
    step = UNITS[unit] * 100 // 10**decimals
    values = fen.to_numpy(dtype="int64", na_value=0)
    out = np.sign(values) * ((np.abs(values) + step // 2) // step) * step
    return pd.Series(out, index=fen.index, dtype="Int64").where(fen.notna())


def figure(fen: int, unit: str, decimals: int) -> float:
    """The number a cell holds for `fen` in `unit`, rounded as `rounded` rounds."""
    step = UNITS[unit] * 100 // 10**decimals
    whole = int(np.sign(fen)) * ((abs(int(fen)) + step // 2) // step)
    return whole / 10**decimals


def _expected(columns: Sequence[str], unit: str, decimals: int, **blank: bool) -> pd.DataFrame:
    data = ledger()
    out = data[list(KEYS)].copy()
    for column in columns:
        if blank.get(column):
            out[column] = pd.Series(pd.NA, index=out.index, dtype="Int64")
        elif column.startswith("insured"):  # persons, not money
            out[column] = data[column].astype("Int64")
        else:
            out[column] = rounded(data[column], unit, decimals)
    return out


# ---------------------------------------------------------------- writing


def _book() -> Workbook:
    book = Workbook()
    if book.active is not None:
        book.remove(book.active)
    return book


def save(book: Workbook, path: Path) -> Path:
    """Save with fixed document dates and zip entry times, so a book is remade byte for byte."""
    book.properties.creator = "池州市医疗保障局基金科"
    book.properties.created = MADE_ON
    raw = io.BytesIO()
    book.save(raw)
    stamp = MADE_ON.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "docProps/core.xml":  # openpyxl stamps 'modified' with now
                start = data.index(b"<dcterms:modified")
                end = data.index(b"</dcterms:modified>")
                head = data[start : data.index(b">", start) + 1]
                data = data[:start] + head + stamp + data[end:]
            dst.writestr(zipfile.ZipInfo(info.filename, ZIP_TIME), data, zipfile.ZIP_DEFLATED)
    path.write_bytes(out.getvalue())
    return path


BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)


def title(ws: Worksheet, text: str, width: int, row: int = 1) -> None:
    ws.cell(row, 1, text).font = TITLE
    ws.cell(row, 1).alignment = CENTER
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)


def header(ws: Worksheet, cells: Sequence[tuple[int, int, str, int, int]]) -> None:
    """(row, column, text, rows spanned, columns spanned): merged where it spans."""
    for row, col, text, rows, cols in cells:
        cell = ws.cell(row, col, text)
        cell.font, cell.alignment = BOLD, CENTER
        if rows > 1 or cols > 1:
            ws.merge_cells(
                start_row=row, start_column=col, end_row=row + rows - 1, end_column=col + cols - 1
            )


def put_row(ws: Worksheet, row: int, values: Sequence[Any], first_column: int = 1) -> None:
    for j, value in enumerate(values):
        if value is not None:
            ws.cell(row, first_column + j, value)


def month_text(month: str) -> str:
    return f"{int(month[:4])}年{int(month[5:])}月"


def footer(ws: Worksheet, row: int) -> None:
    ws.cell(row, 1, "制表：王芳　　审核：李强　　制表日期：2025年1月10日")


def _fen(value: Any) -> int | None:
    return None if pd.isna(value) else int(value)


# ---------------------------------------------------------------- the books

GROUPED = (  # the two-row layout of book 01: (group, [(sub-header, column)])
    ("基金收入", [("本期收入", "income"), ("其中：征缴收入", "income_contribution"),
              ("其中：财政补助", "income_subsidy"), ("其中：利息收入", "income_interest"),
              ("其中：其他收入", "income_other")]),
    ("基金支出", [("本期支出", "expenditure"), ("其中：住院", "exp_inpatient"),
              ("其中：普通门诊", "exp_outpatient"), ("其中：门诊慢特病", "exp_chronic"),
              ("其中：药店", "exp_pharmacy"), ("其中：其他", "exp_other")]),
    ("基金结余", [("本期结余", None), ("期末累计结余", "balance")]),
)  # fmt: skip
GROUPED_COLUMNS = [c for _, subs in GROUPED for _, c in subs if c]
KEYS_ZH = ["统筹区编码", "统筹区名称", "险种", "月份"]
GROUPED_WIDTH = len(KEYS_ZH) + sum(len(subs) for _, subs in GROUPED)


def grouped_header(ws: Worksheet, row: int = 3) -> None:
    """The two-row header of book 01 at `row`: the keys merged down both rows, each group
    merged over its sub-headers."""
    cells = [(row, j + 1, text, 2, 1) for j, text in enumerate(KEYS_ZH)]
    col = len(KEYS_ZH) + 1
    for group, subs in GROUPED:
        cells.append((row, col, group, 1, len(subs)))
        cells += [(row + 1, col + k, text, 1, 1) for k, (text, _) in enumerate(subs)]
        col += len(subs)
    header(ws, cells)


def tripled(rows: pd.DataFrame, region: str, fund: str) -> pd.DataFrame:
    """An office's mistake: `region`'s `fund` expenditure (and its parts) keyed three times
    too large in `rows`, the balance following it as an office system computes it."""
    rows = rows.copy()
    at = (rows["region_code"] == region) & (rows["fund"] == fund)
    extra = rows.loc[at, "expenditure"] * 2
    for column in ("expenditure", *EXPENDITURE_PARTS):
        rows.loc[at, column] = rows.loc[at, column] * 3
    rows.loc[at, "balance"] = rows.loc[at, "balance"] - extra
    return rows


def two_row_header(path: Path) -> Path:
    """One sheet, both funds: title, a note row (填报单位 … 单位：元), a group row merged over
    its columns with the keys merged down two rows, the sub-header row, months as text
    "2024年1月", amounts in 元 as numbers, a 合计 row and the footer."""
    book = _book()
    ws = book.create_sheet("基金收支")
    width = GROUPED_WIDTH
    title(ws, "池州市基本医疗保险基金收支情况表（2024年）", width)
    ws.cell(2, 1, "填报单位：池州市医疗保障局")
    ws.cell(2, width - 1, "单位：元")
    grouped_header(ws)
    row = 5
    data = ledger()
    for r in data.itertuples(index=False):
        values: list[Any] = [r.region_code, r.region_name, SHORT[r.fund], month_text(r.month)]
        for _, subs in GROUPED:
            for _, column in subs:
                fen = r.income - r.expenditure if column is None else getattr(r, column)
                values.append(figure(fen, "元", 2))
        put_row(ws, row, values)
        row += 1
    put_row(ws, row, ["合计", None, None, None, figure(int(data["income"].sum()), "元", 2)])
    footer(ws, row + 2)
    return save(book, path)


def three_row_header(path: Path) -> Path:
    """One sheet per fund, named by the fund as offices write it (no fund column); a
    three-row header: 统筹区 over 编码 | 名称, 基金收入 over 合计 | 其中 (over 征缴收入 | 财政补助 |
    利息 | 其他), 基金支出 likewise, 参保人数 over 合计 | 其中 (在职 | 退休); months as Excel
    dates; amounts in 万元 with two decimals (unit in the title)."""
    book = _book()
    income = ["征缴收入", "财政补助", "利息", "其他"]
    spend = ["住院", "普通门诊", "门诊慢特病", "药店", "其他"]
    columns = ["income", *INCOME_PARTS, "expenditure", *EXP_PARTS, "balance", "insured",
               "insured_active", "insured_retired"]  # fmt: skip
    width = 3 + len(columns)
    for fund in ("employee", "resident"):
        ws = book.create_sheet(FUND_NAMES[fund])
        title(ws, "池州市2024年基本医疗保险基金收支明细表（单位：万元）", width)
        c_inc, c_exp = 4, 4 + 1 + len(income)
        c_bal = c_exp + 1 + len(spend)
        c_ins = c_bal + 1
        header(ws, [
            (3, 1, "统筹区", 1, 2), (4, 1, "编码", 2, 1), (4, 2, "名称", 2, 1),
            (3, 3, "月份", 3, 1),
            (3, c_inc, "基金收入", 1, 1 + len(income)), (4, c_inc, "合计", 2, 1),
            (4, c_inc + 1, "其中", 1, len(income)),
            *[(5, c_inc + 1 + k, t, 1, 1) for k, t in enumerate(income)],
            (3, c_exp, "基金支出", 1, 1 + len(spend)), (4, c_exp, "合计", 2, 1),
            (4, c_exp + 1, "其中", 1, len(spend)),
            *[(5, c_exp + 1 + k, t, 1, 1) for k, t in enumerate(spend)],
            (3, c_bal, "期末累计结余", 3, 1),
            (3, c_ins, "参保人数", 1, 3), (4, c_ins, "合计", 2, 1), (4, c_ins + 1, "其中", 1, 2),
            (5, c_ins + 1, "在职", 1, 1), (5, c_ins + 2, "退休", 1, 1),
        ])  # fmt: skip
        data = ledger()
        row = 6
        for r in data[data["fund"] == fund].itertuples(index=False):
            values: list[Any] = [r.region_code, r.region_name, None]
            for column in columns:
                v = getattr(r, column)
                if column.startswith("insured"):
                    values.append(_fen(v))
                else:
                    values.append(figure(v, "万元", 2))
            put_row(ws, row, values)
            cell = ws.cell(row, 3, dt.datetime(int(r.month[:4]), int(r.month[5:]), 1))
            cell.number_format = 'yyyy"年"m"月"'
            row += 1
        footer(ws, row + 1)
    return save(book, path)


def fund_in_subtitle(path: Path) -> Path:
    """Sheets named Sheet1 and Sheet2, the fund only in a line under the title
    ("险种：职工基本医疗保险统筹基金　　单位：元"); months as text "2024.1" … "2024.12" (October
    written "2024.10", so "2024.1" is January); amounts typed as text with thousands
    separators; a 填表说明 sheet of notes."""
    book = _book()
    for k, fund in enumerate(("employee", "resident"), start=1):
        ws = book.create_sheet(f"Sheet{k}")
        title(ws, "基本医疗保险基金收支月报", 6)
        ws.cell(2, 1, f"险种：{FUND_NAMES[fund]}　　　单位：元")
        put_row(ws, 3, ["统筹区编码", "统筹区名称", "月份", "本期收入", "本期支出", "期末累计结余"])
        data = ledger()
        row = 4
        for r in data[data["fund"] == fund].itertuples(index=False):
            month = f"{int(r.month[:4])}.{int(r.month[5:])}"
            amounts = [yuan_grouped(getattr(r, c)) for c in ("income", "expenditure", "balance")]
            put_row(ws, row, [r.region_code, r.region_name, month, *amounts])
            row += 1
    notes = book.create_sheet("填表说明")
    notes["A1"] = "填表说明"
    notes["A2"] = "1. 金额单位为元，保留两位小数。"
    notes["A3"] = "2. 月份按“年.月”填写。"
    return save(book, path)


def sheet_per_month(path: Path) -> Path:
    """One sheet per month named "2024年1月" … (no month column); funds written in full;
    the details as "其中：住院" … in a one-row header; amounts in 元."""
    book = _book()
    heads = ["统筹区编码", "统筹区名称", "险种", "本期收入", "其中：征缴收入", "本期支出",
             "其中：住院", "其中：普通门诊", "期末累计结余"]  # fmt: skip
    columns = ["income", "income_contribution", "expenditure", "exp_inpatient", "exp_outpatient",
               "balance"]  # fmt: skip
    data = ledger()
    for month, part in data.groupby("month", sort=True):
        ws = book.create_sheet(month_text(str(month)))
        title(ws, f"池州市医保基金收支情况（{month_text(str(month))}，单位：元）", len(heads))
        put_row(ws, 2, heads)
        for i, r in enumerate(part.itertuples(index=False), start=3):
            values = [figure(getattr(r, c), "元", 2) for c in columns]
            put_row(ws, i, [r.region_code, r.region_name, FUND_NAMES[r.fund], *values])
    return save(book, path)


def month_in_subtitle(path: Path) -> Path:
    """Sheets "1月" … "12月" (no year); the month in a line above the header
    ("统计期：2024年1月　单位：万元"); amounts in 万元 with four decimals; funds as 职工/居民."""
    book = _book()
    data = ledger()
    for month, part in data.groupby("month", sort=True):
        ws = book.create_sheet(f"{int(str(month)[5:])}月")
        ws.cell(1, 1, "基本医疗保险基金收支快报")
        ws.cell(2, 1, f"统计期：{month_text(str(month))}")
        ws.cell(2, 5, "单位：万元")
        put_row(ws, 3, ["统筹区编码", "统筹区名称", "险种", "本期收入", "本期支出", "期末累计结余"])
        for i, r in enumerate(part.itertuples(index=False), start=4):
            values = [
                figure(getattr(r, c), "万元", 4) for c in ("income", "expenditure", "balance")
            ]
            fund = "职工" if r.fund == "employee" else "居民"
            put_row(ws, i, [r.region_code, r.region_name, fund, *values])
    return save(book, path)


FULL_WIDTH = str.maketrans("0123456789,", "０１２３４５６７８９，")


def spacers_full_width(path: Path) -> Path:
    """The resident fund only; the table starts at B3 under a blank row and column, with a
    blank spacer column after the names and a blank row between counties; codes and months
    (202401) typed as numbers; amounts typed as text in full-width digits
    ("５７，６５６，０９０.３７"); units in the headers ("本期收入（元）");
    其中：利息收入 filled with "—" (nothing reported)."""
    book = _book()
    ws = book.create_sheet("居民医保")
    heads = ["统筹区编码", "统筹区名称", None, "险种", "月份", "本期收入（元）",
             "其中：利息收入（元）", "本期支出（元）", "期末累计结余（元）"]  # fmt: skip
    put_row(ws, 3, heads, first_column=2)
    data = ledger()
    data = data[data["fund"] == "resident"].sort_values(["region_code", "month"], kind="stable")
    row = 4
    last = None
    for r in data.itertuples(index=False):
        if last is not None and r.region_code != last:
            row += 1  # a blank row between counties
        last = r.region_code
        income, spent, balance = (
            yuan_grouped(getattr(r, c)).translate(FULL_WIDTH)
            for c in ("income", "expenditure", "balance")
        )
        month = int(r.month.replace("-", ""))
        values = [int(r.region_code), r.region_name, None, "居民医保", month, income, "—", spent,
                  balance]  # fmt: skip
        put_row(ws, row, values, first_column=2)
        row += 1
    return save(book, path)


def county_blocks(path: Path) -> Path:
    """Code and name merged down over each county's rows, a 小计 row after each county and
    a 合计 row at the end; a row of column numbers (栏次: 甲 乙 丙 丁 1 2 …) under the header;
    months as "2024年01月"; funds as "城镇职工基本医疗保险" and "城乡居民医疗保险基金";
    insured persons with active and retired; the unit in a note under the title."""
    book = _book()
    ws = book.create_sheet("2024年")
    heads = ["统筹区编码", "统筹区名称", "险种", "月份", "本期收入", "本期支出", "期末累计结余",
             "参保人数", "在职人数", "退休人数"]  # fmt: skip
    title(ws, "池州市基本医疗保险基金运行情况", len(heads))
    ws.cell(2, len(heads), "单位：元、人")
    put_row(ws, 3, heads)
    put_row(ws, 4, ["甲", "乙", "丙", "丁", *range(1, len(heads) - 3)])
    names = {"employee": "城镇职工基本医疗保险", "resident": "城乡居民医疗保险基金"}
    data = ledger().sort_values(["region_code", "fund", "month"], kind="stable")
    row = 5
    for _, part in data.groupby("region_code", sort=True):
        first = row
        for r in part.itertuples(index=False):
            key: list[Any] = [r.region_code, r.region_name] if row == first else [None, None]
            amounts = [figure(getattr(r, c), "元", 2) for c in ("income", "expenditure", "balance")]
            counts = [_fen(r.insured), _fen(r.insured_active), _fen(r.insured_retired)]
            month = f"{r.month[:4]}年{r.month[5:]}月"
            put_row(ws, row, [*key, names[r.fund], month, *amounts, *counts])
            row += 1
        ws.merge_cells(start_row=first, start_column=1, end_row=row - 1, end_column=1)
        ws.merge_cells(start_row=first, start_column=2, end_row=row - 1, end_column=2)
        name = part["region_name"].iloc[0]
        put_row(
            ws, row, [None, f"{name}小计", None, None, figure(int(part["income"].sum()), "元", 2)]
        )
        row += 1
    put_row(ws, row, ["合计", None, None, None, figure(int(data["income"].sum()), "元", 2)])
    footer(ws, row + 2)
    return save(book, path)


def centred_groups(path: Path) -> Path:
    """A two-row header whose groups are not merged but written once in their first column
    (Excel's "centre across selection", as WPS exports often are), the unit in a group
    ("基金收入（元）"), a 栏次 row of numbers only, months as Excel dates (yyyy-mm)."""
    book = _book()
    ws = book.create_sheet("收支表")
    title(ws, "基本医疗保险基金收支情况", 11)
    put_row(ws, 2, ["统筹区编码", "统筹区名称", "险种", "所属期", "基金收入（元）", None, None,
                    "基金支出（元）", None, None, "期末累计结余（元）"])  # fmt: skip
    put_row(ws, 3, [None, None, None, None, "本期收入", "其中：征缴收入", "其中：财政补助",
                    "本期支出", "其中：住院", "其中：普通门诊", None])  # fmt: skip
    put_row(ws, 4, list(range(1, 12)))
    columns = ["income", "income_contribution", "income_subsidy", "expenditure", "exp_inpatient",
               "exp_outpatient", "balance"]  # fmt: skip
    for i, r in enumerate(ledger().itertuples(index=False), start=5):
        put_row(ws, i, [r.region_code, r.region_name, SHORT[r.fund], None,
                        *(figure(getattr(r, c), "元", 2) for c in columns)])  # fmt: skip
        cell = ws.cell(i, 4, dt.datetime(int(r.month[:4]), int(r.month[5:]), 1))
        cell.number_format = "yyyy-mm"
    return save(book, path)


@dataclass(frozen=True)
class Book:
    write: Callable[[Path], Path]
    expected: Callable[[], pd.DataFrame]
    what: str  # the habits it shows, for test ids and the README


BOOKS: dict[str, Book] = {
    "01_两行表头.xlsx": Book(
        two_row_header, lambda: _expected(GROUPED_COLUMNS, "元", 2), "两行表头、其中明细、单位行"
    ),
    "02_三行表头_按险种分表.xlsx": Book(
        three_row_header,
        lambda: _expected(
            [
                "income",
                *INCOME_PARTS,
                "expenditure",
                *EXP_PARTS,
                "balance",
                "insured",
                "insured_active",
                "insured_retired",
            ],
            "万元",
            2,
        ),
        "三行表头、工作表名为险种、日期月份、万元",
    ),
    "03_副标题注明险种.xlsx": Book(
        fund_in_subtitle,
        lambda: _expected(["income", "expenditure", "balance"], "元", 2),
        "副标题注明险种、2024.1 式月份、千分位文本数字、说明页",
    ),
    "04_按月分表.xlsx": Book(
        sheet_per_month,
        lambda: _expected(
            [
                "income",
                "income_contribution",
                "expenditure",
                "exp_inpatient",
                "exp_outpatient",
                "balance",
            ],
            "元",
            2,
        ),
        "每月一张工作表、险种全称",
    ),
    "05_副标题注明月份.xlsx": Book(
        month_in_subtitle,
        lambda: _expected(["income", "expenditure", "balance"], "万元", 4),
        "统计期注明月份、万元四位小数",
    ),
    "06_空行空列_全角数字.xlsx": Book(
        spacers_full_width,
        lambda: (
            _expected(
                ["income", "income_interest", "expenditure", "balance"],
                "元",
                2,
                income_interest=True,
            )
            .pipe(lambda f: f[f["fund"] == "resident"])
            .reset_index(drop=True)
        ),
        "空行空列、全角数字、数字月份、占位符“—”",
    ),
    "07_县区合并单元格_栏次.xlsx": Book(
        county_blocks,
        lambda: _expected(
            ["income", "expenditure", "balance", "insured", "insured_active", "insured_retired"],
            "元",
            2,
        ),
        "县区合并单元格、小计合计、栏次行、人数",
    ),
    "08_跨列居中表头.xlsx": Book(
        centred_groups,
        lambda: _expected(
            [
                "income",
                "income_contribution",
                "income_subsidy",
                "expenditure",
                "exp_inpatient",
                "exp_outpatient",
                "balance",
            ],
            "元",
            2,
        ),
        "未合并的分组表头、分组中的单位、数字栏次、日期月份",
    ),
}


def write_all(folder: Path = OFFICE_DIR) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, book in BOOKS.items():
        yield book.write(folder / name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed books")
    args = parser.parse_args()
    if not args.check:
        for path in write_all():
            print(f"{path} ({path.stat().st_size:,} bytes)")
        return 0
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        differ = [
            p.name
            for p in write_all(Path(tmp))
            if p.read_bytes() != (OFFICE_DIR / p.name).read_bytes()
        ]
    for name in differ:
        print(f"differs: {name}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
