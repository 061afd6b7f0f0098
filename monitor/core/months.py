"""Month values as offices write them: 2024-05, 202405, 2024年5月, 2024/5, Excel dates."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd

from monitor.core.vocabulary import DISPLAY_TZ

# The funds monitored began in the 1990s (employee medical insurance: 1998); a year before
# this is a keying error such as 1900 from an empty Excel date, not history.
EARLIEST_MONTH = "1990-01"
OFFICE_TZ = DISPLAY_TZ  # the month an office is in decides "today"

_PATTERNS = (
    re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?$"),  # 2024-05, 2024/5, 2024年5月
    re.compile(r"^(\d{4})(\d{2})$"),  # 202405
    re.compile(
        r"^(\d{4})-(\d{2})-\d{2}(?:[ T]00:00(?::00)?)?$"
    ),  # 2024-05-01 (a date cell as text)
)


def read_month(value: object) -> str | None:
    """Any month form → 'YYYY-MM' whatever the year, or None when it is not a month.
    Import checks the year against the clock itself, to say what is wrong with it."""
    if isinstance(value, (dt.date, dt.datetime, pd.Timestamp)):
        return f"{value.year:04d}-{value.month:02d}"
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    text = str(value).strip()
    for pattern in _PATTERNS:
        m = pattern.fullmatch(text)
        if m:
            year, month = int(m.group(1)), int(m.group(2))
            return f"{year:04d}-{month:02d}" if 1 <= month <= 12 else None
    return None


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
