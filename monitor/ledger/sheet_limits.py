"""How big a workbook's sheets really are, learnt before any of them is read.

calamine sizes a sheet's grid from the positions of its cells, not from what the file claims
(`<dimension>` may lie): one cell at XFD1048576 in a 6 KB workbook makes it ask for 549 GB and
abort the process, one at AN1048576 costs 2.9 GB and half a minute. So each sheet about to be
read is measured here first, from the file's own structure, and refused when its used range is
beyond `[import] max_sheet_rows`, `max_sheet_columns` or `max_sheet_cells` (rows × columns):

- **xlsx/xlsm**: the sheet XML is inflated once, in chunks. A fast path proves, with a single
  regular-expression scan per chunk, that every cell is written as spreadsheet programs write it
  (`<c r="B7" …>`) and lies inside the box the `<dimension>` element claims; anything else
  (no or a lying `<dimension>`, cells without `r`, other quoting or prefixes) is measured
  exactly by following the cells as calamine does. Every cell element counts, even one without
  a value: the measure can only be larger than calamine's, never smaller.
- **ods**: content.xml's rows and cells are followed with their repeat counts; cells without a
  value or text (LibreOffice pads sheets with huge repeated empty rows and cells) do not widen
  the used range. The same walk gives the merged cells (`ods_merged_cells`), which calamine
  does not report for .ods.
- **xls**: the BIFF records of the workbook stream (its OLE2 container opened with olefile)
  give each cell's row and column; the sheet's DIMENSIONS record counts too, since calamine
  reserves memory for the box it claims.

The used range is measured from A1 (calamine starts at the first cell): a sheet whose data
sits far from A1 counts as larger than calamine would make it, never smaller. An `.xlsb`
renamed `.xlsx` is refused (calamine would read it unmeasured); content that is neither zip nor
OLE2 is left to calamine, which cannot read it at all.
"""

from __future__ import annotations

import functools
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Protocol

import olefile

from monitor.core.errors import LedgerRejected
from monitor.core.findings import Finding

CHUNK = 1 << 20  # inflated bytes per scan: a chunk stays in the CPU cache while it is scanned
EXCEL_ROWS, EXCEL_COLUMNS = 1_048_576, 16_384
MAX_MERGED = 100_000  # merged blocks kept per sheet; a ledger has a few hundred
# a merged block as calamine gives it: 0-based ((first row, first column), (last row, last column))
MergedRange = tuple[tuple[int, int], tuple[int, int]]


class Limits(Protocol):  # read-only: [imports] settings are frozen
    @property
    def max_sheet_rows(self) -> int: ...
    @property
    def max_sheet_columns(self) -> int: ...
    @property
    def max_sheet_cells(self) -> int: ...


@dataclass(frozen=True)
class Extent:
    """A sheet's used range, 1-based and inclusive, as calamine would materialise it."""

    first_row: int
    last_row: int
    first_column: int
    last_column: int

    @property
    def rows(self) -> int:
        return self.last_row - self.first_row + 1

    @property
    def columns(self) -> int:
        return self.last_column - self.first_column + 1

    @property
    def cells(self) -> int:
        return self.rows * self.columns

    def describe(self) -> str:
        first = f"{column_letters(self.first_column)}{self.first_row}"
        last = f"{column_letters(self.last_column)}{self.last_row}"
        return f"{first}:{last}（{self.rows:,} 行 × {self.columns:,} 列 = {self.cells:,} 个单元格）"


class _Grow:
    """An extent being measured (None until a cell is seen)."""

    def __init__(self) -> None:
        self.extent: Extent | None = None

    def add(
        self, row: int, col: int, row_last: int | None = None, col_last: int | None = None
    ) -> None:
        """Cells from (row, col) to (row_last, col_last), 1-based."""
        row_last, col_last = row_last or row, col_last or col
        e = self.extent
        if e is None:
            self.extent = Extent(row, row_last, col, col_last)
        else:
            self.extent = Extent(
                min(e.first_row, row),
                max(e.last_row, row_last),
                min(e.first_column, col),
                max(e.last_column, col_last),
            )


