"""Unit errors: amounts 10⁴ or 10⁸ away from where they belong are refused, not warned.

An office keys 元 under a "单位：万元" title, or an analyst gives `--unit 元` for a file in
万元: every amount is then 10,000 times too large or too small, and every level, growth rate
and forecast computed from it is nonsense (payable months alone survive, which is why the
numbers look plausible enough to alert on). Units differ by powers of 10⁴ (元, 万元, 亿元),
so the check looks for an error of 10^(4k), k = ±1 or ±2, per *slice*: the months one table
(file and sheet) gives of one series, because a unit belongs to a table. Signals:

- level: the median, over the slice's months and its three amounts, of log10 of the amount
  against the stored median of the same calendar month within three years (the series' own
  median in that window where the calendar month is missing). A median over months and
  amounts ignores a seasonal lump or a real jump in one of them; three years of even 30 %
  growth are a factor of 2.2, 0.3 on this scale, where a unit error is 4.
- boundary: where an incoming month follows (or precedes) a stored one, the incoming opening
  balance (closing − income + expenditure) reconciles with the stored closing balance only
  after rescaling by 10^(4k).
- within: consecutive months of a slice reconcile only with the balance rescaled against
  income and expenditure (balance and flows keyed in different units): this needs no history.

A slice is refused when the level or the boundary finds k ≠ 0 and the other does not
contradict it (finds k = 0), or when the months within it reconcile only at k ≠ 0.
Pure and vectorised: a first import of a million rows pays only for the within check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitor.core.findings import Finding
from monitor.core.money import UNITS

SERIES = ["region_code", "fund"]
SLICE = ["region_code", "fund", "file", "sheet"]
AMOUNTS = ("income", "expenditure", "balance")
WINDOW_MONTHS = 36  # history compared against: the three years around the incoming months
LEVEL_NOISE = 1.0  # log10 units: |L − 4k| within this counts as a factor of 10^(4k)
LEVEL_CALM = 1.0  # |L| within this: the level agrees with history (k = 0)
BOUNDARY_REL = 1e-3  # a rescaled opening balance must meet the stored one this closely
WITHIN_MIN_PAIRS = 2  # consecutive months that must agree on a rescaling
FACTORS = (-2, -1, 1, 2)  # k: the error is 10^(4k)

ACCEPT_HINT = "确认金额无误时，用 fundmon import --accept-scale 导入"
_FACTOR_WORDS = {1: "1 万倍", 2: "1 亿倍", -1: "万分之一", -2: "亿分之一"}


@dataclass(frozen=True)
class UnitRead:
    """The unit a table's amounts were read in, and where it came from (for the fix)."""

    unit: str
    source: str  # "file" (stated in it), "option" (--unit), "config" (the default), "unknown"
    where: str | None = None  # e.g. "第 1 行：单位：万元"


def factor_words(k: int) -> str:
    """10^(4k) as a reader says it after 约为…的: ' 1 万倍', '万分之一' (a space before a
    figure, as every message spaces them)."""
    words = _FACTOR_WORDS[k]
    return f" {words}" if words[0].isdigit() else words


def suggested_unit(read: str, k: int) -> str | None:
    """The unit that amounts read in `read` and found 10^(4k) too large were really in."""
    true = UNITS[read] / 10 ** (4 * k)
    return next((name for name, per in UNITS.items() if per == true), None)


def scale_findings(
    df: pd.DataFrame,
    *,
    units: Callable[[str | None, str | None], UnitRead | None],
    describe: Callable[[str, str], str],
    reconcile_abs_yuan: float = 1000.0,
    limit: int = 20,
) -> list[Finding]:
    """Errors for the slices whose amounts are off by 10^(4k).

    `df`: whole series (stored + incoming), sorted by region_code, fund, month, with `_m` (the
    month counter) and `incoming`, as `quality.sort_series` makes it; file/sheet (where the
    incoming rows came from) when known. `units(file, sheet)`: how a table's amounts were
    read; `describe(code, fund)`: a series as people name it.
    """
    if not df["incoming"].any():
        return []
    df = df.assign(
        file=df["file"].fillna("") if "file" in df else "",
        sheet=df["sheet"].fillna("") if "sheet" in df else "",
    )
    tol = reconcile_abs_yuan * 100
    findings: list[Finding] = []
    for kind, found in (
        ("unit_scale", _combine(_level(df), _boundary(df, tol))),
        ("unit_mixed", _within(df, tol)),
    ):
        if found.empty:
            continue
        rows = df[df["incoming"] & df["region_code"].isin(found["region_code"])]
        found = found.join(rows.groupby(SLICE)["month"].min(), on=SLICE)  # each slice's first
        for (file, sheet, k), part in found.groupby(["file", "sheet", "k"], sort=True):
            findings.append(
                _finding(kind, file or None, sheet or None, int(k), part, units, describe)
            )
    return findings[:limit]


