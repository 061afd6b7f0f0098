"""Indicators computed from ledger months (pure, vectorised over every series at once)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitor.months import month_index

KEYS = ["region_code", "fund"]
WINDOW = 12


def payable_months(ledger: pd.DataFrame) -> pd.DataFrame:
    """累计结余可支付月数 = closing balance ÷ (expenditure of the 12 months ending at t ÷ 12).

    With fewer than 12 months in the window (short history, or gaps), the mean of the
    months that exist is used and `short_history` is True. Returns the input's keys with
    `payable_months`, `window_months` and `short_history`.
    """
    df = ledger[[*KEYS, "month", "expenditure", "balance"]].copy()
    df["_m"] = month_index(df["month"])
    df = df.sort_values([*KEYS, "_m"]).reset_index(drop=True)
    # cumulative sums over each series, indexed by month number, give 12-month windows
    # that respect gaps: window = rows with m in (t-11 .. t).
    group = df.groupby(KEYS, sort=False).ngroup().to_numpy()
    m = df["_m"].to_numpy()
    exp = df["expenditure"].to_numpy(dtype="float64")
    csum = np.cumsum(exp)
    cnt = np.arange(1, len(df) + 1)
    # position of the first row of the window: within the same group and m > t - 12
    key = group.astype("int64") * 10_000_000 + m
    start = np.searchsorted(key, key - WINDOW + 1, side="left")
    window_sum = csum - np.where(start > 0, csum[start - 1], 0.0)
    window_n = cnt - np.where(start > 0, cnt[start - 1], 0)
    mean_exp = window_sum / window_n
    with np.errstate(divide="ignore", invalid="ignore"):
        payable = np.where(mean_exp > 0, df["balance"].to_numpy(dtype="float64") / mean_exp, np.nan)
    return pd.DataFrame(
        {
            "region_code": df["region_code"],
            "fund": df["fund"],
            "month": df["month"],
            "payable_months": payable,
            "window_months": window_n,
            "short_history": window_n < WINDOW,
        }
    )