def column_letters(index: int) -> str:
    """1 → 'A', 27 → 'AA'."""
    letters = ""
    while index > 0:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def column_number(letters: str) -> int:
    """'A' → 1, 'aa' → 27 (calamine accepts lower case too)."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - ord("A") + 1
    return n


# ---------------------------------------------------------------- the check
Measured = dict[str, Extent | str | None]  # sheet → used range, or why it cannot be measured


class _Unmeasurable(Exception):
    """A cell reference calamine would misread (or refuse): the sheet is refused."""


def check_sheets(
    path: Path, limits: Limits, sheets: Sequence[str] | None = None, *, label: str | None = None
) -> dict[str, Extent | None]:
    """The used range of each sheet about to be read (all sheets when `sheets` is None).

    :raises LedgerRejected: a sheet is beyond the limits (naming it and its used range), or the
        file is not a format that can be measured; nothing has been materialised.
    """
    where = label or str(path)
    kind = sniff(path)
    if kind is None:
        return {}
    if kind not in ("xlsx", "ods", "xls"):
        raise LedgerRejected([_error(where, None, "unsupported_file", kind)])
    measure = {"xlsx": _xlsx_extents, "ods": _ods_extents, "xls": _xls_extents}[kind]
    try:
        extents = measure(path, limits, sheets)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, struct.error, ValueError) as e:
        # a part that cannot be inflated or parsed: calamine might still read something of it
        raise LedgerRejected(
            [_error(where, None, "unreadable", f"无法读取工作簿（{type(e).__name__}: {e}）")]
        ) from e
    findings = []
    for name, extent in extents.items():
        if isinstance(extent, str):
            findings.append(_error(where, name, "unreadable", f"{extent}，未读取"))
        elif extent is not None and _beyond(extent, limits):
            findings.append(_too_large(where, name, extent, limits))
    if findings:
        raise LedgerRejected(findings)
    return {k: v for k, v in extents.items() if not isinstance(v, str)}


def _beyond(extent: Extent, limits: Limits) -> bool:
    return (
        extent.rows > limits.max_sheet_rows
        or extent.columns > limits.max_sheet_columns
        or extent.cells > limits.max_sheet_cells
    )


def _too_large(where: str, sheet: str, extent: Extent, limits: Limits) -> Finding:
    return Finding(
        "error",
        "sheet_too_large",
        f"已用区域 {extent.describe()} 超出导入限制，未读取",
        file=where,
        sheet=sheet,
        value=extent.describe().split("（")[0],
        expected=(
            f"最多 {limits.max_sheet_rows:,} 行、{limits.max_sheet_columns:,} 列、"
            f"{limits.max_sheet_cells:,} 个单元格（[import] max_sheet_rows/max_sheet_columns/"
            "max_sheet_cells）"
        ),
    )


def _error(where: str, sheet: str | None, code: str, message: str) -> Finding:
    return Finding("error", code, message, file=where, sheet=sheet)


def sniff(path: Path) -> str | None:
    """'xlsx' | 'ods' | 'xls' by content (calamine goes by content too when the name lies),
    None for what calamine cannot read at all (it refuses that itself, unmeasured but
    harmless), or why a readable format is refused."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "xls"
    try:
        with zipfile.ZipFile(path) as zf:
            names = {n.replace("\\", "/").lower() for n in zf.namelist()}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    if "xl/workbook.bin" in names:
        return "xlsb 格式的工作簿不受支持，请用 Excel 另存为 .xlsx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "content.xml" in names:
        return "ods"
    return None


