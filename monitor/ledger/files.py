"""Read ledger files as fund offices export them into raw tables.

Handles the shape only: the header under titles and notes, header texts → canonical
columns, the money unit the file states, row numbers as the user sees them, blank and
footer rows. Cell values stay raw; the validation step parses months, amounts and funds.

Offices' layouts read here (README "Ledger files"):
- a header of up to three rows: a group merged over its columns (基金收入 over 本期收入 |
  其中：征缴收入 | …) above the names; each column's header is its parts top to bottom,
  a merged cell giving its text to every column and row it covers (an empty cell in a
  group row continues the group at its left when the row below names the column, as
  "centre across selection" and a CSV saved from merged cells leave it), read by
  `columns.match_header_parts`; a row of column numbers (栏次: 甲 乙 1 2 3 …) under it;
- a fund or a month stated once for the sheet instead of a column: by the sheet's name
  ("职工医保", "2024年5月"), a labelled line above the header ("险种：职工基本医疗保险统筹基金",
  "统计期：2024年5月") or inside the title; kept as `Stated` for validation to resolve;
- several sheets: those that hold no ledger (notes, a cover) are skipped with a note;
- blank spacer rows and columns, titles, notes, 合计/小计 rows and footers.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import mmap
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import python_calamine

from monitor.config.settings import ImportSettings
from monitor.core.columns import (
    BY_NAME,
    COLUMNS,
    HEADER_JOIN,
    REQUIRED,
    TOTAL_WORDS,
    match_header,
    match_header_parts,
    strip_mark,
    unit_word,
)
from monitor.core.errors import LedgerRejected
from monitor.core.findings import Finding
from monitor.core.money import parse_unit
from monitor.core.months import read_month
from monitor.ledger.sheet_limits import Limits, MergedRange, check_sheets, ods_merged_cells

TEXT_SUFFIXES = (".csv", ".txt")
BOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
SCAN_ROWS = 30  # titles, notes and blank rows above the header fit in far fewer
MIN_REQUIRED = 3  # a row naming fewer required columns is a title or a note, not the header
HEAD_BYTES = 1 << 20  # enough text for SCAN_ROWS records of any sane ledger
HEADER_DEPTH = 3  # rows one header may span: a group, a sub-group, the names
STATED_COLUMNS = ("fund", "month")  # what a sheet may state once instead of in a column

FOOTER_WORDS = (
    "制表", "填表", "填报", "审核", "复核", "负责人", "单位负责人", "主管", "注", "备注",
    "说明", "数据来源", "合计", "总计", "小计", "报送", "打印",
)  # fmt: skip
# "单位：万元" repeated under the table is a note too; whitespace is removed before matching
# because forms space out short words ("合　计").
_FOOTER = re.compile("(?:" + "|".join(FOOTER_WORDS) + r"|单位[:：])")
# "单位：万元" in a note or inside a title "（单位：万元）"; the token is checked by parse_unit
# because "填报单位：某市医疗保障局" uses the same word for the reporting office.
_UNIT_NOTE = re.compile(r"单位\s*[:：]\s*([^\s,，;；、/\)）\]】]+)")
# "险种：职工基本医疗保险统筹基金", "统计期：2024年5月" in a line above the header
# (a label starts its cell or follows a space: "医疗保险基金：2024年收支" is a title)
_FUND_LABEL = re.compile(r"(?<!\S)(?:险种|基金)(?:名称|类型|类别)?\s*[:：]\s*([^\s,，;；]+)")
_MONTH_LABEL = re.compile(
    r"(?<!\S)(?:统计期|所属期|报表期|报告期|所属月份|统计月份|报表月份|月份|期间|年月)"
    r"\s*[:：]\s*([^\s,，;；]+)"
)
_LABEL = re.compile(r"[:：]")  # "单位：元", "填报单位：…": a note, not a column's header
# a row of column numbers under a statistical form's header: 甲 乙 丙 | 1 2 3 …
_COLUMN_NUMBER = re.compile(r"[甲乙丙丁戊己庚辛壬癸]|[0-9]{1,3}|栏次|行次")
# a bracketed currency at the end of a header that money.parse_unit does not know ("千元")
_HEADER_CURRENCY = re.compile(
    r"[\(（\[【]\s*(?:单位\s*[:：]?\s*)?([^\)）\]】]*元)\s*[\)）\]】]\s*$"
)


@dataclass(frozen=True)
class Stated:
    """A fund or month stated once for a whole sheet, as written, for validation to read.

    `how`: "sheet" (the sheet's name), "label" (a line above the header such as
    "险种：职工基本医疗保险统筹基金") or "title" (any other text above the header, which
    may name it among other words). Only "sheet" and "label" are checked against a column
    that names it row by row; a title fills in a missing column only.
    """

    column: str  # "fund" | "month"
    text: str
    how: Literal["sheet", "label", "title"]
    where: str  # for messages: "工作表名称" | "第 2 行"
    row: int | None = None


@dataclass
class RawTable:
    source: str  # the path as the user gave it (str(path))
    sheet: str | None  # sheet name for workbooks, None for CSV
    header_row: int  # 1-based row number of the (last row of the) header as the user sees it
    headers: dict[str, str]  # canonical column name -> header text exactly as in the file
    unit: str | None  # '元' | '万元' | '亿元' as stated in the file, or None
    unit_source: str | None  # where the unit was read, for messages
    frame: pd.DataFrame  # canonical columns with raw values, plus int column "row"
    ignored_columns: list[str]  # header texts that matched no canonical column
    first_header_row: int | None = None  # a header of several rows starts here
    columns: list[tuple[str, str | None]] = field(default_factory=list)  # text → name or None
    stated: list[Stated] = field(default_factory=list)  # fund/month stated for the sheet
    notes: list[Finding] = field(default_factory=list)  # e.g. other sheets skipped

    def header_rows(self) -> str:
        """'3' or '3–4': where the header is, for messages."""
        first = self.first_header_row or self.header_row
        return str(first) if first == self.header_row else f"{first}–{self.header_row}"


@dataclass(frozen=True)
class _Loc:
    """Where findings point: the file and the sheet."""

    file: str
    sheet: str | None = None

    def error(self, code: str, message: str, **where: Any) -> Finding:
        return Finding("error", code, message, file=self.file, sheet=self.sheet, **where)

    def refuse(self, code: str, message: str, **where: Any) -> LedgerRejected:
        return LedgerRejected([self.error(code, message, **where)])


@dataclass(frozen=True)
class _Stated:
    unit: str
    source: str  # "第 1 行：单位：万元" | "列 本期收入（万元）"
    row: int
    column: str | None


@dataclass(frozen=True)
class _Header:
    row: int  # the last header row (data follow it)
    headers: dict[str, str]
    positions: dict[str, int]  # canonical column -> position in the row
    named: frozenset[int]  # positions whose header cell is not empty
    ignored: list[str]
    unit: str | None
    unit_source: str | None
    first_row: int = 0
    columns: tuple[tuple[str, str | None], ...] = ()
    stated: tuple[Stated, ...] = ()


@dataclass(frozen=True)
class _Record:
    cells: list[str]
    first_line: int
    last_line: int  # a quoted field may span lines


ColumnLabel = Callable[[int], str]


def read_ledger_file(
    path: str | os.PathLike[str],
    *,
    sheet: str | None = None,
    limits: Limits = ImportSettings(),  # noqa: B008 - frozen: a shared default is safe
) -> list[RawTable]:
    """The ledger tables in a file; raises LedgerRejected when it cannot be read as a ledger.

    `sheet` picks one sheet of a workbook; it is ignored for delimited text, so one
    `--sheet` can go with a mix of files. A workbook's sheets are measured before they are
    read and refused beyond `limits` (see monitor.ledger.sheet_limits).
    """
    loc = _Loc(str(path))
    p = Path(path)
    if not p.exists():
        raise loc.refuse("unreadable", "文件不存在")
    if not p.is_file():
        raise loc.refuse("unreadable", "不是文件")
    suffix = p.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return [_read_text(p, loc)]
    if suffix in BOOK_SUFFIXES:
        check_sheets(p, limits, None if sheet is None else [sheet], label=loc.file)
        return _read_workbook(p, loc, sheet)
    raise loc.refuse(
        "unsupported_file",
        f"不支持的文件类型 {p.suffix or '（无扩展名）'}",
        value=p.suffix,
        expected="、".join(TEXT_SUFFIXES + BOOK_SUFFIXES),
    )


# ---------------------------------------------------------------- header and units


def _cell_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # calamine gives every number as float
    return str(value).strip()  # str.strip also removes the full-width space U+3000


def _is_empty(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, float) and math.isnan(value))


def _score(cells: Sequence[Any]) -> tuple[int, frozenset[str]]:
    """How many distinct canonical columns the cells name, and which required ones (a group
    merged over several columns names one column however many cells it fills)."""
    names = {match_header(c)[0] for c in cells if isinstance(c, str) and c.strip()}
    names.discard(None)
    return len(names), frozenset(n for n in names if n in REQUIRED)


def _pick_header(scores: Sequence[tuple[int, frozenset[str]]]) -> int | None:
    best: int | None = None
    for i, (hits, required) in enumerate(scores):
        if len(required) >= MIN_REQUIRED and (best is None or hits > scores[best][0]):
            best = i
    return best


def _no_header_reason(scores: Sequence[tuple[int, frozenset[str]]], rows: Sequence[int]) -> str:
    """Why no row counts as the header, naming the closest one."""
    if not scores or max(hits for hits, _ in scores) == 0:
        return f"前 {SCAN_ROWS} 行中没有可识别的列名"
    i = max(range(len(scores)), key=lambda k: (len(scores[k][1]), scores[k][0]))
    found = "、".join(BY_NAME[n].label for n in REQUIRED if n in scores[i][1]) or "无"
    return (
        f"前 {SCAN_ROWS} 行中没有表头；最接近的是第 {rows[i]} 行，"
        f"只认出必需列：{found}（至少需要 {MIN_REQUIRED} 个）"
    )


def _accepted_texts(name: str) -> str:
    column = BY_NAME[name]
    return "、".join(dict.fromkeys((column.label, column.name, *column.aliases)))


# ---------------------------------------------------------------- headers of several rows


def _is_value(text: str) -> bool:
    """Cell text that is data, not a header: a number (a code, an amount with separators or
    full-width digits) or a month."""
    bare = "".join(text.split()).replace(",", "").replace("，", "")
    try:
        float(bare.translate(_FULL_WIDTH))
        return True
    except ValueError:
        return read_month(text) is not None


_FULL_WIDTH = str.maketrans("０１２３４５６７８９．－＋", "0123456789.-+")


def _names_a_column(text: str) -> bool:
    return match_header(text)[0] is not None or "".join(text.split()) in TOTAL_WORDS


def _is_note(cell: Any) -> bool:
    """A note such as "单位：元" in a header row (not "本期收入（单位：万元）", which names a
    column, nor "其中：住院")."""
    if not isinstance(cell, str):
        return False
    text = strip_mark(cell)
    return _LABEL.search(text) is not None and match_header(text)[0] is None


def _header_companion(cells: Sequence[Any], *, below: bool) -> bool:
    """Whether a row next to the header row belongs to the header: a group row above it
    (基金收入 | 基金支出 …) or a row of names below it (本期收入 | 其中：征缴收入 …). Such a
    row holds text only, in two or more distinct cells (a title fills one), no value and
    no note ("单位：元"), and names at least one column."""
    texts = [c for c in cells if not _is_empty(c)]
    if not texts or not all(isinstance(c, str) for c in texts):
        return False
    if below and len(texts) >= 2 and all(unit_word(c)[0] for c in texts):
        return True  # a row of units under the names: 万元 | 万元 | 人
    words = {strip_mark(c) for c in texts if not _is_note(c)}  # "单位：元" at its end
    if len(words) < 2 or any(_is_value(w) for w in words):
        return False
    if not below and any(_is_footer(w) for w in words):
        return False
    return any(_names_a_column(w) for w in words)


def _header_block(rows: Sequence[Sequence[Any]], index: int) -> tuple[int, int]:
    """(first, last) index of the header rows around the best-scoring row `index`."""
    first = last = index
    while (
        last + 1 < len(rows)
        and last - first + 1 < HEADER_DEPTH
        and _header_companion(rows[last + 1], below=True)
    ):
        last += 1
    while (
        first > 0
        and last - first + 1 < HEADER_DEPTH
        and _header_companion(rows[first - 1], below=False)
    ):
        first -= 1
    return first, last


def _column_parts(block: Sequence[Sequence[Any]], width: int) -> list[list[str]]:
    """Each column's header texts, top to bottom. A cell left empty in a group row takes
    the group at its left when the rows below name the column and the group spans too (it
    has names below it); a cell whose own column has nothing below (a name merged down,
    or written in the group row alone) does not spread."""
    grid = [[_cell_text(row[j]) if j < len(row) else "" for j in range(width)] for row in block]
    for i in range(len(grid) - 1):
        below = [any(grid[k][j] for k in range(i + 1, len(grid))) for j in range(width)]
        carry = ""
        for j in range(width):
            if grid[i][j]:
                carry = grid[i][j] if below[j] else ""
            elif carry and below[j]:
                grid[i][j] = carry
            else:
                carry = ""
    return [[grid[i][j] for i in range(len(grid)) if grid[i][j]] for j in range(width)]


def _header_text(parts: Sequence[str]) -> str:
    """'基金收入/其中：征缴收入'; a text merged down over two rows is shown once."""
    return HEADER_JOIN.join(p for k, p in enumerate(parts) if k == 0 or parts[k - 1] != p)


def _is_column_numbers(cells: Sequence[Any]) -> bool:
    """A row numbering the columns (栏次: 甲 乙 1 2 3 …) under a statistical form's header."""
    texts = [_cell_text(c) for c in cells if not _is_empty(c)]
    if len(texts) < 3 or not all(_COLUMN_NUMBER.fullmatch(t) for t in texts):
        return False
    numbers = [int(t) for t in texts if t.isdigit()]
    return len(numbers) >= 2 and numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def _stated(sheet: str | None, above: Sequence[tuple[int, Sequence[Any]]]) -> list[Stated]:
    """What the sheet's name and the lines above the header may say of its fund and month."""
    out: list[Stated] = []
    if sheet is not None and sheet.strip():
        out += [Stated(c, sheet.strip(), "sheet", "工作表名称") for c in STATED_COLUMNS]
    for row, cells in above:
        for cell in dict.fromkeys(c.strip() for c in cells if isinstance(c, str) and c.strip()):
            where = f"第 {row} 行"
            labels = [
                Stated(column, m.group(1), "label", where, row)
                for column, pattern in (("fund", _FUND_LABEL), ("month", _MONTH_LABEL))
                for m in pattern.finditer(cell)
            ]
            out += labels
            if not labels:
                out += [Stated(c, cell, "title", where, row) for c in STATED_COLUMNS]
    return out


