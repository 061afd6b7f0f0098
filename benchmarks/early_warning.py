"""How early do the warnings come, and how often are they wrong? Forecast rules vs current values.

    python benchmarks/early_warning.py [--start 2020-07] [--end 2024-12] [--paths 500]

On the demo city and on a synthetic province of 100 county funds (50 counties × employee and
resident, with injected drift, shocks and recoveries; plus their roll-ups), replays the
evaluation month by month — forecasts fitted only on data up to each month — once with the
national profile and once with its current-value rules only (the baseline, no forecasts).
Prints, side by side: breaches of the orange (< 6 months) and red (< 3 months) thresholds,
the median lead time of the warning of that colour before the breach, the share of breaches
warned at least 3 months ahead, and false alarms per fund-year (a raise of that colour that
the data did not confirm within 12 months; raises with less than 12 months of data after
them are not judged).
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

from monitor.config import Config, ForecastSettings
from monitor.demo_data import demo_city, synthetic_world
from monitor.demo_files import write_canonical_csv
from monitor.evaluate import ReplayFund, current_thresholds, replay
from monitor.ledger_import import import_files
from monitor.months import month_from_index, month_index
from monitor.store import open_store
from monitor.thresholds import Level, ThresholdProfile, default_profile


def _m(month: str) -> int:
    return int(month_index(pd.Series([month]))[0])


def current_only(profile: ThresholdProfile) -> ThresholdProfile:
    rules = tuple(
        r for r in profile.rules if not any(c.name.startswith("forecast.") for c in r.conditions())
    )
    return dataclasses.replace(profile, rules=rules, name=f"{profile.name}-current-only")


def score(
    funds: list[ReplayFund], profile: ThresholdProfile, level: Level, start: str, end: str
) -> dict[str, float]:
    threshold = current_thresholds(profile)[level]
    leads, false_alarms, fund_years = [], 0, 0.0
    last = _m(end)
    for fund in funds:
        months = [d.month for d in fund.decisions]
        if not months:
            continue
        fund_years += len(months) / 12
        levels = [d.level for d in fund.decisions]
        payable = fund.payable
        below = sorted(m for m, v in payable.items() if v < threshold)
        # a breach: the first month in the window below the threshold, after a month above it
        crossing = next(
            (
                m
                for m in below
                if m > months[0]
                and payable.get(month_from_index(_m(m) - 1), threshold) >= threshold
            ),
            None,
        )
        if crossing:
            warned = next(
                (m for m, lv in zip(months, levels, strict=True) if lv >= level and m <= crossing),
                None,
            )
            leads.append(_m(crossing) - _m(warned) if warned else 0)
        for i, lv in enumerate(levels):
            raised = lv >= level and (i == 0 or levels[i - 1] < level)
            if not raised or _m(months[i]) + 12 > last:
                continue
            window = [month_from_index(_m(months[i]) + k) for k in range(13)]
            if not any(payable.get(m, threshold) < threshold for m in window):
                false_alarms += 1
    return {
        "breaches": len(leads),
        "median_lead": statistics.median(leads) if leads else float("nan"),
        "share_3m": sum(lead >= 3 for lead in leads) / len(leads) if leads else float("nan"),
        "false_per_fund_year": false_alarms / fund_years if fund_years else float("nan"),
        "fund_years": fund_years,
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
        f"{'world':<9} {'method':<16} {'colour':<7} {'breaches':>8} {'median lead':>11} "
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
            for level in (Level.ORANGE, Level.RED):
                s = score(funds, profile, level, args.start, args.end)
                print(
                    f"{name:<9} {method:<16} {level.value:<7} {s['breaches']:>8} "
                    f"{s['median_lead']:>11.1f} {s['share_3m']:>9.0%} "
                    f"{s['false_per_fund_year']:>13.3f} {seconds:>8.0f}"
                )
        engine.dispose()


if __name__ == "__main__":
    main()
