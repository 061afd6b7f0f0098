"""A worker process that dies (OOM killer, a crashing C extension) must not abort a run: with
`run_tasks(..., lost=...)` its item comes back as lost and every other item as usual. Real
processes are killed with SIGKILL; nothing is mocked."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from functools import partial

import pytest
from compute_tasks import double_or_die

from monitor.config.compute import ComputeSettings
from monitor.pipeline.compute import LOST_REASON, run_tasks

ITEMS = list(range(40))  # chunks of 4, a window of 6 chunks: several rounds of submissions


def lost(item: int, reason: str) -> tuple[int, str]:
    return item, reason


def run(settings: ComputeSettings, die_on: set[int]) -> tuple[list[int], dict[int, str]]:
    """Results (sorted, duplicates kept) and {lost item: reason}."""
    task = partial(double_or_die, die_on=frozenset(die_on), spare_pid=os.getpid())
    results: list[int] = []
    lost_items: dict[int, str] = {}
    for got in run_tasks(task, ITEMS, settings, lost=lost):
        if isinstance(got, tuple):
            assert got[0] not in lost_items, f"{got[0]} lost twice"
            lost_items[got[0]] = got[1]
        else:
            results.append(got)
    return sorted(results), lost_items


def expected(die_on: set[int]) -> list[int]:
    return [i * 2 for i in ITEMS if i not in die_on]


@pytest.fixture(autouse=True)
def _no_stray_processes() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 10  # a closing cluster takes a moment to reap its workers
    while (children := multiprocessing.active_children()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not children, f"processes left running: {children}"


LOCAL = ComputeSettings(workers=2, chunk=4)


def test_a_killed_pool_worker_loses_only_its_item() -> None:
    results, lost_items = run(LOCAL, {13})
    assert results == expected({13})  # each other item exactly once
    assert list(lost_items) == [13]
    assert lost_items[13].startswith(LOST_REASON)
    assert "SIGKILL" in lost_items[13]


@pytest.mark.parametrize(
    "die_on", [{5, 30}, {8, 9}], ids=["in different chunks", "in the same chunk"]
)
def test_two_killing_items_are_both_lost_and_the_run_goes_on(die_on: set[int]) -> None:
    results, lost_items = run(LOCAL, die_on)
    assert results == expected(die_on)
    assert set(lost_items) == die_on


def test_without_lost_a_dead_pool_worker_still_raises() -> None:
    task = partial(double_or_die, die_on=frozenset({13}), spare_pid=os.getpid())
    with pytest.raises(BrokenProcessPool):
        list(run_tasks(task, ITEMS, LOCAL))


def test_a_killed_dask_worker_loses_only_its_item() -> None:
    pytest.importorskip("distributed", reason="dask[distributed] 未安装（pip install '.[dask]'）")
    results, lost_items = run(ComputeSettings(executor="dask", scheduler="local", workers=2), {13})
    assert results == expected({13})
    assert list(lost_items) == [13]
    assert lost_items[13].startswith(LOST_REASON)
