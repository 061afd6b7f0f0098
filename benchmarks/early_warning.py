"""How early do the warnings come, and how often are they wrong? Forecast rules vs current values.

    python benchmarks/early_warning.py [--start 2020-07] [--end 2024-12] [--paths 500]

On the demo city and on a synthetic province of 100 county funds (50 counties × employee and
resident, with injected drift, shocks and recoveries; plus their roll-ups), replays the
evaluation month by month — forecasts fitted only on data up to each month — once with the
national profile and once with its current-value rules only (the baseline, no forecasts).
Prints, side by side: breaches (payable months falling below 6, the orange threshold, and
below 3, the red one, after a month above it), the median lead time of the warning before
the breach — the colour whose forecast rule targets that threshold: yellow for < 6, orange
for < 3, held without a break up to the breach —, the share of breaches warned at least 3
months ahead, and false alarms per fund-year (a warning raised that no breach followed
within 12 months; raises with less than 12 months of data after them are not judged).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from monitor.config.settings import Config, ForecastSettings
from monitor.core.evaluation import ReplayFund
from monitor.core.months import month_index
from monitor.core.thresholds import Level, ThresholdProfile, default_profile
from monitor.demo.data import demo_city, synthetic_world
from monitor.demo.files import write_canonical_csv
from monitor.ledger.importer import import_files
from monitor.pipeline.evaluate import replay
from monitor.store.db import open_store


def _m(month: str) -> int:
    return int(month_index(pd.Series([month]))[0])


def current_only(profile: ThresholdProfile) -> ThresholdProfile:
    rules = tuple(
        r for r in profile.rules if not any(c.name.startswith("forecast.") for c in r.conditions())
    )
    return dataclasses.replace(profile, rules=rules, name=f"{profile.name}-current-only")


# A breach below T is warned by the colour whose forecast rule targets T in the national
# profile: P(payable < 6 within 12) raises yellow, P(payable < 3 within 12) raises orange.
TARGETS = ((6.0, Level.YELLOW), (3.0, Level.ORANGE))


def score(funds: list[ReplayFund], threshold: float, warn: Level, end: str) -> dict[str, float]:
    """Lead times of the warnings before each breach, and the warnings no breach followed."""
    leads, false_alarms, fund_years = [], 0, 0.0
    last = _m(end)
    for fund in funds:
        months = [d.month for d in fund.decisions]
        if len(months) < 2:
            continue
        fund_years += len(months) / 12
        warned = [d.level >= warn for d in fund.decisions]
        below = [fund.payable.get(m, float("inf")) < threshold for m in months]
        # the first breach in the window: below the threshold after a month above it
        crossing = next((i for i in range(1, len(months)) if below[i] and not below[i - 1]), None)
        if crossing is not None:
            start = crossing
            while start > 0 and warned[start - 1]:  # the warning episode leading to it
                start -= 1
            leads.append(crossing - start if warned[start] else 0)
        for i in range(1, len(months)):
            judged = _m(months[i]) + 12 <= last
            if warned[i] and not warned[i - 1] and judged and not any(below[i : i + 13]):
                false_alarms += 1
    return {
        "breaches": len(leads),
        "median_lead": statistics.median(leads) if leads else float("nan"),
        "share_3m": sum(lead >= 3 for lead in leads) / len(leads) if leads else float("nan"),
        "false_per_fund_year": false_alarms / fund_years if fund_years else float("nan"),
    }


def build_store(ledger: pd.DataFrame, workdir: Path, name: str) -> str:
    url = f"sqlite:///{workdir / f'{name}.db'}"
    engine = open_store(url)
    path = write_canonical_csv(ledger, workdir / f"{name}.csv")
    import_files(
        engine,
        [path],
        config=Config(store_url=url),
        unit="元",
        now=dt.datetime.now(dt.UTC),
        user="bench",
    )
    engine.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2020-07")
    parser.add_argument("--end", default="2024-12")
    parser.add_argument("--paths", type=int, default=500)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--worlds", default="city,province")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fundmon-ew-"))
    profile = default_profile()
    baseline = current_only(profile)
    worlds = {
        "city": lambda: demo_city().ledger,
        "province": lambda: synthetic_world(1, 5, 10, funds=("employee", "resident")).ledger,
    }
    print(f"replay {args.start}..{args.end}, {args.paths} paths, forecasts 12 months ahead")
    print(
        f"{'world':<9} {'method':<16} {'breach':<14} {'breaches':>8} {'median lead':>11} "
        f"{'≥3 months':>9} {'false/fund-yr':>13} {'seconds':>8}"
    )
    for name in args.worlds.split(","):
        url = build_store(worlds[name](), workdir, name)
        engine = open_store(url)
        for method, prof, forecasts in (
            ("forecast rules", profile, True),
            ("current only", baseline, False),
        ):
            config = Config(
                store_url=url,
                forecast=ForecastSettings(horizon=12, paths=args.paths, workers=args.workers),
            )
            t = time.perf_counter()
            with engine.connect() as conn:
                funds = replay(
                    conn,
                    config=config,
                    profile=prof,
                    start=args.start,
                    end=args.end,
                    progress=False,
                    use_forecasts=forecasts,
                )
            seconds = time.perf_counter() - t
            for threshold, warn in TARGETS:
                s = score(funds, threshold, warn, args.end)
                label = f"<{threshold:g} by {warn.value}"
                print(
                    f"{name:<9} {method:<16} {label:<14} {s['breaches']:>8} "
                    f"{s['median_lead']:>11.1f} {s['share_3m']:>9.0%} "
                    f"{s['false_per_fund_year']:>13.3f} {seconds:>8.0f}"
                )
        engine.dispose()


if __name__ == "__main__":
    main()