def _analyse_header(
    block: Sequence[Sequence[Any]],
    rows: tuple[int, int],
    above: Sequence[tuple[int, Sequence[Any]]],
    loc: _Loc,
) -> _Header:
    """Map the header cells (one row, or the rows of `block`, merged cells filled) to
    canonical columns and settle the unit; raise on any problem. `rows`: the first and
    last header row as the user numbers them."""
    first_row, row = rows
    where = f"第 {row} 行" if first_row == row else f"第 {first_row}–{row} 行"
    findings: list[Finding] = []
    headers: dict[str, str] = {}
    positions: dict[str, int] = {}
    named: set[int] = set()
    ignored: list[str] = []
    columns: list[tuple[str, str | None]] = []
    # a note in a header row ("单位：元" at the end of a group row) states, it names no column
    notes = [(first_row + i, [c for c in r if _is_note(c)]) for i, r in enumerate(block)]
    block = [[None if _is_note(c) else c for c in r] for r in block]
    stated_units = _note_units([*above, *notes], loc, findings)
    unit_checked: set[str] = set()  # a group's cell spans many columns: judge its unit once
    width = max((len(r) for r in block), default=0)
    for pos, parts in enumerate(_column_parts(block, width)):
        if not parts:
            continue
        text = _header_text(parts)
        named.add(pos)
        name = (match_header_parts(parts) if len(parts) > 1 else match_header(parts[0]))[0]
        columns.append((text, name))
        if name is None:
            ignored.append(text)
        elif name in headers:
            findings.append(loc.error(
                "duplicate_column",
                f"列 {headers[name]} 和列 {text} 都对应 {BY_NAME[name].label}",
                row=row, column=text, value=text, expected=f"只保留一列 {BY_NAME[name].label}",
            ))  # fmt: skip
        else:
            headers[name], positions[name] = text, pos
            if BY_NAME[name].kind == "amount":
                for part in [p for p in dict.fromkeys(parts) if p not in unit_checked]:
                    unit_checked.add(part)  # a unit may be stated in a group's cell too
                    unit = unit_word(part)[1] or match_header(part)[1]
                    _header_unit(part, unit, row, loc, stated_units, findings, column=text)
    stated = _stated(loc.sheet, above)
    for name in REQUIRED:
        if name in headers:
            continue
        if name in STATED_COLUMNS and any(s.column == name for s in stated):
            continue  # the sheet's name or a line above may state it: validation reads it
        findings.append(loc.error(
            "missing_column", f"缺少必需列 {BY_NAME[name].label}（表头在{where}）",
            row=row, column=BY_NAME[name].label, expected=_accepted_texts(name),
        ))  # fmt: skip
    unit, unit_source = _agreed_unit(stated_units, loc, findings)
    if findings:
        raise LedgerRejected(findings)
    return _Header(
        row, headers, positions, frozenset(named), ignored, unit, unit_source,
        first_row=first_row, columns=tuple(columns), stated=tuple(stated),
    )  # fmt: skip