def _none() -> pd.DataFrame:
    return pd.DataFrame(columns=[*SLICE, "k"])


def _top(keys: pd.DataFrame) -> pd.DataFrame:
    """Per slice, the k found most often, how often, and out of how many (NaN k: none fit)."""
    total = keys.groupby(SLICE).size().rename("n")
    counts = keys.dropna(subset=["k"]).groupby([*SLICE, "k"]).size().reset_index(name="agree")
    counts = counts.sort_values(["agree", "k"], ascending=[False, True], kind="stable")
    return counts.drop_duplicates(SLICE).join(total, on=SLICE)


def _k_of(log_ratio: pd.Series) -> pd.Series:
    """k per slice from its median log10 ratio: 0 when calm, ±1/±2 near ±4/±8, else NaN."""
    k = (log_ratio / 4).round()
    near = (log_ratio - 4 * k).abs() <= LEVEL_NOISE
    out = k.where(near & k.isin(FACTORS))
    return out.mask(log_ratio.abs() <= LEVEL_CALM, 0.0)


def _level(df: pd.DataFrame) -> pd.DataFrame:
    """k per slice from the level against stored history (slices with no history absent)."""
    stored = df[~df["incoming"]]
    incoming = df[df["incoming"]]
    if stored.empty:
        return _none()
    span = incoming.groupby(SERIES)["_m"].agg(["min", "max"])
    near = stored.join(span, on=SERIES, how="inner")
    near = near[
        (near["_m"] >= near["min"] - WINDOW_MONTHS) & (near["_m"] <= near["max"] + WINDOW_MONTHS)
    ]
    if near.empty:
        return _none()
    size = near[list(AMOUNTS)].abs().astype("float64")
    size = size.where(size > 0)
    size[SERIES] = near[SERIES]
    size["_cal"] = near["_m"] % 12
    by_cal = size.groupby([*SERIES, "_cal"])[list(AMOUNTS)].median()
    overall = size.groupby(SERIES)[list(AMOUNTS)].median()
    rows = incoming[[*SLICE, *AMOUNTS]].assign(_cal=incoming["_m"] % 12)
    ref_cal = rows[[*SERIES, "_cal"]].join(by_cal, on=[*SERIES, "_cal"])
    ref_all = rows[SERIES].join(overall, on=SERIES)
    parts = []
    for col in AMOUNTS:
        ref = ref_cal[col].fillna(ref_all[col]).to_numpy(dtype="float64")
        value = rows[col].abs().to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.log10(value / ref)
        parts.append(rows[SLICE].assign(_log=ratio))
    long = pd.concat(parts, ignore_index=True)
    long = long[np.isfinite(long["_log"].to_numpy())]
    median = long.groupby(SLICE)["_log"].median()
    k = _k_of(median).dropna()
    return k.rename("k").reset_index()


