"""Soak: a simulated year of the service's schedules, in minutes, with the watched folder and a
real SMTP server — is everything flat? Resident memory and open file descriptors of the service
process (and of its fork server) at start and end, and each job's latency, quarter by quarter.

    python benchmarks/soak.py                       # 2024, ingest twice a day, deliver twice
    python benchmarks/soak.py --ingest "0 * * * *"  # denser: hourly ingest (≈ 4× longer)

The demo city's history arrives on the first day, then each month's ledger on the 3rd of the
next month; alerts go to a local aiosmtpd; the bulletin is written (and mailed) on the 5th.
Steps run in processes of their own, so what must stay flat is the service process itself.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import pandas as pd
from service_helpers import monthly_arrivals, office_body, write_config
from smtp_server import SmtpServer

from monitor.demo.data import demo_city
from monitor.service.daemon import SimulatedClock, SimulatedService
from monitor.service.sim import Feeder
from monitor.service.steps import StepResult

ZONE = ZoneInfo("Asia/Shanghai")


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def fds(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def fork_server() -> int | None:
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().split()
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if int(stat[3]) == me and b"forkserver" in cmd:
                return int(pid)
    return None


class MeasuredService(SimulatedService):
    samples: list[dict[str, object]]

    def run_job(self, name: str) -> StepResult:
        t0 = time.perf_counter()
        result = super().run_job(name)
        seconds = time.perf_counter() - t0
        fs = fork_server()
        self.samples.append(
            {
                "at": self.clock.now,
                "job": name,
                "seconds": seconds,
                "busy": "导入文件 0 个" not in result.summary and name == "ingest",
                "outcome": result.outcome,
                "rss": rss_mb(),
                "fds": fds(),
                "fs_rss": rss_mb(fs) if fs else 0.0,
            }
        )
        return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", default="benchmarks/out/soak")
    p.add_argument("--year", type=int, default=2024)
    p.add_argument("--ingest", default="0 9,14 * * *")
    p.add_argument("--deliver", default="0 10,16 * * *")
    p.add_argument("--paths", type=int, default=200)
    args = p.parse_args()

    out = Path(args.out).resolve()
    if out.exists():
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True)
    server = SmtpServer(out / "smtp", count_only=True).start()
    write_config(
        out,
        f"sqlite:///{out / 'fundmon.db'}",
        office_body(server.port, ingest=args.ingest, deliver=args.deliver),
        paths=args.paths,
    )
    ledger = demo_city().ledger
    year = str(args.year)
    ledger = ledger[ledger["month"] < f"{year}-12"]
    monthly_arrivals(ledger, out / "arrivals", history_through=f"{args.year - 1}-12")

    start = dt.datetime(args.year, 1, 1, tzinfo=ZONE)
    end = dt.datetime(args.year + 1, 1, 1, tzinfo=ZONE)
    service = MeasuredService(str(out / "config.toml"), None, clock=SimulatedClock(start))
    service.samples = []
    feeder = Feeder(out / "arrivals", out / "inbox", ZONE)
    rss0, fds0 = rss_mb(), fds()
    t0 = time.perf_counter()
    service.start()
    try:
        service.run_until(end, on_time=feeder)
    finally:
        service.stop()
        server.stop()
    wall = time.perf_counter() - t0
    received = int((out / "smtp" / "count").read_text())  # written by the server as it stops

    df = pd.DataFrame(service.samples)
    df["quarter"] = [f"Q{(t.month - 1) // 3 + 1}" for t in df["at"]]
    print(
        f"simulated {start:%Y-%m-%d} → {end:%Y-%m-%d} in {wall:.0f} s of wall time; "
        f"{len(df)} job runs; {received} e-mails received by the SMTP server"
    )
    print(f"failed runs: {int((df['outcome'] != 'ok').sum())}")
    print()
    print(
        "quarter | runs | idle run median / p95 s | busy ingest median s | service RSS MB | "
        "open fds | fork server RSS MB"
    )
    print("---|---:|---:|---:|---:|---:|---:")
    for q, g in df.groupby("quarter"):
        idle = g[~g["busy"]]["seconds"]
        busy = g[g["busy"]]["seconds"]
        print(
            f"{q} | {len(g)} | {idle.median():.3f} / {idle.quantile(0.95):.3f} | "
            f"{(busy.median() if len(busy) else float('nan')):.1f} | {g['rss'].iloc[-1]:.0f} | "
            f"{g['fds'].iloc[-1]} | {g['fs_rss'].iloc[-1]:.0f}"
        )
    first, last = df.iloc[: len(df) // 10], df.iloc[-len(df) // 10 :]
    idle_first = statistics.median(first[~first["busy"]]["seconds"])
    idle_last = statistics.median(last[~last["busy"]]["seconds"])
    print()
    print(
        f"service RSS: before start {rss0:.0f} MB, after first run {df['rss'].iloc[0]:.0f} MB, "
        f"end {df['rss'].iloc[-1]:.0f} MB (end / first run = "
        f"{df['rss'].iloc[-1] / df['rss'].iloc[0]:.2f}×)"
    )
    print(
        f"open fds: before start {fds0}, after first run {df['fds'].iloc[0]}, "
        f"end {df['fds'].iloc[-1]} (max {df['fds'].max()})"
    )
    print(
        f"idle run latency, first tenth vs last tenth of the year: {idle_first:.3f} s vs "
        f"{idle_last:.3f} s ({idle_last / idle_first:.2f}×)"
    )


if __name__ == "__main__":
    main()
