"""Processes that outlive their owner, and two services on one store (issue 13, items 8 and 9).

Real `fundmon` processes are killed with SIGKILL (or stopped with SIGTERM) while their pool
workers are busy; every process their tree held just before is then looked up in /proc by
pid and start time. Nothing may survive a short grace.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from process_tree import Descendant, collect_until, kill_all, survivors
from service_helpers import CLI, Proc, write_config

from monitor.cli.app import main
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv

TESTS = Path(__file__).resolve().parent
GRACE = 10  # seconds for orphans to notice; they normally go within milliseconds
LOCAL_POOL = "[compute]\nworkers = 2\n"
DASK_POOL = '[compute]\nexecutor = "dask"\nscheduler = "local"\nworkers = 2\n'
QUIET_SCHEDULE = '[schedule]\ningest = "0 9 * * *"\ndeliver = ""\nbulletin = ""\n'


@pytest.fixture
def city_store(tmp_path: Path) -> str:
    """The demo city imported into SQLite: 40-odd funds, enough to keep two workers busy."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    csv = tmp_path / "city.csv"
    write_canonical_csv(demo_city().ledger, csv)
    result = CliRunner().invoke(main, ["--db", url, "import", str(csv), "--unit", "元"])
    assert result.exit_code == 0, result.output
    return url


def _assert_nothing_left(seen: set[Descendant], what: str) -> None:
    left = survivors(seen, GRACE)
    assert not left, f"{what} left running:\n" + "\n".join(sorted(map(str, left)))


# ---------------------------------------------------------------- item 8: pool workers
@pytest.mark.parametrize(
    ("compute", "workers"),
    [(LOCAL_POOL, 2), (DASK_POOL, 3)],  # Dask: two workers and multiprocessing's tracker
    ids=["local pool", "dask LocalCluster"],
)
def test_kill_9_of_evaluate_leaves_no_worker_behind(
    tmp_path: Path, city_store: str, compute: str, workers: int
) -> None:
    if "dask" in compute:
        pytest.importorskip("distributed", reason="dask[distributed] 未安装")
    config = write_config(tmp_path / "etc", city_store, compute, paths=2000)
    evaluate = Proc([*CLI, "--config", str(config), "evaluate", "--format", "json"], tmp_path)
    seen: set[Descendant] = set()
    try:
        seen = collect_until(evaluate.p.pid, lambda tree: len(tree) >= workers, timeout=120)
        evaluate.p.send_signal(signal.SIGKILL)
        evaluate.p.wait(10)
        _assert_nothing_left(seen, "kill -9 of fundmon evaluate")
    finally:
        kill_all(seen)
        evaluate.kill()


THREADED_POOL = f"""
import sys, threading
sys.path.insert(0, {str(TESTS)!r})
from compute_tasks import slow_double
from monitor.config.compute import ComputeSettings
from monitor.pipeline.compute import run_tasks

def run():
    for _ in run_tasks(slow_double, list(range(40)), ComputeSettings(workers=2, chunk=1)):
        pass

thread = threading.Thread(target=run)
thread.start()
thread.join()
"""


def test_workers_of_a_pool_started_from_a_thread_die_with_their_process(tmp_path: Path) -> None:
    """The parent-death signal follows the thread that forked; a pool may be run from any."""
    owner = subprocess.Popen([sys.executable, "-c", THREADED_POOL], cwd=tmp_path)
    seen: set[Descendant] = set()
    try:
        seen = collect_until(owner.pid, lambda tree: len(tree) >= 2, timeout=60)
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        _assert_nothing_left(seen, "kill -9 of a process running a pool from a thread")
    finally:
        kill_all(seen)
        if owner.poll() is None:
            owner.kill()
            owner.wait(10)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill -9", "SIGTERM"])
def test_the_service_killed_or_stopped_mid_step_leaves_no_process_behind(
    tmp_path: Path, city_store: str, sig: signal.Signals
) -> None:
    """fundmon run → resource tracker, fork server → the step → its two pool workers. The
    step starts at once (a new schedule looks now) and evaluates the imported city."""
    body = LOCAL_POOL + QUIET_SCHEDULE + 'stop_timeout = "1s"\n'
    write_config(tmp_path, city_store, body, paths=20_000, horizon=120)  # a step of seconds
    service = Proc([*CLI, "run"], tmp_path)
    seen: set[Descendant] = set()
    try:
        service.wait_for(r"event=start job=ingest")
        seen = collect_until(service.p.pid, lambda tree: len(tree) >= 5, timeout=120)
        service.signal(sig)
        code = service.p.wait(30)
        _assert_nothing_left(seen, f"{signal.Signals(sig).name} of fundmon run")
        if sig == signal.SIGTERM:  # the step outlived stop_timeout: the service ended it
            assert code == 0, service.log()
            service.wait_for(r"event=finish job=ingest .*outcome=abandoned")
    finally:
        kill_all(seen)
        service.kill()


# ---------------------------------------------------------------- item 9: one service per store
def test_a_second_service_through_a_symlink_to_the_same_store_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = data / "store.db"
    (tmp_path / "store-link.db").symlink_to(store)
    (tmp_path / "data-link").symlink_to(data, target_is_directory=True)
    write_config(tmp_path / "a", f"sqlite:///{store}", QUIET_SCHEDULE)
    first = Proc([*CLI, "run"], tmp_path / "a")
    try:
        first.wait_for(r"event=started")
        for name, path in [
            ("file-link", tmp_path / "store-link.db"),
            ("folder-link", tmp_path / "data-link" / "store.db"),
        ]:
            folder = write_config(tmp_path / name, f"sqlite:///{path}", QUIET_SCHEDULE).parent
            second = Proc([*CLI, "run"], folder)
            try:
                assert second.wait(30) == 1, f"{name}: {second.log()}"
            finally:
                second.kill()
            second.wait_for(rf"进程 {first.p.pid}")
        assert first.p.poll() is None
    finally:
        first.kill()