def _note_units(
    above: Sequence[tuple[int, Sequence[Any]]], loc: _Loc, findings: list[Finding]
) -> list[_Stated]:
    """Units stated in titles and notes above the header ("（单位：万元）")."""
    stated: list[_Stated] = []
    for row, cells in above:
        for cell in cells:
            if not isinstance(cell, str):
                continue
            for m in _UNIT_NOTE.finditer(cell):
                unit = parse_unit(m.group(1))
                if unit:
                    stated.append(_Stated(unit, f"第 {row} 行：{m.group(0)}", row, None))
                elif m.group(1).endswith("元"):
                    findings.append(_unknown_unit(loc, m.group(1), row, None, m.group(0)))
    return stated


def _header_unit(
    text: str,
    unit: str | None,
    row: int,
    loc: _Loc,
    stated: list[_Stated],
    found: list[Finding],
    *,
    column: str | None = None,
) -> None:
    """A unit in a header part (`text`) of the column whose whole header is `column`."""
    if unit:
        shown = column or text
        stated.append(_Stated(unit, f"列 {shown}", row, shown))
        return
    # match_header drops an unknown bracket ("本期收入（千元）") and still matches the
    # column; reading those amounts as another unit would be off by a factor.
    m = _HEADER_CURRENCY.search(text)
    if m and not parse_unit(m.group(1)):
        found.append(_unknown_unit(loc, m.group(1), row, text, text))


