"""Months far outside their own series' recent pattern (pure): flagged at import as 待核实.

An office that keys one month's expenditure three times too large (under the 5× spike check)
turns a green fund red, and leaders get the mail. So at import every incoming month among a
series' latest `RECENT` months is compared with what the series itself did before it, and a
month far outside is flagged as pending review (待核实): its level is still computed on the
figures, but the alert mail a change at that month would send waits until an analyst confirms
the month (`fundmon ledger confirm`) or a corrected file replaces it.

The test, per series (income and expenditure each) and month t, on log amounts (so a ×3 is
the same surprise in a small county as in a province):

- level: x_t = log y_t − median(log y over t−12…t−1) — the month against the past year;
- seasonal: s_t = log y_t − log y_{t−12} — the month against the same month a year before;
- each is turned into a robust z-score against its own values over the `WINDOW` months
  before t: (value − median) / max(1.4826 × MAD, `LOG_FLOOR`);
- the month is aberrant when both z-scores have the same sign and both reach the threshold.

Why both: a Spring Festival that moves from February to January makes January far from
January a year ago (seasonal) but not far from the past year's months (level); a December
peak is far from the past year's median but not from last December. A keyed ×3 is far from
both. Requiring both also stops a confirmed real spike from being flagged again a year later
through its seasonal echo (the level test is robust to one month). `LOG_FLOOR` (0.1, about
±10 %) keeps a very smooth series from calling an ordinary 20 % dip aberrant: at the default
threshold of 6, a month must be at least e^0.6 ≈ 1.8× (or 1/1.8) its expectation.

Why not the forecast's own 99 % band: it would fit the statistical models at import (about a
second per series; a country's whole import takes seconds), and model bands under-cover
(DESIGN: calibrate them), so a 99 % band would hold real months. This test is vectorised.

Measured (`benchmarks/aberrant_months.py`: every month of every series judged as if it had
been imported last, from its third year on), at the default z ≥ 6: the demo city flags
nothing (at 5: 3 income months); a synthetic province (288 series, 24,192 months × income and
expenditure) nothing; the synthetic country (8,184 series, 785,664 months) 18 income months,
its lumpy subsidies, and no expenditure month. Of random province months keyed ×3 it
catches 100 %, ×2 81 %, ×½ 77 %, ×⅓ 100 %, ×1.5 none — nor the synthetic 15–35 % steps, which
are real. On a million-row first import it takes 0.3 s.

Income and expenditure not positive are not judged (the log has no meaning there); a series
needs two years of history before its months are judged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from monitor.core.findings import Finding
from monitor.core.money import format_amount, yuan_grouped
from monitor.core.vocabulary import review_word

AMOUNTS = ("income", "expenditure")  # the figures judged
LABELS = {"income": ("本期收入", "income"), "expenditure": ("本期支出", "expenditure")}
WINDOW = 36  # months of the series' own history a month is compared with
MIN_WINDOW = 12  # fewer usable months in the window: not judged
SEASON = 12
RECENT = 12  # only a series' latest months are judged: older ones no longer move its level
LOG_FLOOR = 0.1  # the smallest spread assumed, in log units (about ±10 %)
CODE = "aberrant"  # the import finding's code

STATUSES = ("pending", "confirmed", "cleared")  # a review's words: vocabulary.review_status


@dataclass(frozen=True)
class Aberration:
    """One amount of one month, far outside its series' recent pattern."""

    region_code: str
    fund: str
    month: str
    column: str  # "income" | "expenditure"
    value: int  # fen, as imported
    expected: int  # fen: what the series' pattern predicts
    z: float  # the smaller (in size) of the level and seasonal robust z-scores

    @property
    def ratio(self) -> float:
        return self.value / self.expected if self.expected else math.inf

    def text(self, lang: str = "zh") -> str:
        zh, en = LABELS.get(self.column, (self.column, self.column))
        value, expected = self.value / 100, self.expected / 100
        if lang == "zh":
            return (
                f"{zh} {format_amount(value)}，约为按本序列近期规律推算的 "
                f"{format_amount(expected)} 的 {self.ratio:.2g} 倍（稳健 z 值 {self.z:.1f}）"
            )
        return (
            f"{en} {format_amount(value, lang='en')}, about {self.ratio:.2g}× the "
            f"{format_amount(expected, lang='en')} its recent pattern predicts "
            f"(robust z {self.z:.1f})"
        )

    def short(self, lang: str = "zh") -> str:
        """'本期支出约为推算值的 3 倍（稳健 z 值 11.0）' (the figures are shown beside it)."""
        zh, en = LABELS.get(self.column, (self.column, self.column))
        if lang == "zh":
            return f"{zh}约为推算值的 {self.ratio:.2g} 倍（稳健 z 值 {self.z:.1f}）"
        return f"{en} about {self.ratio:.2g}× what its pattern predicts (robust z {self.z:.1f})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "value": self.value,
            "expected": self.expected,
            "z": round(self.z, 2),
        }

    @classmethod
    def from_dict(
        cls, region_code: str, fund: str, month: str, data: Mapping[str, Any]
    ) -> Aberration:
        return cls(
            region_code,
            fund,
            month,
            str(data["column"]),
            int(data["value"]),
            int(data["expected"]),
            float(data["z"]),
        )


