"""Read ledger files as fund offices export them into raw tables.

Handles the shape only: the header under titles and notes, header texts → canonical
columns, the money unit the file states, row numbers as the user sees them, blank and
footer rows. Cell values stay raw; the validation step parses months, amounts and funds.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import python_calamine

from monitor.config.settings import ImportSettings
from monitor.core.columns import BY_NAME, COLUMNS, REQUIRED, match_header
from monitor.core.errors import LedgerRejected
from monitor.core.findings import Finding
from monitor.core.money import parse_unit
from monitor.ledger.sheet_limits import Limits, check_sheets

TEXT_SUFFIXES = (".csv", ".txt")
BOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
SCAN_ROWS = 30  # titles, notes and blank rows above the header fit in far fewer
MIN_REQUIRED = 3  # a row naming fewer required columns is a title or a note, not the header
HEAD_BYTES = 1 << 20  # enough text for SCAN_ROWS records of any sane ledger

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
# a bracketed currency at the end of a header that money.parse_unit does not know ("千元")
_HEADER_CURRENCY = re.compile(
    r"[\(（\[【]\s*(?:单位\s*[:：]?\s*)?([^\)）\]】]*元)\s*[\)）\]】]\s*$"
)


@dataclass
class RawTable:
    source: str  # the path as the user gave it (str(path))
    sheet: str | None  # sheet name for workbooks, None for CSV
    header_row: int  # 1-based row number of the header as the user sees it
    headers: dict[str, str]  # canonical column name -> header text exactly as in the file
    unit: str | None  # '元' | '万元' | '亿元' as stated in the file, or None
    unit_source: str | None  # where the unit was read, for messages
    frame: pd.DataFrame  # canonical columns with raw values, plus int column "row"
    ignored_columns: list[str]  # header texts that matched no canonical column


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
    row: int
    headers: dict[str, str]
    positions: dict[str, int]  # canonical column -> position in the row
    named: frozenset[int]  # positions whose header cell is not empty
    ignored: list[str]
    unit: str | None
    unit_source: str | None


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
    """How many cells name a canonical column, and which required ones."""
    names = [match_header(c)[0] for c in cells if isinstance(c, str) and c.strip()]
    hits = [n for n in names if n]
    return len(hits), frozenset(hits).intersection(REQUIRED)


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


def _analyse_header(
    cells: Sequence[Any], row: int, above: Sequence[tuple[int, Sequence[Any]]], loc: _Loc
) -> _Header:
    """Map the header cells to canonical columns and settle the unit; raise on any problem."""
    findings: list[Finding] = []
    headers: dict[str, str] = {}
    positions: dict[str, int] = {}
    named: set[int] = set()
    ignored: list[str] = []
    stated = _note_units(above, loc, findings)
    for pos, cell in enumerate(cells):
        text = _cell_text(cell)
        if not text:
            continue
        named.add(pos)
        name, unit = match_header(text)
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
                _header_unit(text, unit, row, loc, stated, findings)
    for name in REQUIRED:
        if name not in headers:
            findings.append(loc.error(
                "missing_column", f"缺少必需列 {BY_NAME[name].label}（表头在第 {row} 行）",
                row=row, column=BY_NAME[name].label, expected=_accepted_texts(name),
            ))  # fmt: skip
    unit, unit_source = _agreed_unit(stated, loc, findings)
    if findings:
        raise LedgerRejected(findings)
    return _Header(row, headers, positions, frozenset(named), ignored, unit, unit_source)


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
    text: str, unit: str | None, row: int, loc: _Loc, stated: list[_Stated], found: list[Finding]
) -> None:
    if unit:
        stated.append(_Stated(unit, f"列 {text}", row, text))
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
        i for i, v in enumerate(uniques) if isinstance(v, str) and (_is_empty(v) or _is_footer(v))
    ]
    candidates = np.flatnonzero((codes < 0) | np.isin(codes, odd))
    noise = np.zeros(len(body), dtype=bool)
    if candidates.size:
        rows = body.iloc[candidates].itertuples(index=False, name=None)
        noise[candidates] = [_is_noise_row(cells) for cells in rows]
    return noise


def _is_noise_row(cells: Sequence[Any]) -> bool:
    first = next((c for c in cells if not _is_empty(c)), None)
    return first is None or (isinstance(first, str) and _is_footer(first))


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
    record = records[index]
    above = [(r.first_line, r.cells) for r in records[:index]]
    header = _analyse_header(record.cells, record.first_line, above, src.loc)
    skip = index + 1  # pandas' skiprows counts records, quote-aware, like the csv module
    layout = _Layout(codec, pandas_codec, delimiter, skip)
    body = _read_body(src, layout, len(record.cells))
    rows = _line_numbers(src, layout, record.last_line, len(body))
    return _finish(header, body, rows, src.loc, lambda p: f"第 {p + 1} 列（无表头）")


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
            table = _read_sheet(book, loc.file, sheet)
            if isinstance(table, str):
                raise _Loc(loc.file, sheet).refuse("no_header", table, expected=_required_labels())
            return [table]
        return _read_all_sheets(book, names, loc)


def _read_all_sheets(
    book: python_calamine.CalamineWorkbook, names: list[str], loc: _Loc
) -> list[RawTable]:
    tables: list[RawTable] = []
    errors: list[Finding] = []
    skipped: list[Finding] = []
    for name in names:
        sheet_loc = _Loc(loc.file, name)
        try:
            table = _read_sheet(book, loc.file, name)
        except LedgerRejected as e:  # report every sheet's problems at once
            errors.extend(e.findings)
            continue
        if isinstance(table, str):
            skipped.append(sheet_loc.error("no_ledger_sheet", f"工作表 {name}：{table}"))
        else:
            tables.append(table)
    if errors:
        raise LedgerRejected(errors)
    if not tables:
        raise LedgerRejected(skipped)
    return tables


def _read_sheet(book: python_calamine.CalamineWorkbook, file: str, name: str) -> RawTable | str:
    """The sheet's table, or why it holds none."""
    loc = _Loc(file, name)
    try:
        sheet = book.get_sheet_by_name(name)
        rows = sheet.to_python()
    except python_calamine.CalamineError as e:
        raise loc.refuse("unreadable", f"无法读取工作表：{e}") from e
    if sheet.start is None or not rows:
        return "工作表是空的"
    # to_python() starts at the first non-empty cell, not at A1: `start` is its 0-based
    # (row, column), which turns positions back into the row numbers Excel shows.
    top, left = sheet.start
    scores = [_score(cells) for cells in rows[:SCAN_ROWS]]
    index = _pick_header(scores)
    if index is None:
        return _no_header_reason(scores, [top + 1 + i for i in range(len(scores))])
    above = [(top + 1 + i, rows[i]) for i in range(index)]
    header = _analyse_header(rows[index], top + 1 + index, above, loc)
    data = rows[index + 1 :]
    keys = {p for n, p in header.positions.items() if BY_NAME[n].kind in _MERGE_FILLED}
    _fill_merged(data, sheet.merged_cell_ranges, (top + index + 1, left), keys, loc)
    body = _sheet_frame(data, len(rows[index]))
    first = top + index + 2
    row_numbers = np.arange(first, first + len(body), dtype="int64")
    return _finish(
        header, body, row_numbers, loc, lambda p: f"{_column_letter(left + p)} 列（无表头）"
    )


# Key columns only: a merged 统筹区 or 险种 cell names every row it spans, while a merged
# amount is ambiguous and stays in its first row for validation to judge.
_MERGE_FILLED = frozenset({"code", "text", "fund", "month"})


def _fill_merged(
    rows: list[list[Any]],
    merged: Sequence[tuple[tuple[int, int], tuple[int, int]]] | None,
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
