"""Tasks for tests/test_compute_failures.py, importable by name in pool and Dask workers."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from monitor.pipeline.evaluate import (
    forecast_fund as real_forecast_fund,  # before a test replaces it
)


def double_or_die(item: int, *, die_on: frozenset[int], spare_pid: int) -> int:
    """`item * 2`, except that an item in `die_on` SIGKILLs its own process, as the OOM
    killer would. `spare_pid` (the test process) is never killed: a task run in-process
    raises instead of ending pytest."""
    time.sleep(0.01)  # long enough that several chunks are in flight together
    if item in die_on:
        if os.getpid() == spare_pid:
            raise RuntimeError(f"item {item} would kill the test process itself")
        os.kill(os.getpid(), signal.SIGKILL)
    return item * 2


def forecast_or_die(job: Any, *, doomed: tuple[str, str], spare_pid: int) -> Any:
    """The evaluation's own forecast, except that the fund `doomed` SIGKILLs its worker."""
    if job.key == doomed:
        if os.getpid() == spare_pid:
            raise RuntimeError(f"{doomed} would kill the test process itself")
        os.kill(os.getpid(), signal.SIGKILL)
    return real_forecast_fund(job)


def slow_double(item: int) -> int:
    """`item * 2` after a second: the pool stays busy while a test kills its owner."""
    time.sleep(1)
    return item * 2