# ---------------------------------------------------------------- xlsx
_SHEET = re.compile(rb"<(?:[\w.-]+:)?sheet\b((?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*/?>")
_REL = re.compile(
    rb"<(?:[\w.-]+:)?Relationship\b((?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*/?>"
)
_ATTR = re.compile(rb"([^\s=/>]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_REF = re.compile(r"([A-Za-z]{1,3})([0-9]{1,7})")


def _attrs(text: bytes) -> dict[bytes, bytes]:
    return {m.group(1): m[2] if m[2] is not None else m[3] for m in _ATTR.finditer(text)}


def _unescape(value: bytes) -> str:
    import html

    return html.unescape(value.decode("utf-8", "replace"))


def _xlsx_parts(zf: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(sheet name, zip member) in workbook order, resolved the way calamine resolves them."""
    rels: dict[bytes, str] = {}
    for data in _read_all(zf, "xl/_rels/workbook.xml.rels"):
        for m in _REL.finditer(data):
            a = _attrs(m.group(1))
            if b"Id" in a:
                rels.setdefault(a[b"Id"], a.get(b"Target", b"").decode("utf-8", "replace"))
    parts = []
    for data in _read_all(zf, "xl/workbook.xml"):
        for m in _SHEET.finditer(data):
            a = _attrs(m.group(1))
            rid = a.get(b"r:id", a.get(b"relationships:id"))
            target = rels.get(rid, "") if rid is not None else ""
            if target.startswith("/xl/"):
                member = target[1:]
            elif target.startswith("xl/"):
                member = target
            else:
                member = f"xl/{target}"
            parts.append((_unescape(a.get(b"name", b"")), member))
    return parts


def _members(zf: zipfile.ZipFile, name: str) -> list[zipfile.ZipInfo]:
    """Every zip entry calamine might open for `name`: the name ignoring case and the slash
    direction, each of them if a hostile zip holds it twice (which one a reader takes is its
    own business, so all are measured)."""
    wanted = str(PurePosixPath(name.replace("\\", "/"))).lower()
    return [i for i in zf.infolist() if i.filename.replace("\\", "/").lower() == wanted]


def _read_all(zf: zipfile.ZipFile, name: str) -> list[bytes]:
    return [zf.read(info) for info in _members(zf, name)]


def _xlsx_extents(path: Path, limits: Limits, sheets: Sequence[str] | None) -> Measured:
    out: Measured = {}
    with zipfile.ZipFile(path) as zf:
        for name, member in _xlsx_parts(zf):
            if sheets is not None and name not in sheets:
                continue
            for info in _members(zf, member):  # none: calamine cannot open it, reads nothing
                out[name] = _larger(out.get(name), _xlsx_measure(zf, info, limits))
    return out


def _larger(a: Extent | str | None, b: Extent | str | None) -> Extent | str | None:
    """Of two measures of one sheet name (a name given twice, a part zipped twice), the one
    to judge by: a refusal, else the larger range."""
    if a is None or isinstance(b, str):
        return b
    if b is None or isinstance(a, str):
        return a
    return Extent(1, max(a.last_row, b.last_row), 1, max(a.last_column, b.last_column))


def _xlsx_measure(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> Extent | str:
    with zf.open(info) as fh:
        scan = _xlsx_scan(fh, (1, 1), exact=False)
    if scan is not None and _beyond(Extent(1, scan[1][0], 1, scan[1][1]), limits):
        with zf.open(info) as fh:  # maybe beyond: the exact maxima, to refuse or not
            scan = _xlsx_scan(fh, scan[0], exact=True)
    if scan is not None:
        rows, columns = scan[1]
        return Extent(1, rows, 1, columns)
    with zf.open(info) as fh:
        try:
            return _xlsx_exact(_chunks(fh)) or Extent(1, 1, 1, 1)
        except _Unmeasurable as e:
            return str(e)


def _chunks(fh: IO[bytes]) -> Iterator[bytes]:
    while block := fh.read(CHUNK):
        yield block


def _upto(limit: str, alphabet: str) -> str:
    """A regex for the strings of `alphabet` (shorter first, then in alphabet order: numbers
    without leading zeros, or column letters) from the first up to `limit` inclusive."""
    first = alphabet[1:] if alphabet[0] == "0" else alphabet

    def cls(chars: str) -> str:
        return f"[{chars}]"

    k = len(limit)
    parts = [f"{cls(first)}{cls(alphabet)}{{0,{k - 2}}}"] if k > 1 else []
    for i in range(k):
        lower = "".join(c for c in (first if i == 0 else alphabet) if c < limit[i])
        if lower:
            rest = f"{cls(alphabet)}{{{k - i - 1}}}" if k - i - 1 else ""
            parts.append(re.escape(limit[:i]) + cls(lower) + rest)
    parts.append(re.escape(limit))
    return "(?:" + "|".join(parts) + ")"


_DIGITS, _LETTERS = "0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _bound(value: int, alphabet: str, exact: bool) -> tuple[int, str]:
    """(bound ≥ value, a regex for the numbers or column letters from the first up to bound).

    Exact, or cheaper: the same length and the first two symbols up to value's (982081 →
    989999), which a regex of three alternatives tests and which rarely moves while a sheet is
    scanned."""
    text = str(value) if alphabet == _DIGITS else column_letters(value)
    k = len(text)
    if exact and k > 1:
        return value, _upto(text, alphabet)
    first = alphabet[1:] if alphabet[0] == "0" else alphabet
    if k == 1:
        return value, f"[{''.join(c for c in first if c <= text)}]"
    h1, h2, top = text[0], text[1], alphabet[-1]
    bound_text = h1 + h2 + top * (k - 2)
    bound = int(bound_text) if alphabet == _DIGITS else column_number(bound_text)
    below = "".join(c for c in first if c < h1)
    parts = [f"[{below}][{alphabet}]{{{k - 1}}}"] if below else []  # the common case first
    parts.append(f"{h1}[{''.join(c for c in alphabet if c <= h2)}][{alphabet}]{{{k - 2}}}")
    parts.append(f"[{first}][{alphabet}]{{0,{k - 2}}}")  # fewer symbols
    return bound, "(?:" + "|".join(parts) + ")"


@functools.lru_cache(maxsize=256)
def _odd(columns: str, rows: str) -> re.Pattern[bytes]:
    """A cell element that is not `<c r="<column ≤ bound><row ≤ bound>"…`: another quoting,
    `r` not first, lower case, or a cell beyond the bounds. (A literal `<c` first keeps the
    scan fast; prefixed elements are looked for apart, by `_PREFIXED`.)"""
    ref = (columns + rows).encode()
    return re.compile(rb'<c(?=[\s/>])(?! r="' + ref + rb'"[\s/>])')


_PREFIXED = re.compile(rb":c[\s/>]")  # `<x:c …>`: calamine takes any namespace prefix
_CANON = re.compile(rb'<c r="([A-Z]{1,3})([1-9][0-9]{0,6})"[\s/>]')


def _xlsx_scan(
    fh: IO[bytes], start: tuple[int, int], exact: bool
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """((row, column) of cells seen, (rows, columns) bounds every cell is proven to lie
    within), by one regex scan per chunk; None when a cell is written in another form (measure
    exactly then).

    The bounds start from each chunk's last cell (in an ordered sheet, its largest row) and
    grow to any cell found beyond them, so with `exact` they are the true maxima, and close
    upper bounds otherwise."""
    row, col = start
    carry = b""
    while True:
        block = fh.read(CHUNK)
        buf = carry + block
        cut = buf.rfind(b"<") if block else len(buf)
        cut = len(buf) if cut < 0 else cut
        last = buf.rfind(b'<c r="', 0, cut)
        if last >= 0 and (m := _CANON.match(buf, last)):
            row, col = max(row, int(m[2])), max(col, column_number(m[1].decode()))
        if _PREFIXED.search(buf, 0, cut):
            return None
        pos = 0
        while True:
            row_bound, row_re = _bound(row, _DIGITS, exact)
            col_bound, col_re = _bound(col, _LETTERS, exact)
            hit = _odd(col_re, row_re).search(buf, pos, cut)
            if hit is None:
                break
            m = _CANON.match(buf, hit.start())
            if m is None:
                return None
            row, col = max(row, int(m[2])), max(col, column_number(m[1].decode()))
            pos = hit.start()
        if not block:
            return (row, col), (row_bound, col_bound)
        carry = buf[cut:]


_TOKEN = re.compile(
    rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>|<![^>]*>"
    rb"|<(/?)(?:[^\s/>!?:]+:)?([^\s/>!?:]+)((?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(/?)>",
    re.DOTALL,
)


def _tokens(chunks: Iterator[bytes]) -> Iterator[re.Match[bytes]]:
    """XML markup, chunk by chunk; comments, CDATA and processing instructions are matched (and
    so skipped by the callers) whole, across chunks."""
    carry = b""
    for block in chunks:
        buf = carry + block
        end = 0
        for m in _TOKEN.finditer(buf):
            yield m
            end = m.end()
        carry = buf[end:]
        if len(carry) > 64 * CHUNK:  # no markup closes: text or a broken tag, keep its tail
            carry = carry[carry.rfind(b"<") :] if b"<" in carry else b""
    for m in _TOKEN.finditer(carry):
        yield m


def _xlsx_exact(chunks: Iterator[bytes]) -> Extent | None:
    """Follow the cells as calamine does: a cell's `r` gives its place, a cell without one
    takes the next column of the current row, a row's `r` (1-based) sets the current row and
    each row's end moves to the next. Self-closing `<c/>` and `<row/>` are skipped by calamine
    too. Every other cell counts, with or without a value."""
    grow = _Grow()
    inside = False
    row, col = 0, 0  # 0-based, as calamine keeps them
    for m in _tokens(chunks):
        closing, name, attrs, empty = m.group(1), m.group(2), m.group(3), m.group(4)
        if name is None:
            continue
        if name == b"sheetData":
            if closing:
                break
            inside = inside or not empty
            continue
        if not inside or empty:
            continue
        if name == b"row":
            if closing:
                row, col = row + 1, 0
            elif (r := _attrs(attrs).get(b"r")) is not None:
                row = _row_number(r) - 1
        elif name == b"c" and not closing:
            r = _attrs(attrs).get(b"r")
            if r is not None:
                row_n, col = _cell_ref(r)
                grow.add(row_n, col + 1)
            else:
                grow.add(row + 1, col + 1)
            col += 1
    return grow.extent


def _row_number(value: bytes) -> int:
    """A row's `r` (digits; calamine ignores letters there)."""
    digits = value.decode("ascii", "replace").lstrip(_LETTERS + _LETTERS.lower())
    if not digits.isdigit() or not 1 <= int(digits) < 1 << 32:
        raise _bad_ref(value)
    return int(digits)


def _cell_ref(value: bytes) -> tuple[int, int]:
    """(1-based row, 0-based column) of a cell reference, as calamine reads it."""
    m = _REF.fullmatch(value.decode("ascii", "replace"))
    if m is None or int(m.group(2)) < 1:
        raise _bad_ref(value)
    return int(m.group(2)), column_number(m.group(1)) - 1


def _bad_ref(value: bytes) -> _Unmeasurable:
    text = value[:40].decode("utf-8", "replace")
    return _Unmeasurable(f"单元格引用 {text!r} 无效或超出 Excel 的范围")


# ---------------------------------------------------------------- ods
_REPEAT_CAP = 1 << 31


def _ods_extents(path: Path, _limits: Limits, sheets: Sequence[str] | None) -> Measured:
    """Rows and cells of each table, with `number-rows-repeated`/`number-columns-repeated`.
    A cell counts when it has a value type or any content; empty ones only move along."""
    out: Measured = {}
    for state in _ods_states(path):
        for name, extent in state.tables.items():
            out[name] = _larger(out.get(name), extent)
    if sheets is not None:
        out = {k: v for k, v in out.items() if k in sheets}
    return out


def _ods_states(path: Path) -> Iterator[_OdsState]:
    with zipfile.ZipFile(path) as zf:
        for info in _members(zf, "content.xml"):
            with zf.open(info) as fh:
                state = _OdsState()
                for m in _tokens(_chunks(fh)):
                    state.feed(m)
            yield state


def ods_merged_cells(
    path: Path, sheets: Sequence[str] | None = None
) -> dict[str, list[MergedRange]]:
    """The merged blocks of each sheet of an .ods (`table:number-columns-spanned` and
    `-rows-spanned`), as calamine reports them for xlsx and xls; {} for any other file.
    Run after `check_sheets`, which has measured the file."""
    try:
        if sniff(path) != "ods":
            return {}
        merged: dict[str, list[MergedRange]] = {}
        for state in _ods_states(path):
            for name, blocks in state.merged.items():
                if sheets is None or name in sheets:
                    merged.setdefault(name, []).extend(blocks)
        return merged
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, struct.error, ValueError):
        return {}  # calamine reports what is wrong with the file when it reads it