@dataclass(frozen=True)
class AberrantMonth(Finding):
    """The import warning for a month flagged 待核实, carrying what the store keeps of it
    (`aberrations`: not a column of import_findings, so `as_dict` leaves it out)."""

    aberrations: tuple[Aberration, ...] = field(default=(), compare=False)

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out.pop("aberrations", None)
        return out


@dataclass(frozen=True)
class Review:
    """A month flagged at import (`ledger_reviews`): pending until confirmed or corrected."""

    id: int
    region_code: str
    fund: str
    month: str
    status: str  # one of STATUSES
    aberrations: tuple[Aberration, ...]
    region_name: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.region_code, self.fund, self.month)

    def text(self, lang: str = "zh") -> str:
        """'东至县（341721）2024-12 本期支出 …倍（稳健 z 值 9.1）'."""
        name = self.region_name or self.region_code
        if lang == "zh":
            where = f"{name}（{self.region_code}）{self.month} "
            return where + "；".join(a.text(lang) for a in self.aberrations)
        where = f"{name} ({self.region_code}) {self.month}: "
        return where + "; ".join(a.text(lang) for a in self.aberrations)

    def summary(self, lang: str = "zh") -> dict[str, Any]:
        """What a decision's `pending_review` lists (JSON)."""
        return {
            "id": self.id,
            "region_code": self.region_code,
            "fund": self.fund,
            "month": self.month,
            "status": self.status,
            "text": self.text(lang),
        }


def note_text(reviews: Sequence[Review], lang: str = "zh", *, held: bool = True) -> str:
    """The note a decision carries while months it reads are pending review."""
    ids = (
        "、".join(f"#{r.id}" for r in reviews)
        if lang == "zh"
        else ", ".join(f"#{r.id}" for r in reviews)
    )
    first = reviews[0]
    more = len(reviews) - 1
    if lang == "zh":
        text = f"{review_word('zh')}（{ids}）：{first.text('zh')}" + (
            f"，另有 {more} 个月" if more else ""
        )
        text += "；级别按现有数据计算"
        if held:
            text += "，由此引起的预警邮件在核实前暂缓发送"
        return text + "（确认无误：fundmon ledger confirm；有误：更正后重新导入）"
    text = f"{review_word('en')} ({ids}): {first.text('en')}" + (
        f", and {more} more month(s)" if more else ""
    )
    text += "; the level is computed on the figures as they are"
    if held:
        text += ", and alert mail it causes waits for review"
    return text + " (correct: fundmon ledger confirm; wrong: re-import the corrected file)"


