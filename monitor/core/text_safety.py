"""Text from outside made safe to show (log lines, terminals) and to hand to a spreadsheet.

File names, region names, cell text and error messages come from people who can drop a file
in the watched folder. Shown raw, a newline forges a log line, an ESC sequence rewrites the
terminal, U+202E reverses what the reader sees; written raw to a CSV or workbook, `=HYPERLINK(…)`
runs as a formula. Two functions guard the two ways out:

- `safe_text` for log lines and terminals: every control character is shown escaped, visibly
  and in JSON's notation, so the text stays on one line and reads the same in a pager;
- `safe_cell` for CSV and xlsx cells: text a spreadsheet would take for a formula gets a
  leading `'` (OWASP, "CSV Injection"); numbers pass unchanged. `write_csv` and `csv_field`
  write CSV with it, every text cell quoted; the xlsx export types such cells as text.

CSV files written for people (`write_csv_file`) open in Excel on Chinese Windows: UTF-8 with
a byte-order mark (without it Excel reads the file as GBK and garbles every name), and each
number column rounded to the digits its unit is shown with (`digits`), in plain decimals
(no `-2372325.8000000715`, no `3.90111e+07`). CSV for programs (a pipe) gets no BOM.
"""

from __future__ import annotations

import csv
import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, TypeVar, overload

_T = TypeVar("_T")

# The characters no text from outside may carry raw: control, format (bidi, zero-width),
# surrogate and line/paragraph-separator characters. The importer refuses them in a cell
# (monitor.ledger.cell_text); every output escapes them (`safe_text`).
# Unicode categories Cc, Cf, Cs, Zl, Zp as of Python 3.11's unicodedata (Unicode 14);
# tests/test_hostile_text.py checks this class against unicodedata code point by code point.
_RANGES = (
    (0x0000, 0x001F), (0x007F, 0x009F), (0x00AD, 0x00AD), (0x0600, 0x0605),
    (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891),
    (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x2028, 0x202E),
    (0x2060, 0x2064), (0x2066, 0x206F), (0xD800, 0xDFFF), (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
)  # fmt: skip
FORBIDDEN = re.compile(
    "[" + "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in _RANGES) + "]"
)

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def safe_text(value: object) -> str:
    """`value` as text that cannot break a line, drive a terminal or read other than it is.

    The characters the importer refuses in a cell (`FORBIDDEN`: C0 and C1
    controls, DEL, bidi and other invisible format characters, line/paragraph separators,
    lone surrogates) are written as escapes: `\\n`, `\\r`, `\\t`, otherwise `\\u001b`,
    `\\u202e` … (UTF-16 pairs above U+FFFF). Everything else, backslashes and Chinese
    included, is left as it was. Inside a JSON string the escapes mean the same characters,
    so JSON output stays valid JSON.
    """
    text = str(value)
    return FORBIDDEN.sub(_escape, text) if FORBIDDEN.search(text) else text


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    cp = ord(char)
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    cp -= 0x10000
    return f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}"


def safe_lines(text: str) -> str:
    """Several lines made by the program (a table, JSON): each line as `safe_text`, the line
    breaks kept. Values inside must have been through `safe_text` already, or a newline in a
    value would still start a line here."""
    return "\n".join(safe_text(line) for line in text.split("\n"))


def safe_rows(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """Table rows with every text cell through `safe_text` (numbers left for alignment)."""
    return [[safe_text(c) if isinstance(c, str) else c for c in row] for row in rows]


# ---------------------------------------------------------------- spreadsheets
# What Excel and LibreOffice read as the start of a formula (OWASP's list: = + - @ TAB CR),
# with LF, and — a precaution, cheap for Chinese names — the full-width forms a Chinese input
# method types (＝＋－＠), should a spreadsheet fold them to ASCII.
FORMULA_START = frozenset("=+-@\t\r\n＝＋－＠")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


@overload
def safe_cell(value: str) -> str: ...
@overload
def safe_cell(value: _T) -> _T: ...
def safe_cell(value: object) -> object:
    """A CSV or spreadsheet cell that cannot run as a formula.

    Text starting with = + - @ (ASCII or full-width), TAB, CR or LF gets a leading `'`, as
    OWASP recommends; the reader sees the `'` and the text as it was. Numbers — and text that
    is a plain decimal number such as "-123.45", which no spreadsheet takes for a formula —
    pass unchanged, so amounts stay numbers.
    """
    if isinstance(value, str) and value[:1] in FORMULA_START and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_field(value: str) -> str:
    """One text cell of a CSV line: `safe_cell`, quotes doubled, in quotes ("" stays empty).
    The same field csv.writer makes in `write_csv`, for writers that build lines by column."""
    if not value:
        return ""
    return '"' + safe_cell(value).replace('"', '""') + '"'


EXCEL_CSV_ENCODING = "utf-8-sig"  # UTF-8 with a BOM, which Excel needs to read it as UTF-8


def write_csv(
    stream: IO[str],
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    float_format: str = "",
    digits: Mapping[str, int] | None = None,
) -> None:
    """CSV the OWASP way: every text cell through `safe_cell` and in double quotes (so a `;`
    in it cannot start a cell where `;` is the separator); numbers bare; None and NaN empty.

    Floats of a column named in `digits` are rounded to that many decimals and written in
    plain notation (a rounded zero as 0, not -0.00); other floats in `float_format` if given,
    else as Python writes them."""
    default = _float_type(float_format) if float_format else float
    per_column = [_fixed(digits[h]) if digits and h in digits else default for h in header]
    writer = csv.writer(stream, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
    writer.writerow(list(header))
    for row in rows:
        writer.writerow([_csv_value(v, f) for v, f in zip(row, per_column, strict=True)])


def write_csv_file(
    path: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    digits: Mapping[str, int] | None = None,
) -> None:
    """`write_csv` to a file that Excel on Chinese Windows opens as it is (UTF-8 with BOM)."""
    with path.open("w", encoding=EXCEL_CSV_ENCODING, newline="") as stream:
        write_csv(stream, header, rows, digits=digits)


def _csv_value(value: Any, as_float: type[float]) -> Any:
    if isinstance(value, str):
        return safe_cell(value) if value else _Empty()
    if value is None or (isinstance(value, float) and value != value):
        return _Empty()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return as_float(value)
    if isinstance(value, int | Decimal):
        return value
    if hasattr(value, "dtype") and value.dtype.kind in "iuf":  # numpy scalars
        return _csv_value(value.item(), as_float)
    return safe_cell(str(value))


class _Empty(int):
    """An empty cell: csv's QUOTE_NONNUMERIC would write None as a quoted "" (text)."""

    def __str__(self) -> str:
        return ""

    __repr__ = __str__


def _float_type(fmt: str) -> type[float]:
    """A float that csv writes as `fmt % value` (csv writes floats with repr)."""

    def shown(self: float) -> str:
        return fmt % float(self)

    return type("FormattedFloat", (float,), {"__repr__": shown, "__str__": shown})


@functools.cache
def _fixed(decimals: int) -> type[float]:
    """A float that csv writes rounded to `decimals` in plain notation; -0.00 as 0.00."""

    def shown(self: float) -> str:
        value = float(self)
        if not math.isfinite(value):
            return repr(value)
        text = f"{value:.{decimals}f}"
        return text[1:] if text.startswith("-") and not text.strip("-0.") else text

    return type(f"Fixed{decimals}", (float,), {"__repr__": shown, "__str__": shown})