def _pairs(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Positions (earlier, later) of consecutive months of one series."""
    same = (df["region_code"].to_numpy()[1:] == df["region_code"].to_numpy()[:-1]) & (
        df["fund"].to_numpy()[1:] == df["fund"].to_numpy()[:-1]
    )
    step = np.diff(df["_m"].to_numpy()) == 1
    later = np.flatnonzero(same & step) + 1
    return later - 1, later


def _amounts(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        df["income"].to_numpy(dtype="float64"),
        df["expenditure"].to_numpy(dtype="float64"),
        df["balance"].to_numpy(dtype="float64"),
    )


def _boundary(df: pd.DataFrame, tol: float) -> pd.DataFrame:
    """k per slice where an incoming month meets a stored neighbour and the two reconcile
    only at 10^(4k) (0 where they reconcile as read); slices with no such neighbour absent."""
    incoming = df["incoming"].to_numpy(dtype=bool)
    if incoming.all():
        return _none()
    earlier, later = _pairs(df)
    cross = incoming[earlier] != incoming[later]
    earlier, later = earlier[cross], later[cross]
    if not len(later):
        return _none()
    i, e, b = _amounts(df)
    closing = b[earlier]
    opening = b[later] - i[later] + e[later]
    later_in = incoming[later]
    x_in = np.where(later_in, opening, closing)  # the incoming side, as read
    x_st = np.where(later_in, closing, opening)  # the stored side
    allowed = np.maximum(tol, BOUNDARY_REL * np.abs(x_st))
    found = np.full(len(later), np.nan)
    for k in (0, *FACTORS):
        fits = np.abs(x_in / 10.0 ** (4 * k) - x_st) <= allowed
        found = np.where(np.isnan(found) & fits & (np.abs(x_st) > tol), k, found)
    where = np.where(later_in, later, earlier)
    keys = df.iloc[where][SLICE].reset_index(drop=True).assign(k=found).dropna(subset=["k"])
    if keys.empty:
        return _none()
    return _top(keys)[[*SLICE, "k"]]


def _combine(level: pd.DataFrame, boundary: pd.DataFrame) -> pd.DataFrame:
    """Slices where one signal finds k ≠ 0 and the other does not say otherwise."""
    both = level.merge(boundary, on=SLICE, how="outer", suffixes=("_level", "_boundary"))
    if both.empty:
        return _none()
    lv, bd = both["k_level"].astype("float64"), both["k_boundary"].astype("float64")
    k = lv.where(lv.notna() & (lv != 0), bd)
    agree = (lv.isna() | bd.isna() | (lv == bd)) & k.notna() & (k != 0)
    return both.loc[agree, SLICE].assign(k=k[agree].astype("int64"))


def _within(df: pd.DataFrame, tol: float) -> pd.DataFrame:
    """Slices whose consecutive months reconcile only with the balance rescaled by 10^(4k)
    against income and expenditure."""
    incoming = df["incoming"].to_numpy(dtype=bool)
    earlier, later = _pairs(df)
    keep = incoming[earlier] & incoming[later]
    for col in ("file", "sheet"):
        values = df[col].to_numpy()
        keep &= values[earlier] == values[later]
    earlier, later = earlier[keep], later[keep]
    i, e, b = _amounts(df)
    flow = i[later] - e[later]
    change = b[later] - b[earlier]
    allowed = np.maximum(tol, BOUNDARY_REL * np.abs(flow))
    informative = np.abs(flow) > 10 * allowed
    flow, change, allowed = flow[informative], change[informative], allowed[informative]
    later = later[informative]
    if (np.abs(change - flow) <= allowed).all():  # the common case: all reconcile as read
        return _none()
    found = np.full(len(later), np.nan)
    for k in (0, *FACTORS):
        # a balance keyed in a larger unit is rounded to its 0.01: 10^(4k) fen per month
        slack = np.maximum(allowed, 2 * 10.0 ** (4 * k)) if k > 0 else allowed
        fits = np.abs(change * 10.0 ** (4 * k) - flow) <= slack
        found = np.where(np.isnan(found) & fits, k, found)
    top = _top(df.iloc[later][SLICE].reset_index(drop=True).assign(k=found))
    if top.empty:
        return _none()
    hit = (top["k"] != 0) & (top["agree"] >= WITHIN_MIN_PAIRS) & (top["agree"] * 3 >= top["n"] * 2)
    return top.loc[hit, [*SLICE, "k"]].astype({"k": "int64"})


def _finding(
    kind: str,
    file: str | None,
    sheet: str | None,
    k: int,
    part: pd.DataFrame,
    units: Callable[[str | None, str | None], UnitRead | None],
    describe: Callable[[str, str], str],
) -> Finding:
    read = units(file, sheet)
    names = [describe(r.region_code, r.fund) for r in part.head(3).itertuples()]
    which = "、".join(names) + (f" 等 {len(part)} 个序列" if len(part) > 3 else "")
    first = part.iloc[0]
    if kind == "unit_mixed":
        message = (
            f"期末累计结余的逐月变动约为（本期收入 − 本期支出）的{factor_words(-k)}，"
            f"结余与收支似乎不是同一金额单位；涉及 {which}"
        )
        expected = "结余与收支使用同一单位：请核对各列的单位后重新导入；" + ACCEPT_HINT
    else:
        message = f"金额约为历史水平的{factor_words(k)}"
        suggest = suggested_unit(read.unit, k) if read else None
        if suggest and read:
            message += f"，疑似单位应为 {suggest}（本次按 {read.unit} 读取"
            message += f"，{read.where}）" if read.where else "）"
        else:
            message += "，疑似金额单位有误"
        message += f"；涉及 {which}"
        expected = _fix(read, suggest)
    return Finding(
        "error",
        kind,
        message,
        file=file,
        sheet=sheet,
        expected=expected,
        region_code=str(first.region_code),
        fund=str(first.fund),
        month=str(first.month),
    )


def _fix(read: UnitRead | None, suggest: str | None) -> str:
    if read is None or suggest is None:
        return "核对金额单位与历史数据；" + ACCEPT_HINT
    if read.source == "option":
        return f"改用 --unit {suggest} 重新导入；" + ACCEPT_HINT
    if read.source == "file":
        return f"把文件中注明的单位 {read.unit} 改为 {suggest} 后重新导入；" + ACCEPT_HINT
    if read.source == "config":
        unstated = f"未注明单位时按配置的 {read.unit} 读取"
        return f"用 --unit {suggest} 导入（{unstated}）；" + ACCEPT_HINT
    return f"按 {suggest} 重新导入；" + ACCEPT_HINT


def units_of(
    reads: Mapping[tuple[str | None, str | None], UnitRead],
) -> Callable[[str | None, str | None], UnitRead | None]:
    """`units` for scale_findings from a table → unit map; one unit serves any table."""
    only = next(iter(reads.values())) if len({r.unit for r in reads.values()}) == 1 else None

    def lookup(file: str | None, sheet: str | None) -> UnitRead | None:
        return reads.get((file, sheet), only)

    return lookup