class _OdsState:
    def __init__(self) -> None:
        self.tables: Measured = {}
        self.name: str | None = None
        self.grow = _Grow()
        self.row = 0  # rows before the current one (0-based index of the current row)
        self.row_repeat = 1
        self.col = 0
        self.cell: tuple[int, int] | None = None  # (first column, repeat) of an open cell
        self.cell_counts = False
        self.row_has: list[tuple[int, int]] = []  # (first, last) columns with content
        self.merged: dict[str, list[MergedRange]] = {}

    def feed(self, m: re.Match[bytes]) -> None:
        closing, name, attrs, empty = m.group(1), m.group(2), m.group(3), m.group(4)
        if name is None:
            return
        if self.cell is not None and not closing:
            self.cell_counts = True  # any element inside a cell: text, annotation, …
        if name == b"table":
            if closing:
                self._end_table()
            elif not empty:
                self.name = _unescape(_attrs(attrs).get(b"table:name", b""))
                self.grow, self.row = _Grow(), 0
                self.merged.setdefault(self.name, [])
            return
        if self.name is None:
            return
        if name == b"table-row":
            if closing:
                self._end_row()
            else:
                a = _attrs(attrs)
                self.row_repeat = _repeat(a.get(b"table:number-rows-repeated"))
                self.col, self.row_has = 0, []
                if empty:
                    self._end_row()
        elif name in (b"table-cell", b"covered-table-cell"):
            if closing:
                self._end_cell()
            else:
                a = _attrs(attrs)
                self.cell = (self.col, _repeat(a.get(b"table:number-columns-repeated")))
                self.cell_counts = b"office:value-type" in a
                spans = (
                    a.get(b"table:number-rows-spanned"),
                    a.get(b"table:number-columns-spanned"),
                )
                if spans != (None, None):
                    self._merge(_repeat(spans[0]), _repeat(spans[1]))
                if empty:
                    self._end_cell()

    def _merge(self, rows: int, columns: int) -> None:
        blocks = self.merged[self.name or ""]
        if (rows > 1 or columns > 1) and len(blocks) < MAX_MERGED:
            blocks.append(((self.row, self.col), (self.row + rows - 1, self.col + columns - 1)))

    def _end_cell(self) -> None:
        if self.cell is None:
            return
        first, repeat = self.cell
        if self.cell_counts:
            self.row_has.append((first + 1, first + repeat))
        self.col = first + repeat
        self.cell, self.cell_counts = None, False

    def _end_row(self) -> None:
        if self.row_has:
            self.grow.add(
                self.row + 1,
                min(f for f, _ in self.row_has),
                self.row + self.row_repeat,
                max(last for _, last in self.row_has),
            )
        self.row += self.row_repeat
        self.row_repeat, self.row_has = 1, []

    def _end_table(self) -> None:
        if self.name is not None:
            self.tables[self.name] = _larger(self.tables.get(self.name), self.grow.extent)
        self.name = None