# ---------------------------------------------------------------- the test
def _lagged(values: np.ndarray, width: int) -> np.ndarray:
    """[i, t, :] = values[i, t−width … t−1] (NaN before the start): a view, no copy."""
    n = values.shape[0]
    padded = np.concatenate([np.full((n, width), np.nan), values], axis=1)
    return sliding_window_view(padded, width, axis=1)[:, : values.shape[1]]


def _median(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median over the last axis ignoring NaN, and how many values it had (NaN when none).
    A sort puts NaN last, so the middle of the finite values is read by index: several
    times faster than np.nanmedian, which masks."""
    ordered = np.sort(values, axis=-1)
    count = np.sum(np.isfinite(values), axis=-1)
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0)[..., None] // 2, axis=-1)
    high = np.take_along_axis(ordered, (count // 2)[..., None], axis=-1)
    middle = (low[..., 0] + high[..., 0]) / 2
    return np.where(count > 0, middle, np.nan), count


def _robust_z(
    values: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Robust z of values[rows, cols] against the WINDOW values before each; and the median
    it is measured from. NaN where the window holds fewer than MIN_WINDOW values."""
    window = _lagged(values, WINDOW)[rows, cols]  # (targets, WINDOW), a copy
    centre, count = _median(window)
    spread = 1.4826 * _median(np.abs(window - centre[:, None]))[0]
    z = (values[rows, cols] - centre) / np.maximum(spread, LOG_FLOOR)
    z[count < MIN_WINDOW] = np.nan
    return z, centre


def _judge(
    amounts: np.ndarray, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(z, expected amount) for the cells (rows, cols) of a series × month matrix; z is NaN
    where the month is not judged, 0 where the two tests point opposite ways."""
    logs = np.full(amounts.shape, np.nan)
    positive = amounts > 0
    logs[positive] = np.log(amounts[positive])
    level, count = _median(_lagged(logs, SEASON))
    level[count < SEASON * 3 // 4] = np.nan
    deviation = logs - level
    before = np.full(logs.shape, np.nan)
    before[:, SEASON:] = logs[:, :-SEASON]
    seasonal = logs - before
    z_level, c_level = _robust_z(deviation, rows, cols)
    z_season, c_season = _robust_z(seasonal, rows, cols)
    agree = np.sign(z_level) == np.sign(z_season)
    use_level = np.abs(z_level) <= np.abs(z_season)
    z = np.where(use_level, z_level, z_season)
    z = np.where(agree | np.isnan(z_level) | np.isnan(z_season), z, 0.0)
    expected_log = np.where(use_level, level[rows, cols] + c_level, before[rows, cols] + c_season)
    return z, np.exp(expected_log)


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques)


def aberrant_months(
    series: pd.DataFrame, *, z: float, columns: Sequence[str] = AMOUNTS
) -> list[Aberration]:
    """The aberrant amounts of the incoming months (see the module docstring).

    `series`: region_code, fund, month ('YYYY-MM'), the amount columns (fen) and a boolean
    `incoming`, for whole series (stored + incoming); only incoming months among their
    series' latest RECENT months are judged. `z` ≤ 0: nothing is flagged.
    """
    if z <= 0 or series.empty or not series["incoming"].any():
        return []
    # factorised first: a million rows hold a few thousand series and a hundred months
    region, _ = _codes(series["region_code"])
    fund, funds = _codes(series["fund"])
    key = region * len(funds) + fund
    month_code, month_text = _codes(series["month"].astype(str))
    month = np.array([int(m[:4]) * 12 + int(m[5:7]) - 1 for m in month_text])[month_code]
    last = np.full(int(key.max()) + 1, np.iinfo(np.int64).min)
    np.maximum.at(last, key, month)
    target = series["incoming"].to_numpy(dtype=bool) & (month > last[key] - RECENT)
    if not target.any():
        return []
    # only the series with a month to judge, and only the months their windows reach
    lo = int(month[target].min()) - WINDOW - SEASON
    judged_keys = np.unique(key[target])
    wanted = np.isin(key, judged_keys) & (month >= lo)
    rows = np.searchsorted(judged_keys, key[wanted])
    cols = month[wanted] - lo
    width = int(cols.max()) + 1
    judged = target[wanted]
    frame = series[wanted]
    found: list[Aberration] = []
    for column in columns:
        amounts = np.full((len(judged_keys), width), np.nan)
        amounts[rows, cols] = frame[column].to_numpy(dtype="float64")
        with np.errstate(invalid="ignore"):  # NaN windows: not judged, said by the NaN
            z_score, expected = _judge(amounts, rows[judged], cols[judged])
        hit = np.flatnonzero(np.abs(np.nan_to_num(z_score)) >= z)
        picked = frame[judged].iloc[hit]
        for (_, r), zz, ex in zip(picked.iterrows(), z_score[hit], expected[hit], strict=True):
            found.append(
                Aberration(
                    str(r["region_code"]),
                    str(r["fund"]),
                    str(r["month"]),
                    column,
                    int(r[column]),
                    round(float(ex)),
                    float(zz),
                )
            )
    found.sort(key=lambda a: (a.region_code, a.fund, a.month, AMOUNTS.index(a.column)))
    return found


def aberrant_findings(series: pd.DataFrame, *, z: float) -> list[AberrantMonth]:
    """One import warning (code `aberrant`) per month flagged 待核实, located like the other
    warnings (file, sheet, row when `series` carries them)."""
    found = _by_month(aberrant_months(series, z=z))
    if not found:
        return []
    where = series.set_index(["region_code", "fund", "month"])
    out: list[AberrantMonth] = []
    for key, items in found.items():
        region, fund, month = key
        row = where.loc[key]
        if isinstance(row, pd.DataFrame):  # stored and incoming both: the incoming one
            row = row[row["incoming"]].iloc[-1]
        first = items[0]
        parts = "；".join(a.short("zh") for a in items)
        out.append(
            AberrantMonth(
                "warning",
                CODE,
                f"{region} {month} 与本序列近期规律相差过大：{parts}，已标记为{review_word()}；"
                "级别照常计算，由此引起的预警邮件在核实前暂缓发送（数据无误："
                f"fundmon ledger confirm --region {region} --fund {fund} --month {month}；"
                "有误：更正后重新导入）",
                file=_text(row.get("file")),
                sheet=_text(row.get("sheet")),
                row=_row(row.get("row")),
                column=first.column,
                value=yuan_grouped(first.value),
                expected=f"约 {yuan_grouped(first.expected)} 元（稳健 z 值绝对值小于 {z:g}）",
                region_code=region,
                fund=fund,
                month=month,
                aberrations=tuple(items),
            )
        )
    return out


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _row(value: object) -> int | None:
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


def _by_month(items: Iterable[Aberration]) -> dict[tuple[str, str, str], list[Aberration]]:
    out: dict[tuple[str, str, str], list[Aberration]] = {}
    for a in items:
        out.setdefault((a.region_code, a.fund, a.month), []).append(a)
    return out


# ---------------------------------------------------------------- which results a review touches
def month_reads(review_month: str, evaluated: str) -> bool:
    """Whether a level evaluated at `evaluated` reads the month under review: the month
    itself and the 11 after it (payable months read 12 months of expenditure)."""
    a, b = _number(review_month), _number(evaluated)
    return 0 <= b - a < RECENT


def _number(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def reviews_by_fund(
    reviews: Iterable[Review], parent_of: Mapping[str, str | None]
) -> dict[tuple[str, str], list[Review]]:
    """Per (region, fund): the reviews of its own months and of every region below it (a
    roll-up sums its children's months, a wrong one included)."""
    out: dict[tuple[str, str], list[Review]] = {}
    for review in reviews:
        code: str | None = review.region_code
        seen: set[str] = set()
        while code is not None and code not in seen:
            seen.add(code)
            out.setdefault((code, review.fund), []).append(review)
            code = parent_of.get(code)
    return out
