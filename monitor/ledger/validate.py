"""Validation of raw ledger tables into exact canonical rows, or a refusal with every error.

Pure: takes what was read and what the store already knows, returns rows in integer fen.
Errors refuse the whole input (LedgerRejected); each names file, sheet, row, column, value
and what was expected. Column-wise checks run on the distinct values of a column, so a
million rows with 120 distinct months parse 120 months.

Offices write numbers as text with thousands separators or full-width digits
("１２３，４５６.７８"), and a dash ("—", "-", "/") for "nothing": these read as the number, or
as an empty cell. Months read as `monitor.core.months` says; "2024.1" is refused as
ambiguous (January, or October whose zero a number cell dropped) unless the same column
writes October as "2024.10" in text. A fund or month that a sheet states once (its name, a
line above the header, its title; see `files.Stated`) fills a missing column, and a column
that disagrees with the sheet's name or such a line is refused row by row.

Text cells are screened first (monitor.ledger.cell_text says what is refused and what is
normalised): a control or bidi character in a code, name, fund or month refuses the input,
whichever path it came by (CSV, workbook, --from-sql). Months must lie between 1990-01 and
the month after today (by the caller's clock): a year keyed as 2100 or 1900 is an error,
not a gap.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from monitor.core.columns import AMOUNTS, BY_NAME, COUNTS, REQUIRED
from monitor.core.errors import LedgerRejected
from monitor.core.findings import Finding
from monitor.core.funds import FundCatalogue
from monitor.core.money import UNITS
from monitor.core.months import (
    EARLIEST_MONTH,
    ambiguous_month,
    latest_month,
    month_in_text,
    number_as_month,
    read_month,
    writes_october_in_full,
)
from monitor.core.vocabulary import fund_name
from monitor.ledger import cell_text
from monitor.ledger.files import STATED_COLUMNS, RawTable, Stated

_CODE = re.compile(r"[0-9]{6}")  # ASCII only: \d would take other scripts' digits too
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_MAX_FEN = 2**62  # far above any fund; guards against overflow of int64 sums
# separators an analyst puts in a number; not newlines or tabs, so "12⏎34" is not 1234
_NUMBER_NOISE = re.compile("[,，¥￥ \u00a0\u2007\u202f\u3000]")
# what offices write in a cell for "nothing" (after NFKC: "－" is "-")
_PLACEHOLDERS = frozenset({"-", "--", "—", "——", "–", "/", "－"})
TEXT_COLUMNS = ("region_code", "region_name", "parent_code", "parent_name", "fund", "month")
UNIT_CHOICES = "元、万元 或 亿元"


def region_level(code: str) -> str:
    """GB/T 2260: xx0000 is a province, xxxx00 a city (prefecture), anything else a county."""
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "city"
    return "county"


def derived_parent(code: str) -> str | None:
    level = region_level(code)
    if level == "county":
        return code[:4] + "00"
    if level == "city":
        return code[:2] + "0000"
    return None


@dataclass(frozen=True)
class TableReport:
    """How one table (a CSV, or one sheet) was understood, for `fundmon import --check`."""

    file: str
    sheet: str | None
    header_rows: str  # "3" or "3–4"
    columns: tuple[tuple[str, str | None], ...]  # header text → canonical name (None: ignored)
    unit: str | None
    unit_source: str | None  # "第 1 行：单位：万元", "命令行 --unit", "配置 [import] unit"
    stated: tuple[tuple[str, str, str], ...]  # (column, value, where) stated for the sheet
    rows: int
    first_month: str | None
    last_month: str | None
    funds: tuple[str, ...]


@dataclass
class ValidLedger:
    """Validated input: rows in fen, the regions it names, its warnings and units."""

    rows: pd.DataFrame  # region_code, fund, month, amounts (fen), counts, file, sheet, row
    regions: pd.DataFrame  # code, name, parent_code, level
    warnings: list[Finding] = field(default_factory=list)
    units: set[str] = field(default_factory=set)
    tables: list[TableReport] = field(default_factory=list)


class _Errors:
    """Collects errors up to a cap; counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.items: list[Finding] = []
        self.dropped = 0

    def add(self, finding: Finding) -> None:
        if len(self.items) < self.cap:
            self.items.append(finding)
        else:
            self.dropped += 1

    def room(self) -> int:
        return self.cap - len(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise LedgerRejected(self.items, truncated=self.dropped)


def _display(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _shown(value: object) -> str:
    """A cell's value as a message shows it: control characters escaped, long text cut."""
    return cell_text.escape(_display(value))


def _map_distinct(series: pd.Series, fn: Callable[[object], object]) -> pd.Series:
    """Apply fn once per distinct non-missing value; missing stays missing (None)."""
    present = series.notna()
    out = pd.Series([None] * len(series), index=series.index, dtype=object)
    if present.any():
        values = series[present]
        uniques = pd.unique(values.to_numpy(dtype=object))
        table: dict[Hashable, object] = {u: fn(u) for u in uniques}
        out[present] = values.map(table).to_numpy(dtype=object)
    return out


def _screen_text(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Blank cells → missing; cells holding a refused character → missing too, and returned
    per column as a mask, so they are reported once (as such) and not again as missing,
    unknown or duplicate. Checked on distinct values of the text columns (codes, names,
    funds, months: few distinct values); amounts are handled when parsed."""
    frame = frame.copy()
    hostile: dict[str, np.ndarray] = {}
    for column in TEXT_COLUMNS:
        if column not in frame or pd.api.types.is_numeric_dtype(frame[column].dtype):
            continue
        blanks, refused = [], []
        for u in pd.unique(frame[column].dropna().to_numpy(dtype=object)):
            if isinstance(u, str):
                if not u.strip():
                    blanks.append(u)
                elif cell_text.is_hostile(u):
                    refused.append(u)
        if refused:
            hostile[column] = frame[column].isin(refused).to_numpy()
        if blanks or refused:
            frame[column] = frame[column].where(~frame[column].isin(blanks + refused))
    return frame, hostile


def _nullable_int(values: np.ndarray, ok: np.ndarray) -> pd.arrays.IntegerArray:
    """float64 values → Int64 with <NA> where not ok (built directly: no per-value checks)."""
    return pd.arrays.IntegerArray(np.where(ok, values, 0).astype("int64"), ~ok)


def _code(value: object) -> str | None:
    text = _display(value).translate(_FULL_WIDTH_DIGITS)
    return text if _CODE.fullmatch(text) else None


def _parse_numbers(series: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw cells → (float64 values, cells present, cells present but not numbers)."""
    present = series.notna().to_numpy(copy=True)
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return (
            series.to_numpy(dtype="float64", na_value=np.nan),
            present,
            np.zeros(len(series), bool),
        )
    values = pd.to_numeric(series, errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan, copy=True
    )
    failed = present & np.isnan(values)
    if failed.any():
        # "1,234.56", "¥ 12 345" and "１２３，４５６.７８" are numbers to an analyst; retry only
        # the failures.
        idx = np.flatnonzero(failed)
        cleaned = series.iloc[idx].map(_number_text)
        retry = pd.to_numeric(cleaned, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        values[idx] = retry
        blank = (cleaned == "").to_numpy()  # a cell of spaces, or a dash, is an empty cell
        present[idx[blank]] = False
        failed = present & np.isnan(values)
    return values, present, failed


def _number_text(value: object) -> str:
    """A number cell's text as `pd.to_numeric` reads it: full-width digits and punctuation
    folded (NFKC), the minus sign U+2212 as '-', separators removed; '' for a placeholder."""
    text = unicodedata.normalize("NFKC", str(value)).strip().replace("\u2212", "-")
    text = _NUMBER_NOISE.sub("", text)
    return "" if text in _PLACEHOLDERS else text


def _resolve_unit(
    table: RawTable, unit: str | None, default_unit: str | None, errors: _Errors
) -> str | None:
    if unit and table.unit and unit != table.unit:
        errors.add(
            Finding(
                "error",
                "unit_conflict",
                f"命令行指定单位 {unit}，但文件注明单位 {table.unit}（{table.unit_source}）",
                file=table.source,
                sheet=table.sheet,
                value=table.unit,
                expected="单位一致，或去掉 --unit",
            )
        )
        return None
    chosen = unit or table.unit or default_unit
    if chosen is None:
        errors.add(
            Finding(
                "error",
                "unit_unknown",
                "无法确定金额单位：文件未注明（如标题中的“单位：万元”或列名“本期收入（万元）”），"
                "也未用 --unit 指定",
                file=table.source,
                sheet=table.sheet,
                expected=f"--unit {UNIT_CHOICES.replace('、', '|').replace(' 或 ', '|')}",
            )
        )
    return chosen


def _safe(text: str | None) -> str | None:
    """A file, sheet or header name as findings carry it: whole, control characters escaped."""
    return None if text is None else cell_text.escape(text, limit=None)


def _months_in_range(
    months: pd.Series, distinct: Collection[str], latest: str, bad: Callable[..., None]
) -> pd.Series:
    """Months before EARLIEST_MONTH or after `latest` are errors (and left missing)."""
    span = f"{EARLIEST_MONTH} 至 {latest} 之间的月份"
    early = sorted(m for m in distinct if m < EARLIEST_MONTH)
    late = sorted(m for m in distinct if m > latest)
    for wrong, code, message, expected in (
        (early, "month_too_early", f"月份早于 {EARLIEST_MONTH}，不会是本程序监测的基金", span),
        (
            late,
            "month_in_future",
            "月份晚于下个月：台账不会报告尚未到来的月份（常见于年份录错，如 2100）",
            f"不晚于 {latest}（{span}）",
        ),
    ):
        if wrong:
            mask = months.isin(wrong).to_numpy()
            bad(mask, "month", code, message, expected)
            months = months.where(~mask)
    return months


@dataclass(frozen=True)
class _Resolved:
    value: str  # a fund key or 'YYYY-MM'
    source: Stated

    def describe(self) -> str:
        s = self.source
        if s.how == "sheet":
            return f"工作表名称“{s.text}”"
        return f"{s.where}{'注明的' if s.how == 'label' else '标题'}“{s.text}”"


def _stated_values(
    table: RawTable, catalogue: FundCatalogue
) -> tuple[dict[str, _Resolved], list[Finding]]:
    """The fund and month the sheet states for all its rows (see `files.Stated`).

    A sheet name or a title that names no fund or month is just a name; a labelled line
    ("险种：…") that names none is an error. Two statements that disagree are an error. A
    title counts only where the table has no column for it."""
    where = {"file": _safe(table.source), "sheet": _safe(table.sheet)}
    resolved: dict[str, _Resolved] = {}
    errors: list[Finding] = []
    for column in STATED_COLUMNS:
        found: list[_Resolved] = []
        titles: list[_Resolved] = []
        for s in table.stated:
            if s.column != column:
                continue
            value = _read_stated(s, catalogue)
            if value is None and s.how == "label":
                label = BY_NAME[column].label
                errors.append(Finding(
                    "error", "unknown_fund" if column == "fund" else "bad_month",
                    f"{s.where}注明的{label}无法识别", row=s.row, column=label,
                    value=_shown(s.text), expected=_expected_stated(column, catalogue), **where,
                ))  # fmt: skip
            elif value is not None:
                (titles if s.how == "title" else found).append(_Resolved(value, s))
        if len({r.value for r in found}) > 1:
            a, b = found[0], next(r for r in found if r.value != found[0].value)
            errors.append(Finding(
                "error", "stated_conflict",
                f"{a.describe()}与{b.describe()}不一致", row=b.source.row,
                column=BY_NAME[column].label, value=_shown(b.source.text), expected="二者一致",
                **where,
            ))  # fmt: skip
        elif found:
            resolved[column] = found[0]
        elif column not in table.frame and len({r.value for r in titles}) == 1:
            resolved[column] = titles[0]
    return resolved, errors


def _read_stated(s: Stated, catalogue: FundCatalogue) -> str | None:
    if s.column == "month":
        return read_month(s.text) if s.how != "title" else month_in_text(s.text)
    key = catalogue.key_for(s.text) if s.how != "title" else None
    if key is None and s.how != "label":
        named = catalogue.named_in(s.text)
        key = next(iter(named)) if len(named) == 1 else None
    return key


def _expected_stated(column: str, catalogue: FundCatalogue) -> str:
    if column == "fund":
        return f"已配置的险种：{catalogue.describe()}（或其中文名称）"
    return "如 2024-05、202405 或 2024年5月"


def _missing_stated(table: RawTable, column: str, catalogue: FundCatalogue) -> Finding:
    label = BY_NAME[column].label
    return Finding(
        "error",
        "missing_column",
        f"缺少必需列 {label}（表头在第 {table.header_rows()} 行）：表中没有{label}列，"
        f"工作表名称和表头上方的标题也未注明{label}",
        file=_safe(table.source),
        sheet=_safe(table.sheet),
        row=table.header_row,
        column=label,
        expected=(
            f"{label}列；或表头上方一行注明，如“{label}：职工基本医疗保险统筹基金”；"
            "或以险种名称命名工作表"
            if column == "fund"
            else f"{label}列；或表头上方一行注明，如“统计期：2024年5月”；或以月份命名工作表"
        ),
    )


@dataclass
class _Part:
    """One validated table with what its report needs (gathered as values were parsed)."""

    rows: pd.DataFrame
    months: set[str] = field(default_factory=set)
    funds: set[str] = field(default_factory=set)
    stated: dict[str, _Resolved] = field(default_factory=dict)


def _validate_table(
    table: RawTable,
    *,
    unit: str,
    catalogue: FundCatalogue,
    refunds: Collection[str],
    latest: str,
    errors: _Errors,
) -> _Part:
    stated, problems = _stated_values(table, catalogue)
    for finding in problems:
        errors.add(finding)
    headers = dict(table.headers)
    source = table.frame
    for column in STATED_COLUMNS:
        if column in source:
            continue
        if column not in stated:
            if not any(f.column == BY_NAME[column].label for f in problems):  # said already
                errors.add(_missing_stated(table, column, catalogue))
            return _Part(pd.DataFrame())
        # the sheet's value in every row, checked below like a column's
        source = source.assign(**{column: stated[column].value})
        headers[column] = stated[column].describe()
    frame, hostile = _screen_text(source)
    rows = frame["row"].to_numpy()
    out = pd.DataFrame(index=frame.index)
    file, sheet = _safe(table.source), _safe(table.sheet)
    part = _Part(out, stated=stated)

    def bad(
        mask: np.ndarray | pd.Series,
        column: str,
        code: str,
        message: str | Callable[[object], str],
        expected: str,
        *,
        cells: pd.DataFrame = frame,
    ) -> None:
        where = np.flatnonzero(np.asarray(mask))
        room = max(errors.room(), 0)
        errors.dropped += max(len(where) - room, 0)  # counted, not built: a bad column of 1M
        for i in where[:room]:
            value = cells[column].iloc[i]
            errors.add(
                Finding(
                    "error",
                    code,
                    message if isinstance(message, str) else message(value),
                    file=file,
                    sheet=sheet,
                    row=int(rows[i]),
                    column=_safe(headers.get(column, column)),
                    value=None if pd.isna(value) else _shown(value),
                    expected=expected,
                )
            )

    for column, mask in hostile.items():

        def hostile_text(value: object, label: str = BY_NAME[column].label) -> str:
            return f"{label}含不可见的控制字符：{cell_text.describe(str(value))}"

        bad(mask, column, "control_character", hostile_text, cell_text.EXPECTED, cells=source)

    def required_present(column: str) -> np.ndarray:
        missing = frame[column].isna().to_numpy()
        present = ~missing
        if column in hostile:
            missing = missing & ~hostile[column]  # reported already, as what it is
        if column in REQUIRED and missing.any():
            bad(missing, column, "missing_value", f"{BY_NAME[column].label}为空", "非空值")
        return present

    # region and parent codes
    for column in ("region_code", "parent_code"):
        if column not in frame:
            continue
        present = (
            required_present(column) if column in REQUIRED else frame[column].notna().to_numpy()
        )
        codes = _map_distinct(frame[column], _code)
        invalid = present & codes.isna().to_numpy()
        bad(invalid, column, "bad_code", "统筹区编码不是 6 位数字", "6 位行政区划代码，如 341702")
        out[column] = codes
    if "parent_code" not in out:
        out["parent_code"] = None
    for column in ("region_name", "parent_name"):
        out[column] = (
            _map_distinct(frame[column], lambda v: cell_text.clean(str(v)) or None)
            if column in frame
            else None
        )

    def disagrees(column: str, values: pd.Series, shown: Callable[[str], str]) -> None:
        """Rows that contradict what the sheet's name or a line above the header states."""
        said = stated.get(column)
        if said is None or column not in table.frame:
            return
        mask = values.notna().to_numpy() & (values != said.value).to_numpy()
        message = f"{BY_NAME[column].label}与{said.describe()}不一致"
        bad(mask, column, "stated_conflict", message, shown(said.value))

    # fund
    present = required_present("fund")

    def fund_of(value: object) -> str | None:
        key = catalogue.key_for(str(value))
        if key is not None:
            part.funds.add(key)
        return key

    funds = _map_distinct(frame["fund"], fund_of)
    bad(
        present & funds.isna().to_numpy(),
        "fund",
        "unknown_fund",
        "未知险种",
        _expected_stated("fund", catalogue),
    )
    disagrees("fund", funds, lambda key: fund_name(catalogue, key))
    out["fund"] = funds

    # month
    present = required_present("month")
    distinct = part.months  # the months named, kept as they are parsed (no 1M-row pass)
    seen: list[object] = []  # each distinct cell value, once
    short: list[object] = []  # "2024.1": January, or October without its zero
    numbers: list[object] = []  # 2024.05 typed into a number cell

    def month_of(value: object) -> str | None:
        seen.append(value)
        if ambiguous_month(value):
            short.append(value)
            return None
        month = read_month(value)
        if month is not None:
            distinct.add(month)
        elif number_as_month(value):
            numbers.append(value)
        return month

    months = _map_distinct(frame["month"], month_of)
    if short and writes_october_in_full(seen):  # October is "2024.10": "2024.1" is January
        january = {v: read_month(v) for v in short}
        distinct.update(m for m in january.values() if m is not None)
        is_short = frame["month"].isin(short)
        months = months.where(~is_short, frame["month"].map(january))
        short = []
    unread = present & months.isna().to_numpy()
    none = np.zeros(len(frame), bool)
    is_short = frame["month"].isin(short).to_numpy() if short else none
    is_number = frame["month"].isin(numbers).to_numpy() if numbers else none
    bad(
        is_short,
        "month",
        "ambiguous_month",
        "月份有歧义：可能是 1 月，也可能是数字单元格去掉末尾 0 的 10 月",
        "写成 2024-01 或 2024-10（或 2024年1月、2024年10月）",
    )
    bad(
        is_number,
        "month",
        "bad_month",
        "月份是数字单元格（2024.10 在数字单元格中会变成 2024.1，无法可靠读取）",
        "文本或日期单元格，如 2024-05 或 2024年5月",
    )
    bad(
        unread & ~is_short & ~is_number,
        "month",
        "bad_month",
        "无法识别的月份",
        "如 2024-05、202405 或 2024年5月",
    )
    disagrees("month", months, lambda month: month)
    out["month"] = _months_in_range(months, distinct, latest, bad)

    # amounts in the stated unit → exact integer fen
    scale = UNITS[unit] * 100
    for column in AMOUNTS:
        if column not in frame:
            out[column] = _nullable_int(np.zeros(len(frame)), np.zeros(len(frame), bool))
            continue
        values, present, failed = _parse_numbers(frame[column])
        if column in REQUIRED and not present.all():
            bad(~present, column, "missing_value", f"{BY_NAME[column].label}为空", "非空值")
        bad(
            failed,
            column,
            "not_a_number",
            f"{BY_NAME[column].label}不是数字",
            f"数字（单位：{unit}）",
        )
        fen = np.round(values * scale)
        huge = np.abs(fen) >= _MAX_FEN
        bad(
            huge & ~failed,
            column,
            "too_large",
            f"{BY_NAME[column].label}超出合理范围",
            f"小于 {_MAX_FEN / scale:.3g} {unit}",
        )
        if column != "balance" and column not in refunds:
            negative = (fen < 0) & ~failed
            bad(
                negative,
                column,
                "negative",
                f"{BY_NAME[column].label}为负数",
                f"非负数；若该列为退费/冲销，请用 --refunds {column} 声明",
            )
        ok = present & ~failed & ~huge
        out[column] = _nullable_int(fen, ok)

    for column in COUNTS:
        if column not in frame:
            out[column] = _nullable_int(np.zeros(len(frame)), np.zeros(len(frame), bool))
            continue
        values, present, failed = _parse_numbers(frame[column])
        present &= ~np.isnan(values)
        not_whole = present & ((values != np.round(values)) | (values < 0))
        bad(
            failed | not_whole,
            column,
            "bad_count",
            f"{BY_NAME[column].label}不是非负整数",
            "非负整数（人）",
        )
        out[column] = _nullable_int(values, present & ~not_whole)

    out["file"] = file
    out["sheet"] = sheet
    out["row"] = rows
    return part


def _check_duplicates(rows: pd.DataFrame, errors: _Errors) -> None:
    keys = ["region_code", "fund", "month"]
    valid = rows.dropna(subset=keys)
    dup = valid.duplicated(subset=keys, keep=False)
    if not dup.any():
        return
    seen: dict[tuple[str, str, str], pd.Series] = {}
    for _, r in valid[dup].iterrows():
        key = (r.region_code, r.fund, r.month)
        if key not in seen:
            seen[key] = r
            continue
        first = seen[key]
        where = (
            f"{first.file}"
            + (f" 工作表 {first.sheet}" if first.sheet else "")
            + f" 第 {first.row} 行"
        )
        errors.add(
            Finding(
                "error",
                "duplicate",
                f"同一统筹区、险种、月份重复出现（与 {where} 重复）",
                file=r.file,
                sheet=r.sheet,
                row=int(r.row),
                value=" / ".join(key),
                expected="每个统筹区、险种、月份只出现一次",
                region_code=r.region_code,
                fund=r.fund,
                month=r.month,
            )
        )


def _regions(
    rows: pd.DataFrame, known: dict[str, str | None], errors: _Errors, warnings: list[Finding]
) -> pd.DataFrame:
    """The regions the input names, with names and parents; parents named only by code too."""
    firsts = rows.dropna(subset=["region_code"]).groupby("region_code", sort=True)
    info = firsts.agg(
        name=("region_name", "first"),
        parent_code=("parent_code", "first"),
        names=("region_name", "nunique"),
        parents=("parent_code", "nunique"),
        file=("file", "first"),
        row=("row", "first"),
    )
    result: dict[str, dict[str, str | None]] = {}  # code → name, parent_code
    for code, r in info.iterrows():
        if r.names > 1 or r.parents > 1:
            warnings.append(
                Finding(
                    "warning",
                    "inconsistent_region",
                    f"统筹区 {code} 在输入中有多个名称或上级，"
                    f"取第一个：{r['name']} / {r.parent_code}",
                    region_code=str(code),
                )
            )
        name = r["name"] if isinstance(r["name"], str) else None
        if name is None and str(code) not in known:
            errors.add(
                Finding(
                    "error",
                    "missing_name",
                    f"新的统筹区 {code} 没有名称",
                    file=r.file,
                    row=int(r.row),
                    column="region_name",
                    expected="统筹区名称列（统筹区名称）给出名称",
                    region_code=str(code),
                )
            )
        parent = r.parent_code if isinstance(r.parent_code, str) else None
        result[str(code)] = {"name": name, "parent_code": parent}
    # parents named by code only: take their names from parent_name, or keep what is stored
    parent_names = (
        rows.dropna(subset=["parent_code", "parent_name"])
        .groupby("parent_code")["parent_name"]
        .first()
    )
    codes = set(result)
    for code, entry in list(result.items()):
        if entry["parent_code"] is None:
            guess = derived_parent(code)
            # only derive a parent that exists, so a lone county does not invent a city
            if guess and (guess in codes or guess in known):
                entry["parent_code"] = guess
        parent = entry["parent_code"]
        if parent and parent not in result:
            result[parent] = {"name": parent_names.get(parent), "parent_code": None}
            if result[parent]["name"] is None and parent not in known:
                warnings.append(
                    Finding(
                        "warning",
                        "parent_unnamed",
                        f"上级统筹区 {parent} 名称未知，暂以编码代替；可在“上级名称”列中给出",
                        region_code=parent,
                    )
                )
    frame = pd.DataFrame(
        [
            {
                "code": c,
                "name": e["name"],
                "parent_code": e["parent_code"],
                "level": region_level(c),
            }
            for c, e in sorted(result.items())
        ],
        columns=["code", "name", "parent_code", "level"],
        dtype=object,
    )
    return frame


def validate_tables(
    tables: Sequence[RawTable],
    *,
    catalogue: FundCatalogue,
    unit: str | None = None,
    default_unit: str | None = None,
    refunds: Collection[str] = (),
    known_regions: dict[str, str | None] | None = None,
    max_errors: int = 200,
    now: dt.datetime,
) -> ValidLedger:
    """Check every table; return exact rows, or raise LedgerRejected listing every error.

    :param now: the clock: months after the month following it are refused.
    :param unit: the unit the user stated (--unit); must agree with any unit the file states.
    :param default_unit: the configured unit for files that state none.
    :param known_regions: code → name of regions already in the store.
    :raises LedgerRejected: with all errors (capped at max_errors, the rest counted).
    """
    errors = _Errors(max_errors)
    warnings: list[Finding] = []
    known = known_regions or {}
    latest = latest_month(now)
    parts: list[tuple[RawTable, str, _Part]] = []
    units: set[str] = set()
    for table in tables:
        warnings += [replace(f, file=_safe(f.file), sheet=_safe(f.sheet)) for f in table.notes]
        for header in table.ignored_columns:
            warnings.append(
                Finding(
                    "warning",
                    "ignored_column",
                    f"未识别的列“{_safe(header)}”已忽略",
                    file=_safe(table.source),
                    sheet=_safe(table.sheet),
                    row=table.header_row,
                    column=_safe(header),
                )
            )
        chosen = _resolve_unit(table, unit, default_unit, errors)
        if chosen is None:
            continue
        units.add(chosen)
        part = _validate_table(
            table, unit=chosen, catalogue=catalogue, refunds=refunds, latest=latest, errors=errors
        )
        parts.append((table, chosen, part))
    errors.raise_if_any()
    rows = pd.concat([p.rows for _, _, p in parts], ignore_index=True) if parts else pd.DataFrame()
    if rows.empty:
        errors.add(
            Finding(
                "error",
                "empty",
                "输入中没有台账数据行",
                file=", ".join(sorted({t.source for t in tables})) or None,
            )
        )
        errors.raise_if_any()
    _check_duplicates(rows, errors)
    regions = _regions(rows, known, errors, warnings)
    errors.raise_if_any()
    for column in ("income", "expenditure", "balance"):
        rows[column] = rows[column].astype("int64")
    rows = rows.drop(columns=["region_name", "parent_code", "parent_name"])
    reports = [_report(t, chosen, unit, p) for t, chosen, p in parts]
    return ValidLedger(rows=rows, regions=regions, warnings=warnings, units=units, tables=reports)


def _report(table: RawTable, chosen: str, option: str | None, part: _Part) -> TableReport:
    source: str | None
    if option:
        source = "命令行 --unit"
    elif table.unit:
        source = table.unit_source
    else:
        source = "配置 [import] unit（文件未注明）"
    months = sorted(part.months)
    return TableReport(
        file=table.source,
        sheet=table.sheet,
        header_rows=table.header_rows(),
        columns=tuple(table.columns),
        unit=chosen,
        unit_source=source,
        stated=tuple((c, r.value, r.describe()) for c, r in part.stated.items()),
        rows=len(part.rows),
        first_month=months[0] if months else None,
        last_month=months[-1] if months else None,
        funds=tuple(sorted(part.funds)),
    )