def _unknown_unit(loc: _Loc, unit: str, row: int, column: str | None, where: str) -> Finding:
    return loc.error(
        "unknown_unit", f"无法识别的金额单位 {unit}（{where}）",
        row=row, column=column, value=unit, expected="元、万元、亿元",
    )  # fmt: skip


def _agreed_unit(
    stated: Sequence[_Stated], loc: _Loc, findings: list[Finding]
) -> tuple[str | None, str | None]:
    if not stated:
        return None, None
    first = stated[0]
    for other in stated[1:]:
        if other.unit != first.unit:
            findings.append(loc.error(
                "unit_conflict",
                f"金额单位不一致：{first.source} 为 {first.unit}，{other.source} 为 {other.unit}",
                row=other.row, column=other.column, value=other.unit, expected=first.unit,
            ))  # fmt: skip
    return first.unit, first.source


# ---------------------------------------------------------------- rows below the header


def _is_footer(text: str) -> bool:
    return _FOOTER.match("".join(text.split())) is not None


def _noise_rows(body: pd.DataFrame, region_pos: int) -> np.ndarray:
    """Blank rows, and total/footer rows ("合计", "制表：张三") without a region code.

    Only rows whose region-code cell is empty or itself footer text can be noise, so the
    region codes are factorised (a few thousand distinct values) and only those rows are
    looked at one by one: this keeps a million-row file fast.
    """
    codes, uniques = pd.factorize(body[region_pos])
    odd = [
        i
        for i, v in enumerate(uniques)
        if isinstance(v, str) and (_is_empty(v) or _is_footer(v) or _is_subtotal(v))
    ]
    candidates = np.flatnonzero((codes < 0) | np.isin(codes, odd))
    noise = np.zeros(len(body), dtype=bool)
    if candidates.size:
        rows = body.iloc[candidates].itertuples(index=False, name=None)
        noise[candidates] = [_is_noise_row(cells) for cells in rows]
    return noise


