"""The service on simulated time, for tests and benchmarks/soak.py.

    python -m monitor.service.sim --config C --start 2024-01-01T00:00 --until 2025-03-01T00:00 \
        --arrivals DIR

Files in the arrivals folder are named `<local time YYYYmmddTHHMM>__<name>`; each is moved
into `[ingest] watch_dir` as `<name>` once the simulated clock passes its time, the way a
month's ledger reaches the office a few days after the month closes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import signal
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.config.service import ingest_settings
from monitor.service.daemon import SimulatedClock, SimulatedService
from monitor.service.log import setup_logging


class Feeder:
    """Drops each arrival into the watched folder when its time has come."""

    def __init__(self, arrivals: Path, watch_dir: Path, zone: ZoneInfo) -> None:
        self.arrivals, self.watch_dir, self.zone = arrivals, watch_dir, zone

    def __call__(self, now: dt.datetime) -> None:
        for path in sorted(self.arrivals.glob("*__*")):
            stamp, _, name = path.name.partition("__")
            when = dt.datetime.strptime(stamp, "%Y%m%dT%H%M").replace(tzinfo=self.zone)
            if when <= now:
                self.watch_dir.mkdir(parents=True, exist_ok=True)
                os.replace(path, self.watch_dir / name)  # a rename: never a half-written file


def arrival_name(when: dt.datetime, name: str) -> str:
    return f"{when:%Y%m%dT%H%M}__{name}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", required=True)
    p.add_argument("--db")
    p.add_argument("--start", required=True, help="local time in [schedule] timezone")
    p.add_argument("--until", required=True)
    p.add_argument("--arrivals")
    args = p.parse_args(argv)
    setup_logging(logging.INFO)
    clock = SimulatedClock(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    service = SimulatedService(args.config, args.db, clock=clock)
    zone = service.settings.schedule.timezone
    clock.now = dt.datetime.fromisoformat(args.start).replace(tzinfo=zone)
    until = dt.datetime.fromisoformat(args.until).replace(tzinfo=zone)
    feeder = None
    if args.arrivals:
        watch = ingest_settings(service.settings.config).watch_dir
        assert watch is not None, "[ingest] watch_dir is needed with --arrivals"
        feeder = Feeder(Path(args.arrivals), watch, zone)
    signal.signal(signal.SIGTERM, lambda *_: service.stopping.set())
    service.start()
    try:
        service.run_until(until, on_time=feeder)
    finally:
        service.stop()
    print(f"simulated-until {clock.now.isoformat()}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
