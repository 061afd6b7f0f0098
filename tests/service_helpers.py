"""Running `fundmon run` (and the simulated-time driver) as real processes in tests."""

from __future__ import annotations

import datetime as dt
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd

from monitor.demo.files import write_canonical_csv
from monitor.service.sim import arrival_name

CLI = [sys.executable, "-c", "from monitor.cli.app import main; main()"]
SIM = [sys.executable, "-m", "monitor.service.sim"]


def write_config(
    folder: Path, store_url: str, body: str = "", *, paths: int = 200, horizon: int = 24
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(
        f'[store]\nurl = "{store_url}"\n[import]\nunit = "元"\n'
        f"[forecast]\npaths = {paths}\nhorizon = {horizon}\nworkers = 1\n" + body,
        encoding="utf-8",
    )
    return path


def office_body(smtp_port: int, *, ingest: str, deliver: str) -> str:
    """An office's service settings: the watched folder, the schedule, routes, SMTP."""
    return f"""
[ingest]
watch_dir = "inbox"
settle = "0s"  # files arrive by rename, and a real-time wait would be weeks of simulated time
[schedule]
ingest = "{ingest}"
deliver = "{deliver}"
bulletin = "0 8 5 * *"
[bulletin]
archive = "bulletins"
to = ["局领导 <leaders@example.org>"]
[[alerts.routes]]
levels = ["yellow", "orange", "red"]
to = ["基金科 <jijinke@example.org>"]
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
sender = "fundmon@example.org"
"""


class Proc:
    """A child process whose stderr lines are collected as they come."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.p = subprocess.Popen(
            args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.lines: list[str] = []
        self._q: queue.Queue[str] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, args=(stream,), daemon=True)
            for stream in (self.p.stderr, self.p.stdout)
        ]
        for t in self._readers:
            t.start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line.rstrip("\n"))
            self._q.put(line)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first line (seen so far or to come) matching `pattern`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if m := rx.search(line):
                    return m
            seen = len(self.lines)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r} in {timeout}s:\n" + self.log())
            try:
                self._q.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.p.poll() is not None and self._q.empty():
                    time.sleep(0.2)
                    if not any(rx.search(x) for x in self.lines[seen:]):
                        raise AssertionError(
                            f"exited {self.p.returncode} before {pattern!r}:\n" + self.log()
                        ) from None

    def signal(self, sig: int) -> None:
        self.p.send_signal(sig)

    def wait(self, timeout: float) -> int:
        code = self.p.wait(timeout)
        self._close()
        return code

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(10)
        self._close()

    def _close(self) -> None:
        """Read to the end (children of a killed process may still hold the pipes a moment)."""
        for t in self._readers:
            t.join(15)
        for stream in (self.p.stdout, self.p.stderr):
            if stream and not stream.closed:
                stream.close()

    def log(self) -> str:
        return "\n".join(self.lines[-60:])


def monthly_arrivals(ledger: pd.DataFrame, arrivals: Path, *, history_through: str) -> list[str]:
    """The ledger as the office receives it: history up to `history_through` at once, then
    each month's file on the 3rd of the next month at 14:00. Returns the months."""
    arrivals.mkdir(parents=True, exist_ok=True)
    first = pd.Period(history_through, "M") + 1
    write_canonical_csv(
        ledger[ledger["month"] <= history_through],
        arrivals / arrival_name(dt.datetime(first.year, first.month, 1, 0, 0), "history.csv"),
    )
    months = sorted(m for m in ledger["month"].unique() if m > history_through)
    for m in months:
        nxt = pd.Period(m, "M") + 1
        write_canonical_csv(
            ledger[ledger["month"] == m],
            arrivals / arrival_name(dt.datetime(nxt.year, nxt.month, 3, 14, 0), f"{m}.csv"),
        )
    return [history_through, *months]