# "贵池区小计", "全市合计": a subtotal row names its region before the word
_SUBTOTAL = re.compile(r"(?:小计|合计|总计)$")


def _is_subtotal(text: str) -> bool:
    return _SUBTOTAL.search("".join(text.split())) is not None


def _is_noise_row(cells: Sequence[Any]) -> bool:
    """Blank, a footer, or a subtotal row ("贵池区小计") whose region code is not a code."""
    first = next((c for c in cells if not _is_empty(c)), None)
    return first is None or (isinstance(first, str) and (_is_footer(first) or _is_subtotal(first)))


def _finish(
    header: _Header, body: pd.DataFrame, rows: np.ndarray, loc: _Loc, label: ColumnLabel
) -> RawTable:
    keep = ~_noise_rows(body, header.positions["region_code"])
    names = [c.name for c in COLUMNS if c.name in header.positions]
    frame = body[[header.positions[n] for n in names]]
    if not keep.all():
        frame, body = frame[keep], body[keep]
    frame = frame.set_axis(names, axis=1).reset_index(drop=True)
    frame["row"] = rows[keep].astype("int64")
    # data under an empty header cell would otherwise vanish without a word
    unnamed = [label(p) for p in body.columns if p not in header.named and body[p].notna().any()]
    return RawTable(
        source=loc.file,
        sheet=loc.sheet,
        header_row=header.row,
        headers=header.headers,
        unit=header.unit,
        unit_source=header.unit_source,
        frame=frame,
        ignored_columns=header.ignored + unnamed,
        first_header_row=header.first_row,
        columns=[*header.columns, *((text, None) for text in unnamed)],
        stated=list(header.stated),
    )


# ---------------------------------------------------------------- delimited text


# Encodings are decided by strict decoding, not by a statistical guesser (chardet and
# kin): the set is closed (UTF-8 with or without BOM, GBK/GB18030), a strict UTF-8
# decode practically never succeeds on GBK text with Chinese in it, and GB18030 is a
# superset of GBK. A guesser reads a sample and can name a wrong codec on short files;
# this either decodes every byte or names the byte where it failed.
_ENCODINGS = (("utf-8-sig", "utf-8"), ("gb18030", "gb18030"))  # (Python codec, pandas codec)


def _read_bytes(path: Path, loc: _Loc) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise loc.refuse("unreadable", f"无法读取文件：{e.strerror or e}") from e


class _TextFile:
    """A delimited text file: its head, and its whole bytes only when needed.

    The C parser reads the file itself; holding a copy of a large file here would only
    cost memory and time, so the whole bytes are read on slow paths alone (quoted line
    breaks, ragged rows, refusals).
    """

    def __init__(self, path: Path, loc: _Loc) -> None:
        self.path = path
        self.loc = loc
        try:
            with path.open("rb") as fh:
                self.head = _cut_at_line_end(fh.read(HEAD_BYTES + 1))
        except OSError as e:
            raise loc.refuse("unreadable", f"无法读取文件：{e.strerror or e}") from e

    @functools.cached_property
    def data(self) -> bytes:
        return _read_bytes(self.path, self.loc)

    def has_quote(self) -> bool:
        if not self.path.stat().st_size:
            return False
        with self.path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return m.find(b'"') >= 0


def _read_text(path: Path, loc: _Loc) -> RawTable:
    src = _TextFile(path, loc)
    if not src.head.strip():
        raise loc.refuse("no_header", "文件是空的", expected=_required_labels())
    if src.head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise loc.refuse(
            "bad_encoding",
            "文件是 UTF-16 编码（Excel 的“Unicode 文本”），请另存为“CSV UTF-8”",
            expected="UTF-8、GBK 或 GB18030 编码",
        )
    for codec, pandas_codec in _ENCODINGS:
        try:
            return _parse_text(src, codec, pandas_codec)
        except UnicodeDecodeError:  # from the header scan or from pandas, later in the file
            if codec == "utf-8-sig" and _is_utf8_text(src.head):
                break  # a bad byte in a UTF-8 file: GB18030 would only garble the rest
    raise _encoding_refusal(src.data, loc)


