"""Evaluation results as a terminal table, JSON (DESIGN's shape) or CSV for Excel (pure)."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from typing import Any, TypedDict

import click
from tabulate import tabulate

from monitor.core import vocabulary as v
from monitor.core.evaluation import FundResult, ReplayFund, lead_times
from monitor.core.funds import FundCatalogue
from monitor.core.text_safety import safe_text, write_csv
from monitor.core.thresholds import Level, ThresholdProfile
from monitor.core.vocabulary import review_word


class _Style(TypedDict, total=False):  # click.style's keywords
    fg: str | int
    bold: bool


LEVEL_STYLE: dict[str, _Style] = {
    "red": {"fg": "red", "bold": True},
    "orange": {"fg": 208, "bold": True},
    "yellow": {"fg": "yellow"},
    "green": {"fg": "green"},
}


def level_text(level: str, lang: str, color: bool) -> str:
    word = v.level_label(level, lang)
    return click.style(word, **LEVEL_STYLE[level]) if color else word


def _p_depletion(result: FundResult) -> float | None:
    if not result.forecast:
        return None
    return result.forecast["depletion"].get("p12")


def _summary(result: FundResult, lang: str) -> str:
    d = result.decision
    parts = [r.text(lang) for r in d.reasons[:2]]
    if d.pending_review:  # the level stands on a month flagged at import: said first
        months = ", ".join(f"{r.region_code} {r.month}" for r in d.pending_review)
        parts.insert(
            0,
            f"{review_word(lang)}（{months}）"
            if lang == "zh"
            else f"{review_word(lang)} ({months})",
        )
    parts += [n.label(lang) for n in d.notices]
    return v.clause_separator(lang).join(parts)


def results_table(
    results: Sequence[FundResult], funds: FundCatalogue, *, lang: str = "zh", color: bool = False
) -> str:
    """A table whose text cells are escaped (safe_text): a name with a newline stays in its row."""
    rows = []
    order = {"red": 0, "orange": 1, "yellow": 2, "green": 3}
    for r in sorted(results, key=lambda r: (order[r.decision.level.value], r.region_code, r.fund)):
        rows.append(
            [
                safe_text(v.region_label(r.region_name, r.region_code, lang)),
                safe_text(v.fund_name(funds, r.fund, lang)),
                safe_text(r.month),
                level_text(r.decision.level.value, lang, color),  # our colour codes, kept
                v.payable(r.indicators.get("payable_months"), lang),
                v.probability(_p_depletion(r)),
                safe_text(_summary(r, lang)),
            ]
        )
    headers = (
        ["统筹区", "险种", "月份", "级别", "可支付月数", "12个月内耗尽概率", "原因与提示"]
        if lang == "zh"
        else [
            "region",
            "fund",
            "month",
            "level",
            "payable months",
            "P(depleted in 12m)",
            "reasons and notices",
        ]
    )
    return tabulate(rows, headers=headers, disable_numparse=True)


def results_json(results: Sequence[FundResult], lang: str = "zh") -> str:
    return json.dumps(
        [r.to_dict(lang) for r in results], ensure_ascii=False, indent=2, default=_json_default
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


CSV_INDICATORS = (
    "payable_months",
    "ytd_income",
    "ytd_expenditure",
    "ytd_surplus",
    "ytd_surplus_rate",
    "income_growth",
    "expenditure_growth",
    "growth_gap",
    "retiree_ratio",
)


# Decimals in CSV written for people, by the indicator's unit: amounts in yuan to the fen,
# months, percentages, points and ratios to two (one more than tables show, so a sort
# agrees with them), probabilities to three.
CSV_DIGITS = {"yuan": 2, "months": 2, "percent": 2, "pp": 2, "ratio": 2, "probability": 3}


def results_csv(results: Sequence[FundResult], lang: str = "zh") -> str:
    """One row per fund for Excel; names and reasons cannot run as formulas (safe_cell);
    numbers rounded to the digits of their unit (`CSV_DIGITS`)."""
    from monitor.core.indicators import INDICATORS

    digits = {k: CSV_DIGITS[INDICATORS[k].unit] for k in CSV_INDICATORS}
    digits |= {
        "forecast_payable_12": CSV_DIGITS["months"],
        "p_depletion_12": CSV_DIGITS["probability"],
    }
    header = [
        "region_code",
        "region_name",
        "fund",
        "month",
        "level",
        *CSV_INDICATORS,
        "forecast_payable_12",
        "p_depletion_12",
        "reasons",
        "notices",
    ]
    rows = []
    for r in results:
        fc = r.forecast or {}
        months = fc.get("months") or []
        payable12 = months[11]["payable_mean"] if len(months) >= 12 else None
        rows.append(
            [
                r.region_code,
                r.region_name,
                r.fund,
                r.month,
                r.decision.level.value,
                *(r.indicators.get(k) for k in CSV_INDICATORS),
                payable12,
                (fc.get("depletion") or {}).get("p12"),
                v.clause_separator(lang).join(x.text(lang) for x in r.decision.reasons),
                v.clause_separator(lang).join(n.label(lang) for n in r.decision.notices),
            ]
        )
    out = io.StringIO()
    write_csv(out, header, rows, digits=digits)
    return out.getvalue()


REPLAY_WORDS = {
    "zh": {
        "title": "回放 {start} 至 {end}：每个月只用截至当月的数据拟合预测并分级",
        "headers": (
            "统筹区", "险种", "颜色", "可支付月数阈值", "首次预警", "实际跌破", "提前量",
            "预警次数", "误报",
        ),
        "never_raised": "未预警", "never_crossed": "未跌破", "ahead": "提前 {n} 个月",
        "same": "当月", "late": "滞后 {n} 个月",
        "false": "误报：预警后 12 个月内可支付月数未跌破该颜色阈值的次数，合计 {n} 次。",
    },
    "en": {
        "title": "Replay {start} to {end}: each month forecast and classified on the data "
        "up to that month only",
        "headers": (
            "region", "fund", "level", "payable months threshold", "first alert", "crossed",
            "lead", "alerts", "false alarms",
        ),
        "never_raised": "no alert", "never_crossed": "not crossed", "ahead": "{n} months ahead",
        "same": "same month", "late": "{n} months late",
        "false": "False alarms: alerts after which payable months did not fall below that "
        "level's threshold within 12 months; {n} in all.",
    },
}  # fmt: skip


def replay_lines(
    funds_replayed: Sequence[ReplayFund],
    profile: ThresholdProfile,
    catalogue: FundCatalogue,
    *,
    start: str,
    end: str,
    lang: str = "zh",
) -> list[str]:
    w: dict[str, Any] = REPLAY_WORDS["zh" if lang == "zh" else "en"]
    lines = [w["title"].format(start=start, end=end), ""]
    rows = []
    total_false = 0
    for fund in funds_replayed:
        for row in lead_times(fund, profile):
            total_false += row["false_alarms"]
            if not row["first_raised"] and not row["crossed"]:
                continue
            rows.append(
                [
                    safe_text(v.region_label(fund.region_name, fund.region_code, lang)),
                    safe_text(v.fund_name(catalogue, fund.fund, lang)),
                    v.level_label(row["level"], lang),
                    f"< {row['threshold']:g}",
                    row["first_raised"] or w["never_raised"],
                    row["crossed"] or w["never_crossed"],
                    _lead(row["lead_months"], w),
                    row["raises"],
                    row["false_alarms"],
                ]
            )
    lines.append(tabulate(rows, headers=list(w["headers"]), disable_numparse=True))
    lines.append("")
    lines.append(w["false"].format(n=total_false))
    return lines


def _lead(lead: int | None, w: dict[str, Any]) -> str:
    if lead is None:
        return v.MISSING
    if lead == 0:
        return str(w["same"])
    return str((w["ahead"] if lead > 0 else w["late"]).format(n=abs(lead)))


def explain_lines(rows: Sequence[Any], lang: str = "zh") -> list[str]:
    table = []
    for r in rows:
        fires = {
            True: "触发" if lang == "zh" else "fires",
            False: "未触发" if lang == "zh" else "clear",
            None: "无法评估" if lang == "zh" else "n/a",
        }[r.fires]
        level = v.level_label(r.level if isinstance(r.level, Level) else "notice", lang)
        table.append([safe_text(r.rule_id), level, fires, safe_text(r.text(lang))])
    headers = (
        ["规则", "级别", "当前", "说明"]
        if lang == "zh"
        else ["rule", "level", "now", "explanation"]
    )
    return [tabulate(table, headers=headers, disable_numparse=True)]


def results_summary(
    results: Sequence[FundResult],
    funds: FundCatalogue,
    *,
    lang: str = "zh",
    color: bool = False,
    top: int = 20,
) -> str:
    """For many funds (a province, the country): counts per level and fund, then the `top`
    most severe funds (lowest payable months first within a level)."""
    levels = ("red", "orange", "yellow", "green")
    counts: dict[str, dict[str, int]] = {}
    for r in results:
        row = counts.setdefault(r.fund, dict.fromkeys(levels, 0))
        row[r.decision.level.value] += 1
    table = [
        [safe_text(v.fund_name(funds, f, lang))]
        + [str(c[lv]) for lv in levels]
        + [str(sum(c.values()))]
        for f, c in sorted(counts.items())
    ]
    head = "险种" if lang == "zh" else "fund"
    total = "合计" if lang == "zh" else "total"
    lines = [
        tabulate(
            table,
            headers=[head, *(level_text(lv, lang, color) for lv in levels), total],
            disable_numparse=True,
        )
    ]
    order = {lv: i for i, lv in enumerate(levels)}

    def severity(r: FundResult) -> tuple[int, float, str, str]:
        payable = r.indicators.get("payable_months")
        return (
            order[r.decision.level.value],
            payable if isinstance(payable, int | float) else float("inf"),
            r.region_code,
            r.fund,
        )

    worst = [r for r in sorted(results, key=severity) if r.decision.level.value != "green"]
    yellow = v.level_label("yellow", lang)
    if worst:
        lines.append("")
        lines.append(
            f"最严重的 {min(top, len(worst))} 个（共 {len(worst)} 个{yellow}及以上）："
            if lang == "zh"
            else f"The {min(top, len(worst))} most severe (of {len(worst)} at {yellow} or worse):"
        )
        lines.append(results_table(worst[:top], funds, lang=lang, color=color))
    return "\n".join(lines)
