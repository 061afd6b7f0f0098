"""National scale: the whole country's evaluation on this machine, beside its reference points.

    python benchmarks/scale.py [--scale national|province] [--subset 24] [--db URL] [--no-dask]

Builds the synthetic world (`fundmon demo --world …`'s generator; import not timed), then
prints side by side, in one run:

1. series per second: a naive single-process loop over statsmodels `ETSModel` (additive
   trend and season, fitted per series, no selection, no simulation) on a subset of funds,
   beside the pipeline's own forecast jobs (selection by backtests, calibration, 2000 joint
   paths) on the same funds in the local pool, and beside the whole evaluation;
2. the local process pool vs a Dask `LocalCluster` (2 workers, processes) on that subset,
   with a check that both give identical outlooks;
3. the full evaluation (load, forecast, simulate, classify, store) in a fresh process:
   seconds per stage and peak memory (PSS summed over the process and its workers);
4. incremental: one county's new month imported, then `evaluate_store(changed_only=True)` in a
   fresh process, beside the full run.

Each figure is printed as soon as it is measured (a national run takes long).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

NOW = dt.datetime(2025, 1, 20, 9, 0, tzinfo=dt.UTC)


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


class MemorySampler:
    """Peak memory of this process and every process under it (pool workers), sampled.

    ru_maxrss misleads here: Linux carries a parent's peak into a child across fork and exec
    (this process would report the benchmark's own 2 GB), and forked workers count pages
    they share with the parent. PSS (proportional set size) splits shared pages among the
    processes sharing them, so the sum over the process tree is the memory really in use."""

    def __init__(self, every: float = 0.5) -> None:
        import psutil  # installed with dask[distributed] (the test extra)

        self.me = psutil.Process()
        self.every = every
        self.total_mb = 0.0  # largest sum of PSS over this process and its descendants
        self.worker_mb = 0.0  # largest PSS of one descendant
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        total = 0.0
        for proc in [self.me, *self.me.children(recursive=True)]:
            try:
                pss = proc.memory_full_info().pss / 2**20
            except Exception:  # a worker that just ended
                continue
            total += pss
            if proc.pid != self.me.pid:
                self.worker_mb = max(self.worker_mb, pss)
        self.total_mb = max(self.total_mb, total)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def _own_peak_mb() -> float:
    """This process's own peak RSS (VmHWM: since its exec, unlike ru_maxrss)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return _peak_mb(resource.RUSAGE_SELF)


def say(line: str = "") -> None:
    print(line, flush=True)


# ---------------------------------------------------------------- measured in a fresh process
def measure_evaluate(url: str, changed_only: bool, executor: str) -> dict[str, object]:
    from monitor.config.compute import ComputeSettings
    from monitor.config.settings import Config
    from monitor.notify.outbox import queue_alerts
    from monitor.pipeline.evaluate import evaluate_store
    from monitor.store.db import open_store

    config = Config(store_url=url)
    engine = open_store(url)
    compute = ComputeSettings(executor=executor, scheduler="local" if executor == "dask" else "")
    with MemorySampler() as memory, engine.begin() as conn:
        run = evaluate_store(
            conn, config, now=NOW, changed_only=changed_only, progress=False, compute=compute
        )
        results = run.results
        queue_alerts(conn, results, config=config, profile=run.profile, now=NOW)
    engine.dispose()
    out = {k: v for k, v in vars(run.timings).items() if k != "extra"}
    out["results"] = len(results)
    out["peak_mb"] = _own_peak_mb()
    out["worker_peak_mb"] = memory.worker_mb
    out["total_mb"] = memory.total_mb
    return out


def measure_plan(url: str) -> dict[str, object]:
    """What every run pays before forecasting: read, roll up, index, hash, compare."""
    from monitor.pipeline.evaluate import _plan, _stored_index, load_inputs
    from monitor.store.db import open_store

    engine = open_store(url)
    t = time.perf_counter()
    with engine.connect() as conn:
        inputs = load_inputs(conn)
        load = time.perf_counter() - t
        stored = _stored_index(conn)
        plan = _plan(inputs, stored, None, changed_only=True)
    engine.dispose()
    return {
        "load": load,
        "plan": time.perf_counter() - t - load,
        "funds": len(inputs.spans),
        "planned": len(plan),
        "peak_mb": _own_peak_mb(),
    }


def seed_evaluations(url: str) -> int:
    """Stored evaluations for every fund at its latest month without forecasting them all
    (the full national run takes longer than an incremental measurement should wait for):
    one fund is evaluated for real and its row copied to every other fund with that fund's
    own data hash, which is all `changed_only` compares. Returns the rows stored."""
    from monitor.config.settings import Config
    from monitor.pipeline.evaluate import (
        _classify_fund,
        _job,
        _mark_evaluated,
        _Writer,
        forecast_fund,
        load_inputs,
        pending_imports,
        profile_label,
    )
    from monitor.store.db import open_store

    config = Config(store_url=url)
    profile = config.load_profile()
    label = profile_label(profile)  # what evaluate_store stores
    engine = open_store(url)
    with engine.begin() as conn:
        inputs = load_inputs(conn)
        keys = inputs.series()
        inputs.prepare_hashes(keys)
        first = keys[0]
        month = inputs.last_month(first)
        inputs.prepare_current([first])
        job = _job(inputs, first, [month], profile, config)
        assert job is not None
        got = forecast_fund(job)
        (template, _), *_ = _classify_fund(inputs, first, [month], got.by_month, {}, profile, label)
        writer = _Writer(conn, profile=label, now=NOW)
        from dataclasses import replace

        for key in keys:
            last = inputs.last_month(key)
            state = replace(template.state, region=key[0], fund=key[1], month=last)
            writer.add(
                replace(
                    template,
                    region_code=key[0],
                    fund=key[1],
                    month=last,
                    state=state,
                    data_hash=inputs.data_hash(key, last),
                ),
                None,
            )
        writer.flush()
        _mark_evaluated(conn, pending_imports(conn), NOW)  # as the full run would
    engine.dispose()
    return len(keys)


def _in_fresh_process(*args: str) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"measurement failed: {' '.join(args)}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- world and store
def build_store(scale: str, url: str, out: Path) -> tuple[object, float]:
    from monitor.config.settings import Config
    from monitor.demo.data import synthetic_world
    from monitor.demo.files import write_canonical_csv
    from monitor.demo.run import WORLD_END, WORLD_START, WORLDS, store_regions
    from monitor.ledger.importer import import_files
    from monitor.store.db import open_store

    t = time.perf_counter()
    world = synthetic_world(*WORLDS[scale], start=WORLD_START, end=WORLD_END)
    path = write_canonical_csv(world.ledger, out / f"{scale}.csv")
    engine = open_store(url, auto_upgrade=True)
    store_regions(engine, world.regions)
    import_files(engine, [path], config=Config(store_url=url), unit="元", now=NOW, user="bench")
    engine.dispose()
    return world, time.perf_counter() - t


def new_month_for_one_county(world: object, url: str, out: Path) -> str:
    """The next month (2025-01) of the first county, all its funds: a plausible continuation
    (last year's same month grown 5 %), imported as an office would."""
    import pandas as pd

    from monitor.config.settings import Config
    from monitor.demo.files import write_canonical_csv
    from monitor.ledger.importer import import_files
    from monitor.store.db import open_store

    ledger = world.ledger  # type: ignore[attr-defined]
    county = str(ledger["region_code"].iloc[0])
    mine = ledger[ledger["region_code"] == county]
    last = mine[mine["month"] == mine["month"].max()]
    year_ago = mine[mine["month"] == "2024-01"].set_index("fund")
    rows = []
    for r in last.itertuples():
        income = int(year_ago.loc[r.fund, "income"] * 1.05)
        expenditure = int(year_ago.loc[r.fund, "expenditure"] * 1.05)
        rows.append(
            {
                **{c: getattr(r, c) for c in ("region_code", "region_name", "parent_code", "fund")},
                "month": "2025-01",
                "income": income,
                "expenditure": expenditure,
                "balance": int(r.balance) + income - expenditure,
            }
        )
    path = write_canonical_csv(pd.DataFrame(rows), out / "new_month.csv")
    engine = open_store(url)
    import_files(engine, [path], config=Config(store_url=url), unit="元", now=NOW, user="bench")
    engine.dispose()
    return county


# ---------------------------------------------------------------- subset comparisons
def subset_jobs(url: str, n_funds: int) -> list[object]:
    from monitor.config.settings import Config
    from monitor.pipeline.evaluate import _job, load_inputs
    from monitor.store.db import open_store

    config = Config(store_url=url)
    profile = config.load_profile()
    engine = open_store(url)
    with engine.connect() as conn:
        inputs = load_inputs(conn)
    engine.dispose()
    keys = inputs.series()
    step = max(1, len(keys) // n_funds)
    picked = keys[::step][:n_funds]  # counties, cities and provinces, every fund
    jobs = [_job(inputs, k, [inputs.last_month(k)], profile, config) for k in picked]
    return [j for j in jobs if j is not None]


def naive_ets(jobs: list[object]) -> tuple[float, int]:
    """statsmodels ETSModel per series (additive trend and season), fit + 24-month forecast."""
    import warnings

    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    n = 0
    t = time.perf_counter()
    for job in jobs:
        index = pd.PeriodIndex(job.history_months, freq="M")  # type: ignore[attr-defined]
        for col in (0, 1):
            y = pd.Series(job.fen[:, col] / 100.0, index=index)  # type: ignore[attr-defined]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = ETSModel(
                    y, error="add", trend="add", seasonal="add", seasonal_periods=12
                ).fit(disp=False)
                fit.forecast(24)
            n += 1
    return time.perf_counter() - t, n


def pipeline_jobs(jobs: list[object], executor: str) -> tuple[float, dict[object, object]]:
    from monitor.config.compute import ComputeSettings
    from monitor.pipeline.compute import run_tasks
    from monitor.pipeline.evaluate import forecast_fund

    settings = ComputeSettings(executor=executor, scheduler="local" if executor == "dask" else "")
    t = time.perf_counter()
    got = {r.key: r.by_month for r in run_tasks(forecast_fund, jobs, settings)}
    return time.perf_counter() - t, got


def _norm(value: object) -> object:
    if isinstance(value, dict):
        return sorted((repr(k), _norm(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return [_norm(v) for v in value]
    return repr(value)


def _same(a: dict[object, object], b: dict[object, object]) -> bool:
    return _norm(a) == _norm(b)


# ---------------------------------------------------------------- main
def full_run(url: str) -> dict[str, object]:
    # 3: the full evaluation
    full = _in_fresh_process("--measure", "evaluate", "--url", url)
    say("")
    say(f"## full evaluation: {full['funds']:,} funds, {full['forecasts']:,} forecasts")
    say("| stage | seconds |")
    say("| --- | ---: |")
    for name, key in (
        ("load (read ledger, roll up, index)", "load"),
        ("plan (hashes, stored states, indicators)", "plan"),
        ("forecast + simulate, wall (workers)", "forecast_wall"),
        ("  of which fitting, summed over workers", "forecast_cpu"),
        ("  of which simulating, summed over workers", "simulate_cpu"),
        ("classify (this process, overlapping the workers)", "classify"),
        ("store (this process, overlapping the workers)", "store"),
        ("**total**", "total"),
    ):
        say(f"| {name} | {float(full[key]):.1f} |")  # type: ignore[arg-type]
    say(
        f"peak memory: {float(full['total_mb']):,.0f} MB all processes (PSS sum), "  # type: ignore[arg-type]
        f"main process {float(full['peak_mb']):,.0f} MB (VmHWM), "  # type: ignore[arg-type]
        f"largest worker {float(full['worker_peak_mb']):,.0f} MB (PSS)"
    )  # type: ignore[arg-type]
    say(
        f"pipeline series/s over the whole evaluation: "
        f"{2 * int(full['funds']) / float(full['total']):.2f}"
    )  # type: ignore[arg-type]

    return full


def incremental(world: object, url: str, out: Path, full: dict[str, object] | None) -> None:
    county = new_month_for_one_county(world, url, out)
    inc = _in_fresh_process("--measure", "evaluate", "--url", url, "--changed-only")
    say("")
    say(f"## incremental: county {county} reports 2025-01 (3 funds)")
    say("| run | ledger rows read | funds evaluated | seconds | peak MB, all processes |")
    say("| --- | ---: | ---: | ---: | ---: |")
    if full is not None:
        say(
            f"| full | {full['rows']:,} | {full['funds']:,} | {float(full['total']):.1f} | "  # type: ignore[arg-type]
            f"{float(full['total_mb']):,.0f} |"  # type: ignore[arg-type]
        )
    say(
        f"| --changed-only | {inc['rows']:,} | {inc['funds']} | {float(inc['total']):.1f} | "  # type: ignore[arg-type]
        f"{float(inc['total_mb']):,.0f} |"
    )  # type: ignore[arg-type]
    say(
        f"  (load {float(inc['load']):.1f} s, plan {float(inc['plan']):.1f} s, "  # type: ignore[arg-type]
        f"forecast {float(inc['forecast_wall']):.1f} s)"
    )  # type: ignore[arg-type]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", choices=["national", "province"], default="national")
    ap.add_argument("--subset", type=int, default=24, help="funds in the subset comparisons")
    ap.add_argument("--db", help="a PostgreSQL URL (an empty schema); default: SQLite in a tmp dir")
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--measure", choices=["evaluate", "plan"], help=argparse.SUPPRESS)
    ap.add_argument("--no-full", action="store_true", help="skip the full evaluation")
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--changed-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--executor", default="local", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure == "plan":
        print(json.dumps(measure_plan(args.url)))
        return
    if args.measure:
        print(json.dumps(measure_evaluate(args.url, args.changed_only, args.executor)))
        return

    out = Path(tempfile.mkdtemp(prefix="fundmon-scale-"))
    url = args.db or f"sqlite:///{out / 'scale.db'}"
    say(f"# fund-risk-monitor scale benchmark — {args.scale}, {os.cpu_count()} cores")
    say(f"# started {dt.datetime.now():%Y-%m-%d %H:%M}, store {url.split('@')[-1]}")
    world, seconds = build_store(args.scale, url, out)
    ledger = world.ledger  # type: ignore[attr-defined]
    say(
        f"world: {ledger['region_code'].nunique()} county ledgers × {ledger['fund'].nunique()} "
        f"funds, {len(ledger):,} rows; generate + import {seconds:.0f} s (not counted below)"
    )

    # 1–2: subset comparisons
    jobs = subset_jobs(url, args.subset)
    n_series = 2 * len(jobs)
    naive_s, naive_n = naive_ets(jobs)
    pool_s, pool_out = pipeline_jobs(jobs, "local")
    say("")
    say(f"## series per second, subset of {len(jobs)} funds ({n_series} series)")
    say("| what | seconds | series/s |")
    say("| --- | ---: | ---: |")
    say(
        f"| naive ETSModel loop, 1 process (fit + forecast only) | {naive_s:.1f} | "
        f"{naive_n / naive_s:.2f} |"
    )
    say(
        f"| pipeline forecast jobs, local pool (select + calibrate + 2000 paths) | "
        f"{pool_s:.1f} | {n_series / pool_s:.2f} |"
    )
    if not args.no_dask:
        dask_s, dask_out = pipeline_jobs(jobs, "dask")
        say(
            f"| pipeline forecast jobs, Dask LocalCluster 2 workers (incl. start-up) | "
            f"{dask_s:.1f} | {n_series / dask_s:.2f} |"
        )
        say(f"identical outlooks, local pool vs Dask: {_same(pool_out, dask_out)}")

    plan = _in_fresh_process("--measure", "plan", "--url", url)
    say("")
    say(
        f"## every run's fixed cost: read {plan['funds']:,} funds, roll up, index, hash, "
        f"compare with the stored evaluations"
    )
    say(
        f"load {float(plan['load']):.1f} s, plan {float(plan['plan']):.1f} s, "  # type: ignore[arg-type]
        f"peak RSS {float(plan['peak_mb']):,.0f} MB"
    )  # type: ignore[arg-type]

    full = None
    if args.no_full:
        # what the incremental run compares with, without the long full run
        say(f"seeded stored evaluations: {seed_evaluations(url):,} rows (see seed_evaluations)")
    else:
        full = full_run(url)
    incremental(world, url, out, full)
    say(f"# finished {dt.datetime.now():%Y-%m-%d %H:%M}")


if __name__ == "__main__":
    main()