def _is_utf8_text(head: bytes) -> bool:
    """Non-ASCII text that decodes as UTF-8: GBK text practically never does."""
    try:
        head.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    return not head.isascii()


def _encoding_refusal(data: bytes, loc: _Loc) -> LedgerRejected:
    failures = []
    for codec, name in (("utf-8-sig", "UTF-8"), ("gb18030", "GB18030")):
        try:
            data.decode(codec)
        except UnicodeDecodeError as e:
            bad = data[e.start : e.start + 4].hex(" ")
            failures.append(f"按 {name} 在字节偏移 {e.start} 处无法解码（{bad}）")
    return loc.refuse(
        "bad_encoding",
        "无法识别文件编码：" + "；".join(failures),
        expected="UTF-8、UTF-8 BOM、GBK 或 GB18030 编码的 CSV",
    )


def _cut_at_line_end(data: bytes) -> bytes:
    """Up to HEAD_BYTES, cut at a line end so no character is split (a newline byte never
    sits inside a UTF-8 or GB18030 character)."""
    if len(data) <= HEAD_BYTES:
        return data
    cut = max(data.rfind(b"\n", 0, HEAD_BYTES), data.rfind(b"\r", 0, HEAD_BYTES))
    return data[: cut + 1] if cut >= 0 else data[:HEAD_BYTES]


def _scan_records(text: str, delimiter: str) -> tuple[list[_Record], list[str]]:
    """The first SCAN_ROWS records with their line numbers, and the raw lines read."""
    lines: list[str] = []

    def feed() -> Iterator[str]:
        for line in io.StringIO(text, newline=""):
            lines.append(line)
            yield line

    reader = csv.reader(feed(), delimiter=delimiter)
    records: list[_Record] = []
    try:
        for cells in reader:
            first = records[-1].last_line + 1 if records else 1
            records.append(_Record(cells, first, reader.line_num))
            if len(records) == SCAN_ROWS:
                break
    except csv.Error:
        pass  # a broken record within the head: the header, if any, is above it
    return records, lines


def _find_text_header(text: str, loc: _Loc) -> tuple[str, list[_Record], int]:
    """(delimiter, scanned records, header index): comma, or tab when the header line has
    more tabs than commas."""
    found: dict[str, tuple[list[_Record], int, str]] = {}
    reasons: list[str] = []
    for delimiter in (",", "\t"):
        records, lines = _scan_records(text, delimiter)
        scores = [_score(r.cells) for r in records]
        index = _pick_header(scores)
        if index is None:
            reasons.append(_no_header_reason(scores, [r.first_line for r in records]))
            continue
        record = records[index]
        found[delimiter] = records, index, "".join(lines[record.first_line - 1 : record.last_line])
    if not found:
        raise loc.refuse("no_header", reasons[0], expected=_required_labels())
    if "\t" in found:
        line = found["\t"][2]
        if "," not in found or line.count("\t") > line.count(","):
            return "\t", found["\t"][0], found["\t"][1]
    return ",", found[","][0], found[","][1]


def _required_labels() -> str:
    return f"表头至少含 {MIN_REQUIRED} 个必需列：" + "、".join(BY_NAME[n].label for n in REQUIRED)


def _parse_text(src: _TextFile, codec: str, pandas_codec: str) -> RawTable:
    text = src.head.decode(codec)  # strict: a wrong guess raises UnicodeDecodeError
    delimiter, records, index = _find_text_header(text, src.loc)
    first, last = _header_block([r.cells for r in records], index)
    block = records[first : last + 1]
    above = [(r.first_line, r.cells) for r in records[:first]]
    rows = (block[0].first_line, block[-1].first_line)
    header = _analyse_header([r.cells for r in block], rows, above, src.loc)
    skip = last + 1  # pandas' skiprows counts records, quote-aware, like the csv module
    if skip < len(records) and _is_column_numbers(records[skip].cells):
        skip += 1
    layout = _Layout(codec, pandas_codec, delimiter, skip)
    body = _read_body(src, layout, max(len(r.cells) for r in block))
    numbers = _line_numbers(src, layout, records[skip - 1].last_line, len(body))
    return _finish(header, body, numbers, src.loc, lambda p: f"第 {p + 1} 列（无表头）")


@dataclass(frozen=True)
class _Layout:
    codec: str  # Python codec, for the slow paths
    pandas_codec: str
    delimiter: str
    skip: int  # records up to and including the header


def _csv_frame(path: Path, layout: _Layout, width: int) -> pd.DataFrame:
    # The path, not a StringIO of the decoded text: the C engine reads UTF-8 bytes natively
    # (in parallel, in pandas 3.1) and a StringIO makes it re-encode every chunk
    # (measured 2.6x slower on 1M rows).
    return pd.read_csv(
        path,
        sep=layout.delimiter,
        encoding=layout.pandas_codec,
        engine="c",
        header=None,
        names=list(range(width)),
        index_col=False,
        skiprows=layout.skip,
        skip_blank_lines=False,  # keeps one record per line, so line numbers stay countable
        dtype=str,
        keep_default_na=False,
        na_values=[""],
    )