def _repeat(value: bytes | None) -> int:
    if value is None:
        return 1
    try:
        return max(1, min(int(value), _REPEAT_CAP))
    except ValueError:
        return 1


# ---------------------------------------------------------------- xls (BIFF8 in OLE2)
def _xls_extents(path: Path, _limits: Limits, sheets: Sequence[str] | None) -> Measured:
    out: Measured = {}
    for data in _ole_streams(path, ("workbook", "book")):
        for name, offset in _boundsheets(data):
            if sheets is None or name in sheets:
                out[name] = _larger(out.get(name), _biff_extent(data, offset))
    return out


def _records(data: bytes, offset: int) -> Iterator[tuple[int, int, int]]:
    """(type, body start, body length) of the BIFF records from `offset`."""
    n = len(data)
    while offset + 4 <= n:
        typ, size = struct.unpack_from("<HH", data, offset)
        yield typ, offset + 4, min(size, n - offset - 4)
        offset += 4 + size


def _boundsheets(data: bytes) -> list[tuple[str, int]]:
    out = []
    for typ, start, size in _records(data, 0):
        if typ == 0x0085 and size >= 8:  # BOUNDSHEET8: stream offset, state, type, name
            (offset,) = struct.unpack_from("<I", data, start)
            out.append((_short_string(data, start + 6, start + size), offset))
        elif typ == _EOF:  # end of the globals
            break
    return out


