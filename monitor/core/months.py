"""Month values as offices write them: 2024-05, 202405, 2024年5月, 2024/5, 2024.05,
Excel dates, full-width digits (２０２４年５月)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable

import pandas as pd

from monitor.core.vocabulary import DISPLAY_TZ

# The funds monitored began in the 1990s (employee medical insurance: 1998); a year before
# this is a keying error such as 1900 from an empty Excel date, not history.
EARLIEST_MONTH = "1990-01"
OFFICE_TZ = DISPLAY_TZ  # the month an office is in decides "today"

_PATTERNS = (
    # 2024-05, 2024/5, 2024.05, 2024年5月, 2024年05月份
    re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*(?:月份?)?$"),
    re.compile(r"^(\d{4})(\d{2})$"),  # 202405
    # a date as text: 2024-05-01, 2024/5/31, 2024.05.01, 2024年5月1日 (with a zero time)
    re.compile(r"^(\d{4})([-/.])(\d{1,2})\2\d{1,2}(?:[ T]00:00(?::00)?)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月\d{1,2}日$"),
)
# "2024.1": January written short, or October (2024.10) whose trailing zero a number cell
# dropped; only a text "YYYY.10" in the same column tells them apart (see `ambiguous_month`).
_DOTTED_ONE = re.compile(r"^\d{4}\.1$")
_DOTTED_TEN = re.compile(r"^\d{4}\.10$")
# one month named inside a title: "池州市2024年5月基金收支情况表"; not a range ("2024年1-5月",
# "2024年1月至5月"), which the caller refuses to read as a month
_IN_TEXT = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月")
_RANGE = re.compile(r"\d\s*月?\s*(?:[-－—~～至到]|—{2})\s*\d{1,2}\s*月")


def _text(value: object) -> str:
    """Full-width digits and punctuation folded (NFKC: '２０２４．５' → '2024.5'), trimmed."""
    return unicodedata.normalize("NFKC", str(value)).strip()


def _number_text(value: float) -> str:
    """A number cell as it shows: 2024.05 → '2024.05' (repr: the shortest text giving the
    same float)."""
    return repr(value)


def read_month(value: object) -> str | None:
    """Any month form → 'YYYY-MM' whatever the year, or None when it is not a month.
    Import checks the year against the clock itself, to say what is wrong with it, and
    refuses an ambiguous "2024.1" (`ambiguous_month`) before reading it as January."""
    if isinstance(value, (dt.date, dt.datetime, pd.Timestamp)):
        return f"{value.year:04d}-{value.month:02d}"
    if isinstance(value, float):
        if not value.is_integer():
            return None  # 2024.05 as a number: 2024.1 cannot be told from 2024.10 (see below)
        value = int(value)
    text = _text(value)
    for pattern in _PATTERNS:
        m = pattern.fullmatch(text)
        if m:
            year, month = int(m.group(1)), int(m.group(m.lastindex or 2))
            return f"{year:04d}-{month:02d}" if 1 <= month <= 12 else None
    return None


def ambiguous_month(value: object) -> bool:
    """Text '2024.1': January, or October with its trailing zero dropped."""
    return isinstance(value, str) and _DOTTED_ONE.fullmatch(_text(value)) is not None


def number_as_month(value: object) -> bool:
    """A number cell that reads as a dotted month (2024.05, 2024.1): refused, since a number
    cell drops the zero of 2024.10; the cell should hold text or a date."""
    return (
        isinstance(value, float)
        and not value.is_integer()
        and _PATTERNS[0].fullmatch(_number_text(value)) is not None
    )


def writes_october_in_full(values: Iterable[object]) -> bool:
    """Whether text cells among `values` write October as 'YYYY.10', which makes a text
    'YYYY.1' January (a number cell cannot show the zero: 2024.10 is the number 2024.1)."""
    return any(isinstance(v, str) and _DOTTED_TEN.fullmatch(_text(v)) is not None for v in values)


def month_in_text(text: str) -> str | None:
    """The one month a title names ("2024年5月基金收支情况" → '2024-05'); None when it names
    none, several, or a range ("2024年1-5月": a year-to-date report, not a month)."""
    text = _text(text)
    if _RANGE.search(text):
        return None
    found = {f"{int(y):04d}-{int(m):02d}" for y, m in _IN_TEXT.findall(text) if 1 <= int(m) <= 12}
    return found.pop() if len(found) == 1 else None


def parse_month(value: object) -> str | None:
    """Any accepted month value → 'YYYY-MM', or None when it is not a month (years
    1990–2100: for months asked for on the command line)."""
    month = read_month(value)
    return month if month is not None and "1990" <= month[:4] <= "2100" else None


def latest_month(now: dt.datetime) -> str:
    """The last month a ledger may report: the month after `now`, in Beijing time."""
    local = now.astimezone(OFFICE_TZ) if now.tzinfo else now
    return month_from_index(local.year * 12 + local.month)  # (month − 1) + 1


def month_index(months: pd.Series) -> pd.Series:
    """'YYYY-MM' → a month counter (year × 12 + month − 1), for gaps and windows."""
    years = months.str.slice(0, 4).astype("int64")
    mons = months.str.slice(5, 7).astype("int64")
    return years * 12 + mons - 1


def month_number(month: str) -> int:
    """`month_index` of one 'YYYY-MM' (no pandas: the classifier calls it per fund and month)."""
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def month_from_index(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# ------------------------------------------------------------------ quarters (F1, issue 18)

# 2024Q1, 2024-Q1, 2024 Q1, 2024q1; 2024年第1季度, 2024年一季度, 2024年第一季度
_QUARTER_LATIN = re.compile(r"^(\d{4})\s*[-/.]?\s*[Qq]\s*([1-4])$")
_QUARTER_CJK = re.compile(r"^(\d{4})\s*年\s*第?\s*([1-4一二三四])\s*季度?$")
_CJK_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4}
# How a file writes its quarters, so forecasts are written back the same way.
QUARTER_NOTATIONS = ("2024Q1", "2024-Q1", "2024年第1季度")


def read_quarter(value: object) -> tuple[str, str] | None:
    """A quarter as offices write it → ('YYYYQn', notation), the notation one of
    `QUARTER_NOTATIONS`; None when it is not a quarter (years 1990–2100)."""
    text = _text(value)
    m = _QUARTER_LATIN.fullmatch(text)
    if m:
        notation = "2024-Q1" if "-" in text else "2024Q1"
        year, quarter = int(m.group(1)), int(m.group(2))
    else:
        m = _QUARTER_CJK.fullmatch(text)
        if not m:
            return None
        notation = "2024年第1季度"
        digit = m.group(2)
        year, quarter = int(m.group(1)), _CJK_DIGITS.get(digit) or int(digit)
    if not 1990 <= year <= 2100:
        return None
    return f"{year:04d}Q{quarter}", notation


def quarter_text(quarter: str, notation: str) -> str:
    """'YYYYQn' written in `notation` (one of `QUARTER_NOTATIONS`)."""
    year, q = quarter[:4], quarter[-1]
    if notation == "2024-Q1":
        return f"{year}-Q{q}"
    if notation == "2024年第1季度":
        return f"{year}年第{q}季度"
    return f"{year}Q{q}"
