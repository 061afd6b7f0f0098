"""Cost of refusing hostile text and out-of-range months on a ~1 million-row CSV import.

    python benchmarks/import_text_check.py [--repeat 3] [--baseline REV] [--provinces 31 …]

The same CSV is imported (read + validate + plan + store into a new SQLite file), each time in
a fresh process, alternating:
- "check on": this tree as it is;
- "check off": this tree with the text screening replaced by the blank-cell pass it replaced
  and the month range check skipped;
- with --baseline REV, also the code of that git revision (`git archive`), e.g. the commit
  before the check, so "no slower than before" is measured in the same run.
Printed: the median seconds of the whole import and of its validate stage, and peak RSS.
Then validation alone, on and off alternating in one process on the same tables, which
takes process start-up and page-cache noise out of the difference.
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

REPO = Path(__file__).resolve().parent.parent


def _check_off() -> None:
    """Replace the screening by the pre-check pass: blank cells → missing, nothing else."""
    import pandas as pd

    from monitor.ledger import cell_text
    from monitor.ledger import validate as ledger_validate

    def blank_only(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, object]]:
        frame = frame.copy()
        for column in ledger_validate.TEXT_COLUMNS:
            if column in frame and not pd.api.types.is_numeric_dtype(frame[column].dtype):
                uniques = pd.unique(frame[column].dropna().to_numpy(dtype=object))
                blanks = [u for u in uniques if isinstance(u, str) and not u.strip()]
                if blanks:
                    frame[column] = frame[column].where(~frame[column].isin(blanks))
        return frame, {}

    ledger_validate._screen_text = blank_only  # type: ignore[assignment]
    ledger_validate._months_in_range = lambda months, *_: months  # type: ignore[assignment]
    cell_text.clean = str.strip  # type: ignore[assignment]


def measure(path: str, mode: str) -> dict[str, float]:
    import datetime as dt
    import inspect

    if mode == "off":
        _check_off()
    from monitor.config.settings import Config
    from monitor.ledger.files import read_ledger_file
    from monitor.ledger.importer import apply_import, plan_import
    from monitor.ledger.validate import validate_tables
    from monitor.store.db import open_store, transaction

    now = dt.datetime(2025, 1, 20, 9, 0, tzinfo=dt.UTC)
    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    config = Config(store_url=url)
    engine = open_store(url, auto_upgrade=True)
    clock = {"now": now} if "now" in inspect.signature(validate_tables).parameters else {}
    t0 = time.perf_counter()
    tables = read_ledger_file(path)
    t = time.perf_counter()
    with transaction(engine) as conn:
        valid = validate_tables(tables, catalogue=config.funds, unit="元", **clock)
        validate = time.perf_counter() - t
        plan = plan_import(conn, valid, config)
        apply_import(
            conn,
            plan,
            kind="file",
            source=path,
            checksum="-",
            user="bench",
            now=now,
            config=config,
        )
    return {
        "seconds": time.perf_counter() - t0,
        "validate": validate,
        "rows": len(valid.rows),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def validate_ab(path: str, repeat: int) -> dict[str, list[float]]:
    """Seconds of validate_tables with the check on and off, alternating, in this process."""
    import datetime as dt
    import gc

    from monitor.config.settings import Config
    from monitor.ledger import cell_text
    from monitor.ledger import validate as ledger_validate
    from monitor.ledger.files import read_ledger_file

    on = (ledger_validate._screen_text, ledger_validate._months_in_range, cell_text.clean)
    _check_off()
    off = (ledger_validate._screen_text, ledger_validate._months_in_range, cell_text.clean)
    tables = read_ledger_file(path)
    catalogue = Config(store_url="sqlite://").funds
    now = dt.datetime(2025, 1, 20, 9, 0, tzinfo=dt.UTC)
    seconds: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(repeat):
        for name, fns in (("on", on), ("off", off)):
            ledger_validate._screen_text, ledger_validate._months_in_range, cell_text.clean = fns
            gc.collect()
            t = time.perf_counter()
            ledger_validate.validate_tables(tables, catalogue=catalogue, unit="元", now=now)
            seconds[name].append(time.perf_counter() - t)
    return seconds


def _run(path: Path, mode: str, tree: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--measure", mode, str(path)],
        env=env,
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def export_revision(rev: str, into: Path) -> Path:
    """The tree of git revision `rev` (`git archive`), for a measurement of its code: a
    benchmark runs itself with PYTHONPATH set to the tree (benchmarks/import_ledger.py
    --baseline uses it too)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev], check=True, capture_output=True
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provinces", type=int, default=31)
    parser.add_argument("--cities", type=int, default=11)
    parser.add_argument("--counties", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", metavar="REV", help="also time this git revision's code")
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        mode, path = args.measure
        result = validate_ab(path, args.repeat) if mode == "ab" else measure(path, mode)
        print(json.dumps(result))
        return

    from monitor.core.columns import BASIC
    from monitor.demo.data import synthetic_world
    from monitor.demo.files import write_canonical_csv

    workdir = Path(tempfile.mkdtemp(prefix="fundmon-textcheck-"))
    world = synthetic_world(
        args.provinces, args.cities, args.counties, start="2015-01", end="2024-12"
    )
    csv_path = write_canonical_csv(world.ledger[list(BASIC)], workdir / "ledger.csv")
    print(f"{len(world.ledger):,} rows, {csv_path.stat().st_size / 1e6:.0f} MB CSV in {workdir}")
    runs: list[tuple[str, str, Path]] = [("check on", "on", REPO), ("check off", "off", REPO)]
    if args.baseline:
        tree = export_revision(args.baseline, workdir / "baseline")
        runs.append((f"baseline {args.baseline}", "on", tree))
    results: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in runs}
    for _ in range(args.repeat):  # alternating, so drifting load hits each alike
        for label, mode, tree in runs:
            results[label].append(_run(csv_path, mode, tree))

    print(f"\n{'what':<22} {'rows':>10} {'import s':>9} {'validate s':>11} {'peak MB':>8}")
    for label, items in results.items():
        print(
            f"{label:<22} {int(items[0]['rows']):>10,} "
            f"{statistics.median(r['seconds'] for r in items):>9.2f} "
            f"{statistics.median(r['validate'] for r in items):>11.2f} "
            f"{max(r['peak_mb'] for r in items):>8.0f}"
        )
    print(f"(medians of {args.repeat} runs each, alternating; load {os.getloadavg()[0]:.1f})")
    ab = subprocess.run(
        [sys.executable, __file__, "--measure", "ab", str(csv_path), "--repeat", "6"],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = json.loads(ab.stdout.strip().splitlines()[-1])
    print("\nvalidate_tables alone, one process, on/off alternating 6 times each:")
    for name in ("on", "off"):
        runs_s = " ".join(f"{s:.2f}" for s in seconds[name])
        print(f"  check {name:<3} median {statistics.median(seconds[name]):.3f} s  ({runs_s})")


if __name__ == "__main__":
    main()