def _read_body(src: _TextFile, layout: _Layout, width: int) -> pd.DataFrame:
    try:
        return _csv_frame(src.path, layout, width)
    except pd.errors.ParserError as e:
        error: Exception = e
    except OSError as e:
        raise src.loc.refuse("unreadable", f"无法读取文件：{e}") from e
    # A row with more fields than the header: read it whole and let validation judge it.
    try:
        wider = max((len(cells) for _, cells in _records_after(src, layout)), default=0)
    except csv.Error:
        wider = 0
    if wider > width:
        try:
            return _csv_frame(src.path, layout, wider)
        except pd.errors.ParserError as e:
            error = e
    raise src.loc.refuse("unreadable", f"CSV 格式错误：{error}") from error


def _records_after(src: _TextFile, layout: _Layout) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each data record, in Python: the slow path."""
    text = src.data.decode(layout.codec)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter)
    last = 0
    for i, cells in enumerate(reader):
        if i >= layout.skip:
            yield last + 1, cells
        last = reader.line_num


def _count_lines(data: bytes) -> int:
    lines = data.count(b"\n")
    if b"\r" in data:  # a lone CR (old Mac) ends a line too, as it does for pandas
        lines += data.count(b"\r") - data.count(b"\r\n")
    if data and data[-1:] not in (b"\n", b"\r"):
        lines += 1
    return lines


def _line_numbers(src: _TextFile, layout: _Layout, header_last: int, n: int) -> np.ndarray:
    """The text-editor line of each data record.

    One record per line unless a quoted field holds a line break: without any quote in the
    file, or when the line count says so, that is a plain range.
    """
    first = header_last + 1
    if not src.has_quote() or _count_lines(src.data) - header_last == n:
        return np.arange(first, first + n, dtype="int64")
    try:
        starts = [line for line, _ in _records_after(src, layout)]
    except csv.Error:
        starts = []
    if len(starts) != n:  # the two parsers disagree on a broken file: best effort
        return np.arange(first, first + n, dtype="int64")
    return np.asarray(starts, dtype="int64")


# ---------------------------------------------------------------- workbooks


def _open_book(path: Path, loc: _Loc) -> python_calamine.CalamineWorkbook:
    try:
        return python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError as e:
        raise loc.refuse("unreadable", "工作簿有密码保护，请取消密码后再导入") from e
    except (python_calamine.CalamineError, OSError) as e:
        first = e
    try:  # renamed files (.xls holding xlsx): the file-like reader sniffs the content
        with path.open("rb") as fh:
            return python_calamine.CalamineWorkbook.from_filelike(fh)
    except (python_calamine.CalamineError, OSError):
        pass
    hint = (
        "（内容是网页或 XML，不是工作簿；请用 Excel 打开后另存为 .xlsx）"
        if _looks_markup(path)
        else ""
    )
    raise loc.refuse("unreadable", f"无法读取工作簿：{first}{hint}") from first


def _looks_markup(path: Path) -> bool:
    # systems often export an HTML table or SpreadsheetML and name it .xls
    with path.open("rb") as fh:
        head = fh.read(512).lstrip().lower()
    return head.startswith((b"<html", b"<!doctype html", b"<table", b"<?xml"))


def _read_workbook(path: Path, loc: _Loc, sheet: str | None) -> list[RawTable]:
    book = _open_book(path, loc)
    # calamine gives no merged cells for .ods: they are read from its content.xml instead
    merged = ods_merged_cells(path, None if sheet is None else [sheet])
    with book:
        names = list(book.sheet_names)
        if sheet is not None:
            if sheet not in names:
                raise loc.refuse(
                    "no_sheet",
                    f"工作簿中没有工作表 {sheet}",
                    value=sheet,
                    expected="、".join(names),
                )
            table = _read_sheet(book, loc.file, sheet, merged.get(sheet))
            if isinstance(table, str):
                raise _Loc(loc.file, sheet).refuse("no_header", table, expected=_required_labels())
            return [table]
        return _read_all_sheets(book, names, loc, merged)


def _read_all_sheets(
    book: python_calamine.CalamineWorkbook,
    names: list[str],
    loc: _Loc,
    merged: dict[str, list[MergedRange]],
) -> list[RawTable]:
    tables: list[RawTable] = []
    errors: list[Finding] = []
    skipped: list[tuple[str, str]] = []
    for name in names:
        try:
            table = _read_sheet(book, loc.file, name, merged.get(name))
        except LedgerRejected as e:  # report every sheet's problems at once
            errors.extend(e.findings)
            continue
        if isinstance(table, str):
            skipped.append((name, table))
        else:
            tables.append(table)
    if errors:
        raise LedgerRejected(errors)
    if not tables:
        raise LedgerRejected(
            [_Loc(loc.file, n).error("no_ledger_sheet", f"工作表 {n}：{why}") for n, why in skipped]
        )
    # a notes or cover sheet beside the ledger sheets: said, not refused
    tables[0].notes += [
        Finding(
            "warning",
            "sheet_skipped",
            f"工作表 {n} 不是台账，未导入：{why}",
            file=loc.file,
            sheet=n,
        )
        for n, why in skipped
    ]
    return tables


def _read_sheet(
    book: python_calamine.CalamineWorkbook,
    file: str,
    name: str,
    ods_merged: list[MergedRange] | None = None,
) -> RawTable | str:
    """The sheet's table, or why it holds none."""
    loc = _Loc(file, name)
    try:
        sheet = book.get_sheet_by_name(name)
        rows = sheet.to_python()
        merged = sheet.merged_cell_ranges or ods_merged or []
    except python_calamine.CalamineError as e:
        raise loc.refuse("unreadable", f"无法读取工作表：{e}") from e
    if sheet.start is None or not rows:
        return "工作表是空的"
    # to_python() starts at the first non-empty cell, not at A1: `start` is its 0-based
    # (row, column), which turns positions back into the row numbers Excel shows.
    top, left = sheet.start
    head = _filled_head(rows[:SCAN_ROWS], merged, (top, left), loc)
    scores = [_score(cells) for cells in head]
    index = _pick_header(scores)
    if index is None:
        return _no_header_reason(scores, [top + 1 + i for i in range(len(scores))])
    first, last = _header_block(head, index)
    above = [(top + 1 + i, rows[i]) for i in range(first)]
    header = _analyse_header(head[first : last + 1], (top + 1 + first, top + 1 + last), above, loc)
    start = last + 1
    if start < len(rows) and _is_column_numbers(rows[start]):
        start += 1
    data = rows[start:]
    keys = {p for n, p in header.positions.items() if BY_NAME[n].kind in _MERGE_FILLED}
    _fill_merged(data, merged, (top + start, left), keys, loc)
    body = _sheet_frame(data, len(rows[last]))
    row_numbers = np.arange(top + start + 1, top + start + 1 + len(body), dtype="int64")
    return _finish(
        header, body, row_numbers, loc, lambda p: f"{_column_letter(left + p)} 列（无表头）"
    )


