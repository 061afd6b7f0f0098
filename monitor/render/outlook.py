"""A fund's outlook in words and tables for the terminal, and as JSON (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from tabulate import tabulate

from monitor.core.forecast.simulate import FundOutlook
from monitor.core.forecast.types import SeriesForecast
from monitor.core.money import format_amount
from monitor.core.text_safety import safe_text
from monitor.core.vocabulary import (
    FORECAST_CENTER,
    decimal,
    depletion_month,
    depletion_spans,
    forecast_center_label,
    model_text,
    payable,
    payable_band,
    percent,
    probability,
)


def accuracy_text(forecast: SeriesForecast) -> str:
    a = forecast.accuracy
    if a is None:
        return f"模型 {model_text(forecast.model)}（序列过短，未回测）"
    return (
        f"模型 {model_text(forecast.model)}；近 {a.horizon} 个月滚动回测（{a.origins} 个起点）："
        f"MASE {decimal(a.mase, 2)}，sMAPE {percent(a.smape)}，"
        f"80% 区间覆盖 {probability(a.coverage80)}，95% 区间覆盖 {probability(a.coverage95)}"
    )


def outlook_lines(
    outlook: FundOutlook,
    income: SeriesForecast,
    expenditure: SeriesForecast,
    history: pd.DataFrame,
    *,
    title: str,
    notes: Sequence[str] = (),
) -> list[str]:
    last = history.iloc[-1]
    window = history["expenditure"].tail(12)
    months_now = last["balance"] / window.mean() if window.mean() > 0 else float("nan")
    title = safe_text(title)  # names a region from the store
    lines = [
        f"{title}：截至 {last['month']}，期末累计结余 {format_amount(last['balance'])}，"
        f"可支付月数 {payable(months_now)}",
        f"收入预测：{accuracy_text(income)}",
        f"支出预测：{accuracy_text(expenditure)}",
        "",
    ]
    rows = []
    center = forecast_center_label()  # the value every output shows, by the same name
    for r in outlook.monthly.to_dict("records"):
        rows.append(
            [
                r["month"],
                format_amount(r["income_mean"], "万元"),
                format_amount(r["expenditure_mean"], "万元"),
                format_amount(r[FORECAST_CENTER["balance"]]),
                f"{format_amount(r['balance_lo80'])} ～ {format_amount(r['balance_hi80'])}",
                payable(r[FORECAST_CENTER["payable"]]),
                payable_band(r["payable_lo80"], r["payable_hi80"]),
                probability(r["p_depleted"]),
            ]
        )
    lines.append(
        tabulate(
            rows,
            headers=[
                "月份",
                "收入",
                "支出",
                f"期末结余（{center}）",
                "结余 80% 区间",
                f"可支付月数（{center}）",
                "80% 区间",
                "已耗尽概率",
            ],
            disable_numparse=True,
            colalign=("left", *["right"] * 7),
        )
    )
    lines.append("")
    probs = outlook.prob_below.pivot(index="threshold", columns="window", values="probability")
    lines.append("可支付月数跌破阈值（至少一个月）的概率：")
    lines.append(
        tabulate(
            [
                [f"{t:g} 个月", *(probability(probs.loc[t, w]) for w in probs.columns)]
                for t in probs.index
            ],
            headers=["阈值", *(f"{w} 个月内" for w in probs.columns)],
            disable_numparse=True,
            colalign=("left", *["right"] * len(probs.columns)),
        )
    )
    # the expected month is read over the horizon: beside its probability, when above 0
    month = depletion_month(outlook.depletion)
    spans = depletion_spans(outlook.depletion, outlook.monthly.shape[0])
    lines.append(
        "基金耗尽（结余 < 0）的概率："
        + "，".join(f"{w} 个月内 {probability(p)}" for w, p in spans)
        + (f"；若耗尽，预计在 {month}" if month else "")
    )
    y = outlook.ytd_deficit
    if y["mean_path_month"] or y["probability"] > 0:
        lines.append(
            f"当年累计收不抵支：预测期内出现的概率 {probability(y['probability'])}"
            + (f"，中位月份 {y['median_month']}" if y["median_month"] else "")
            + (f"；按期望路径首次出现于 {y['mean_path_month']}" if y["mean_path_month"] else "")
        )
    else:
        lines.append("当年累计收不抵支：预测期内不太可能出现")
    lines.append(f"（{outlook.n_paths} 条联合模拟路径，随机种子 {outlook.seed}）")
    labelled = [
        *notes,
        *(f"收入：{n}" for n in income.notes),
        *(f"支出：{n}" for n in expenditure.notes),
        *outlook.notes,
    ]
    for note in labelled:  # notes may quote a series id from the user's file
        lines.append(safe_text(f"说明：{note}"))
    return lines


def _accuracy_json(forecast: SeriesForecast) -> dict[str, Any]:
    a = forecast.accuracy
    return {
        "model": forecast.model,
        "backtest": None
        if a is None
        else {
            "mase": a.mase,
            "smape": a.smape,
            "coverage80": a.coverage80,
            "coverage95": a.coverage95,
            "origins": a.origins,
            "horizon": a.horizon,
        },
        "notes": list(forecast.notes),
        "fallback": forecast.fallback,  # short, sparse, leading_zeros, recent_break; "" for none
    }


def outlook_json(
    outlook: FundOutlook,
    income: SeriesForecast,
    expenditure: SeriesForecast,
    history: pd.DataFrame,
    *,
    region: str,
    fund: str,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    monthly = outlook.monthly.astype(object).where(outlook.monthly.notna(), None)
    return {
        "region_code": region,
        "fund": fund,
        "last_month": history["month"].iloc[-1],
        "months": monthly.to_dict("records"),
        "prob_below": outlook.prob_below.to_dict("records"),
        "depletion": outlook.depletion,
        "ytd_deficit": outlook.ytd_deficit,
        "income": _accuracy_json(income),
        "expenditure": _accuracy_json(expenditure),
        "n_paths": outlook.n_paths,
        "seed": outlook.seed,
        "notes": [*notes, *outlook.notes],
    }