def _short_string(data: bytes, at: int, end: int) -> str:
    if at + 2 > end:
        return ""
    length, flags = data[at], data[at + 1]
    raw = data[at + 2 : end]
    if flags & 1:
        return raw[: 2 * length].decode("utf-16-le", "replace")
    return raw[:length].decode("latin-1")


# BIFF5/8 records that start with the cell's row and column: FORMULA (and its BIFF3/4 forms),
# BLANK, NUMBER, LABEL, BOOLERR, RK, LABELSST, RSTRING
_CELLS = frozenset({0x0006, 0x0206, 0x0406, 0x0201, 0x0203, 0x0204, 0x0205, 0x027E, 0x00FD, 0x00D6})
_MULTI = frozenset({0x00BD, 0x00BE})  # MULRK, MULBLANK: row, first column, …, last column
_BOF, _EOF = 0x0809, 0x000A


def _biff_extent(data: bytes, offset: int) -> Extent | None:
    """Every cell record of the sheet's substream (embedded chart substreams included: their
    BOF…EOF nest inside the sheet's)."""
    grow = _Grow()
    depth = 0
    for typ, start, size in _records(data, offset):
        if typ == _BOF:
            depth += 1
        elif typ == _EOF:
            depth -= 1
            if depth <= 0:
                break
        elif typ in _CELLS and size >= 4:
            row, col = struct.unpack_from("<HH", data, start)
            grow.add(row + 1, col + 1)
        elif typ in _MULTI and size >= 6:
            row, first = struct.unpack_from("<HH", data, start)
            (last,) = struct.unpack_from("<H", data, start + size - 2)
            grow.add(row + 1, first + 1, row + 1, max(first, last) + 1)
        elif typ == 0x0200 and size >= 12:
            # DIMENSIONS (first row, last row + 1, first column, last column + 1): calamine
            # reserves room for the box it claims before reading a cell, so a lying one is
            # as costly as a far cell (a reversed one wraps around: refused as huge)
            r0, r1, c0, c1 = struct.unpack_from("<IIHH", data, start)
            if r1 > r0 and c1 > c0:
                grow.add(r0 + 1, c0 + 1, r1, c1)
            elif r1 < r0 or c1 < c0:
                grow.add(1, 1, 1 << 32, 1 << 16)
    return grow.extent


def _ole_streams(path: Path, names: Sequence[str]) -> list[bytes]:
    """The streams of an OLE2 compound file with one of these names (case-insensitive; every
    one, should a hostile file hold two). A container olefile cannot parse is left to calamine
    in its child process: it cannot read it either."""
    try:
        with olefile.OleFileIO(str(path)) as ole:
            wanted = {n.lower() for n in names}
            return [
                ole.openstream(entry).read()
                for entry in ole.listdir(streams=True, storages=False)
                if len(entry) == 1 and entry[0].lower() in wanted
            ]
    except (OSError, ValueError, IndexError, struct.error):  # olefile's ways of saying "broken"
        return []