def _filled_head(
    rows: Sequence[Sequence[Any]],
    merged: Sequence[MergedRange],
    origin: tuple[int, int],
    loc: _Loc,
) -> list[list[Any]]:
    """A copy of the rows where titles and headers are looked for, each merged block's
    value in every cell it covers (a group over its columns, a name merged down)."""
    head = [list(r) for r in rows]
    top, left = origin
    budget = 4 * sum(len(r) for r in head)  # blocks do not overlap: each cell filled once
    for (r0, c0), (r1, c1) in merged:
        i0, j0 = r0 - top, c0 - left
        if not (0 <= i0 < len(head) and 0 <= j0 < len(head[i0])):
            continue
        value = head[i0][j0]
        for i in range(i0, min(r1 - top, len(head) - 1) + 1):
            j1 = min(c1 - left, len(head[i]) - 1)
            budget -= j1 - j0 + 1
            if budget < 0:
                raise loc.refuse("unreadable", "合并单元格区域重叠或过多，无法读取表头")
            head[i][j0 : j1 + 1] = [value] * (j1 - j0 + 1)
    return head


# Key columns only: a merged 统筹区 or 险种 cell names every row it spans, while a merged
# amount is ambiguous and stays in its first row for validation to judge.
_MERGE_FILLED = frozenset({"code", "text", "fund", "month"})


def _fill_merged(
    rows: list[list[Any]],
    merged: Sequence[MergedRange] | None,
    origin: tuple[int, int],
    columns: set[int],
    loc: _Loc,
) -> None:
    """Give the covered cells of merged blocks in `columns` the value the block shows.

    calamine reports a merged block's value in its top-left cell only; offices merge the
    region cell over the rows of its funds, and the user sees the code on each of them.
    `origin` is the 0-based sheet position of rows[0][0].
    """
    top, left = origin
    budget = len(rows) * max(len(columns), 1)  # blocks do not overlap: each cell filled once
    for (r0, c0), (r1, c1) in merged or ():
        first = r0 - top
        if not 0 <= first < len(rows) or c0 < left:
            continue  # blocks in the title or header area are not data
        value = rows[first][c0 - left]
        # only the key columns inside the block: a block as wide as the sheet (XFD) would
        # otherwise cost 16,384 steps per row
        targets = [p for p in columns if c0 - left <= p <= c1 - left]
        last = min(r1 - top, len(rows) - 1)
        budget -= max(0, last - first) * len(targets)
        if budget < 0:
            raise loc.refuse("unreadable", "合并单元格区域重叠或过多，无法按行展开")
        for i in range(first + 1, last + 1):
            for p in targets:
                rows[i][p] = value


def _sheet_frame(rows: Sequence[Sequence[Any]], width: int) -> pd.DataFrame:
    # calamine gives "" for empty cells (and for the covered part of merged cells); one
    # vectorised comparison replaces them (a Python loop over a million rows took 2.9 s of a
    # 1M-row workbook's import, this takes 0.6 s)
    grid = np.empty((len(rows), width), dtype=object)
    if rows:
        grid[:] = rows  # calamine's rows all have the sheet's width
        grid[grid == ""] = None
    return pd.DataFrame(grid, columns=range(width), dtype=object)


def _column_letter(index: int) -> str:
    """0 → 'A', 26 → 'AA'."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters
