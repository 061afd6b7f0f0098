"""How many months does the 待核实 check flag where nothing is wrong, what does it catch, and
what does it cost an import? (`monitor.core.aberrant`, `[import] aberrant_z`)

    python benchmarks/aberrant_months.py [--z 5 6 8] [--trials 400] [--no-country]

False holds: every month from a series' third year on is judged once, as if it had been
imported last (a month is judged on the months before it; an import judges its series'
latest 12), on the demo city, a synthetic province (1 × 12 × 8 counties × 3 funds,
2016–2024) and, unless --no-country, the synthetic country (31 × 11 × 8, 2015–2024, about a
million rows). Printed per threshold: flagged amounts (income, expenditure) of those judged.

Catches: `--trials` random series-months of the province, one expenditure multiplied by
×3, ×2, ×1.5, ×½ and ×⅓, judged with their history: the share flagged.

Cost: `aberrant_findings` on the country's million rows as a first import (every series'
latest year judged) and as one new month on top of the history, in this process.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

import numpy as np
import pandas as pd

from monitor.core.aberrant import aberrant_findings, aberrant_months
from monitor.demo.data import demo_city, synthetic_world

COLUMNS = ["region_code", "fund", "month", "income", "expenditure"]


def every_month(ledger: pd.DataFrame, z: float) -> Counter[str]:
    frame = ledger[COLUMNS]
    first, last = int(frame["month"].min()[:4]), int(frame["month"].max()[:4])
    found: Counter[str] = Counter()
    for year in range(first + 1, last + 1):
        part = frame[frame["month"] <= f"{year}-12"].assign(incoming=True)
        found.update(a.column for a in aberrant_months(part, z=z))
    return found


def judged(ledger: pd.DataFrame) -> int:
    first = int(ledger["month"].min()[:4])
    return int((ledger["month"] >= f"{first + 2}-01").sum())


def catches(ledger: pd.DataFrame, factor: float, z: float, trials: int, seed: int = 1) -> float:
    rng = np.random.default_rng(seed)
    keys = ledger[["region_code", "fund"]].drop_duplicates().to_numpy()
    months = sorted(ledger["month"].unique())[30:]
    hits = 0
    for _ in range(trials):
        code, fund = keys[rng.integers(len(keys))]
        month = months[rng.integers(len(months))]
        rows = ledger[
            (ledger["region_code"] == code) & (ledger["fund"] == fund) & (ledger["month"] <= month)
        ][COLUMNS].copy()
        at = rows["month"] == month
        rows.loc[at, "expenditure"] = (rows.loc[at, "expenditure"] * factor).round()
        hits += bool(aberrant_months(rows.assign(incoming=at), z=z))
    return hits / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--z", type=float, nargs="+", default=[5.0, 6.0, 8.0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--no-country", action="store_true")
    args = parser.parse_args()

    worlds = [("demo city", demo_city().ledger), ("province", synthetic_world(1, 12, 8).ledger)]
    if not args.no_country:
        country = synthetic_world(31, 11, 8, start="2015-01", end="2024-12").ledger
        worlds.append(("country", country))
    print("false holds: flagged amounts (income / expenditure) of the months judged")
    for name, ledger in worlds:
        n = judged(ledger)
        for z in args.z:
            t = time.perf_counter()
            found = every_month(ledger, z)
            print(
                f"  {name:<10} z ≥ {z:g}: {found['income']:>5} / {found['expenditure']:<5}"
                f" of {n:,} months × 2 amounts  ({time.perf_counter() - t:.1f} s)"
            )
    province = worlds[1][1]
    print(f"catches on the province, {args.trials} random months each (z ≥ 6):")
    for factor, label in ((3, "×3"), (2, "×2"), (1.5, "×1.5"), (0.5, "×½"), (1 / 3, "×⅓")):
        print(f"  {label:<5} {catches(province, factor, 6.0, args.trials):.0%}")
    if not args.no_country:
        rows = worlds[2][1][[*COLUMNS, "balance"]]
        for label, incoming in (
            ("first import (every series' latest year judged)", np.ones(len(rows), dtype=bool)),
            ("one new month on the history", (rows["month"] == rows["month"].max()).to_numpy()),
        ):
            frame = rows.assign(incoming=incoming)
            t = time.perf_counter()
            flagged = aberrant_findings(frame, z=6.0)
            print(
                f"cost, {len(rows):,} rows, {label}: {time.perf_counter() - t:.2f} s,"
                f" {len(flagged)} flagged"
            )


if __name__ == "__main__":
    main()
