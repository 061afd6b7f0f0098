"""What an evaluation yields, as plain data: one fund's result at a month (its level decision,
indicators, forecast and state) and a fund replayed month by month, with the lead times that
a replay is judged by. Made by `monitor.pipeline.evaluate`; read by every output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from monitor.core.classify import Decision, State
from monitor.core.months import month_from_index, month_index
from monitor.core.thresholds import ThresholdProfile, current_thresholds


@dataclass(frozen=True)
class FundResult:
    region_code: str
    region_name: str
    fund: str
    month: str
    decision: Decision
    indicators: dict[str, Any]
    forecast: dict[str, Any] | None
    state: State
    data_hash: str

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        d = self.decision.to_dict(lang)
        return {
            "region_code": self.region_code,
            "region_name": self.region_name,
            "fund": self.fund,
            "month": self.month,
            "level": d["level"],
            "previous_level": d["previous_level"],
            "data_missing": d["data_missing"],
            "notices": d["notices"],
            "indicators": self.indicators,
            "forecast": self.forecast,
            "reasons": d["reasons"],
            "notes": d["notes"],
            "pending_review": d["pending_review"],
        }


@dataclass(frozen=True)
class ReplayFund:
    region_code: str
    region_name: str
    fund: str
    decisions: list[Decision]
    payable: dict[str, float]  # month → payable months (current)


def _replayed_month(fund: ReplayFund, decision: Decision) -> str:
    # a replay classifies named months, so its decisions always carry theirs
    if decision.month is None:
        raise ValueError(f"{fund.region_code} {fund.fund}: a replayed decision without a month")
    return decision.month


def lead_times(
    fund: ReplayFund, profile: ThresholdProfile, *, confirm_within: int = 12
) -> list[dict[str, Any]]:
    """Per colour: first month raised, first month payable months actually crossed that
    colour's current threshold, the lead time, and false alarms (a raise the data did not
    confirm within `confirm_within` months)."""
    rows = []
    levels = [d.level for d in fund.decisions]
    months = [_replayed_month(fund, d) for d in fund.decisions]
    payable_months = sorted(fund.payable)
    for level, threshold in sorted(current_thresholds(profile).items(), key=lambda x: x[0].rank):
        raised = [
            i for i, lv in enumerate(levels) if lv >= level and (i == 0 or levels[i - 1] < level)
        ]
        crossed = next(
            (
                m
                for m in payable_months
                if m >= (months[0] if months else "") and fund.payable[m] < threshold
            ),
            None,
        )
        false_alarms = 0
        for i in raised:
            horizon_end = month_from_index(
                int(month_index(pd.Series([months[i]]))[0]) + confirm_within
            )
            if not any(
                months[i] <= m <= horizon_end and fund.payable[m] < threshold
                for m in payable_months
            ):
                false_alarms += 1
        first = months[raised[0]] if raised else None
        lead = None
        if first and crossed:
            lead = int(month_index(pd.Series([crossed]))[0] - month_index(pd.Series([first]))[0])
        rows.append(
            {
                "level": level,
                "threshold": threshold,
                "first_raised": first,
                "crossed": crossed,
                "lead_months": lead,
                "raises": len(raised),
                "false_alarms": false_alarms,
            }
        )
    return rows
