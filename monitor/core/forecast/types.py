"""What the forecast engine hands to the simulation, the CLI and later the classifier.

Pure value objects: numpy arrays in the series' own units (yuan for ledgers, anything for
`fundmon forecast --input`), months as 'YYYY-MM' (quarters as 'YYYYQn' for a quarterly series).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Accuracy:
    """Rolling-origin backtest of the chosen method on the series' own recent past."""

    mase: float  # mean absolute scaled error (seasonal naive in-sample scale, m = season)
    smape: float  # symmetric MAPE in percent, as in the M competitions (0–200)
    coverage80: float  # share of backtest outcomes inside the calibrated 80 % band (0–1)
    coverage95: float
    origins: int  # how many forecast origins the backtest used
    horizon: int  # the longest horizon scored


@dataclass(frozen=True)
class SeriesForecast:
    series_id: str
    last_month: str  # the last observed month, 'YYYY-MM'; forecasts start the month after
    mean: np.ndarray  # (h,) point forecast
    # calibrated bands: level (e.g. 80, 95) → (lower (h,), upper (h,))
    bands: dict[int, tuple[np.ndarray, np.ndarray]]
    sigma: np.ndarray  # (h,) calibrated standard deviation of the error at each horizon
    model: str  # the method chosen, e.g. "ets(A,Ad,M)" or "mean(ets,theta)"
    accuracy: Accuracy | None  # None when the series was too short to backtest
    notes: tuple[str, ...] = ()  # fallbacks and failures, in Chinese, for the analyst
    # Backtest errors (actual − forecast), one row per rolling origin, NaN beyond the data:
    # the simulation reads the horizon structure and, aligned by origin month across two
    # series, their correlation.
    error_paths: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    error_origins: tuple[str, ...] = ()
    # In-sample one-step residuals indexed by month ('YYYY-MM'), for cross-series correlation.
    residuals: pd.Series = field(default_factory=lambda: pd.Series(dtype="float64"))
    # "M" (periods 'YYYY-MM') or "Q" (quarters 'YYYYQn', last_month then holds a quarter)
    freq: str = "M"
    # the fallback used for a short or odd series (a key of vocabulary.FALLBACK_NOTES), or ""
    fallback: str = ""

    @property
    def horizon(self) -> int:
        return len(self.mean)

    def months(self) -> list[str]:
        start = pd.Period(self.last_month, freq=self.freq) + 1
        return [str(start + i) for i in range(self.horizon)]
