"""What the unit check (`monitor.ledger.scale`) costs an import, with it and without it.

    python benchmarks/unit_check.py [--provinces 31 --cities 11 --counties 8] [--repeat 3]

Two imports of the synthetic country (about 1 million rows, as benchmarks/import_ledger.py):
- "first": the whole CSV into an empty SQLite store (no history: only the within-file check);
- "monthly": its last month into a store already holding every earlier month (the level and
  boundary checks against three years of history, as a monthly file is checked).
Each measurement runs in a fresh subprocess; the variants alternate so load hits them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(kind: str, path: str, history: str, check: bool) -> dict[str, float]:
    import datetime as dt

    import monitor.ledger.importer as importer
    from monitor.config.settings import Config
    from monitor.ledger.files import read_ledger_file
    from monitor.ledger.importer import apply_import, import_files, plan_import
    from monitor.ledger.validate import validate_tables
    from monitor.store.db import open_store, transaction

    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    config = Config(store_url=url)
    engine = open_store(url, auto_upgrade=True)
    now = dt.datetime.now(dt.UTC)
    if kind == "monthly":  # the history, not timed
        import_files(engine, [history], config=config, unit="元", now=now)
    if not check:
        importer.scale_findings = lambda *a, **k: []  # type: ignore[assignment]
    t0 = time.perf_counter()
    tables = read_ledger_file(path)
    with transaction(engine) as conn:
        valid = validate_tables(tables, catalogue=config.funds, unit="元", now=now)
        t = time.perf_counter()
        plan = plan_import(conn, valid, config)
        planned = time.perf_counter() - t
        apply_import(
            conn, plan, kind="file", source=path, checksum="-", user="bench", now=now,
            config=config,
        )  # fmt: skip
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "plan": planned, "rows": len(valid.rows), "peak_mb": peak}


def _run(kind: str, path: Path, history: Path, check: bool) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", kind, str(path), str(history), str(int(check))],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        sys.exit(f"measuring {kind} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provinces", type=int, default=31)
    parser.add_argument("--cities", type=int, default=11)
    parser.add_argument("--counties", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["first", "monthly"], help="one of the two imports")
    parser.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        kind, path, history, check = args.measure
        print(json.dumps(measure(kind, path, history, check == "1")))
        return

    from monitor.core.columns import BASIC
    from monitor.demo.data import synthetic_world
    from monitor.demo.files import write_canonical_csv

    workdir = Path(os.environ.get("BENCH_DIR", tempfile.mkdtemp(prefix="fundmon-unit-")))
    workdir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    world = synthetic_world(
        args.provinces, args.cities, args.counties, start="2015-01", end="2024-12"
    )
    ledger = world.ledger[list(BASIC)]
    whole = write_canonical_csv(ledger, workdir / "ledger.csv")
    history = write_canonical_csv(ledger[ledger["month"] < "2024-12"], workdir / "history.csv")
    last = write_canonical_csv(ledger[ledger["month"] == "2024-12"], workdir / "2024-12.csv")
    print(f"generated {len(ledger):,} rows in {time.perf_counter() - t:.1f} s in {workdir}")
    print()
    head = f"{'import':<8} {'check':<6} {'seconds (each run)':<34} {'median':>7} {'plan':>7}"
    print(f"{head} {'peak MB':>8}")
    for kind, path in (("first", whole), ("monthly", last)):
        if args.only and kind != args.only:
            continue
        runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
        for _ in range(args.repeat):
            for check in (True, False):
                runs[check].append(_run(kind, path, history, check))
        for check in (True, False):
            each = " ".join(f"{r['seconds']:.2f}" for r in runs[check])
            median = statistics.median(r["seconds"] for r in runs[check])
            plan = statistics.median(r["plan"] for r in runs[check])
            peak = max(r["peak_mb"] for r in runs[check])
            print(
                f"{kind:<8} {'on' if check else 'off':<6} {each:<34} {median:>7.2f} {plan:>7.2f}"
                f" {peak:>8.0f}"
            )


if __name__ == "__main__":
    main()
