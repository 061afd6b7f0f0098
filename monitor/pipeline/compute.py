"""Where many independent tasks run: in this process, a local process pool, or a Dask cluster.

Evaluation sends each fund's forecast (income and expenditure fitted, paths simulated) as a
task; a task is a picklable function and a small argument (numpy arrays, not DataFrames), and
results come back as they finish, in any order, so the caller can store and forget them.

- `local` (the default): `ProcessPoolExecutor` with one worker per core (`[compute] workers`),
  at most a few chunks per worker in flight so memory stays bounded.
- `dask`: `dask.distributed.Client(scheduler)`; workers must have the same fund-risk-monitor
  version installed (they import `monitor` to run the task). An in-process `LocalCluster`
  is started when `scheduler` is "local" (tests, and a quick check of the set-up).

A task that raises is the task's business (the evaluation turns one fund's failure into a
note); an executor only reports what the task returned.

A worker process that dies (the OOM killer, a crash in a C extension, SIGKILL) takes every
task it was running down with it, and the executor cannot say which task did it: the local
pool fails all its pending futures with `BrokenProcessPool`, Dask retries the task on other
workers and finally raises `KilledWorker`. Without `lost=` that exception ends the run, as it
always did. With `run_tasks(..., lost=fn)` the run goes on and only the item that took its
process down comes back, as `lost(item, reason)`:

- local: the chunks in flight when the pool broke are run again, first one item per worker,
  then (if a process dies again) each item alone in a single-worker pool, so the item that
  kills its process is named; everything else yields its normal result, exactly once, and
  the rest of the run continues in a new pool. A task of an item in flight may thus run twice.
- dask: a chunk that raises `KilledWorker` is sent again one item per task; a single item
  that raises it is lost. The LocalCluster started for "local" keeps one task per worker (no
  task queued behind a running one), so a death counts against the task that was running;
  a remote scheduler's own settings decide that (see `_run_dask`).
- in this process (small runs): the process that dies is the caller's; nothing survives it.

Pool workers never outlive their owner (`process_pool`): a `fundmon evaluate` or a service step
killed with SIGKILL takes its workers with it, instead of leaving them blocked forever on a
queue whose other end is gone (each ~185 MB, and holding the service's fork server alive).
Dask's worker processes watch their parent the same way themselves.

Forecasting runs with one BLAS thread (`single_blas_thread`; set for good in pool and Dask
workers): its matrices are tiny, and OpenBLAS's threads only wait for each other — with the
default (one thread per core) a fund's fits cost about 4× as much CPU, in one process or many
(measured with benchmarks/scale.py; results are identical).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from itertools import islice
from typing import Any, TypeVar

from monitor.config.compute import ComputeSettings
from monitor.core.errors import ConfigError
from monitor.core.forecast.blas import limit_blas_threads

T = TypeVar("T")
R = TypeVar("R")

SMALL_RUN = 6  # tasks run in this process rather than in a pool
LOST_REASON = "计算进程意外退出（可能被系统因内存不足终止，或模型库崩溃）"

def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _run_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    # in a pool or Dask worker: these processes run forecasts only (see single_blas_thread)
    limit_blas_threads()
    return [fn(item) for item in chunk]


def run_tasks(
    fn: Callable[[T], R],
    items: Sequence[T],
    settings: ComputeSettings,
    *,
    lost: Callable[[T, str], R] | None = None,
) -> Iterator[R]:
    """`fn(item)` for every item, yielded as they finish (unordered). `fn` must be importable
    by name (a module-level function) and must not raise for a failure it can report.

    `lost(item, reason)` is yielded instead for an item whose task took its worker process
    down (reason: a short message in Chinese); every other item still yields `fn(item)`.

    :raises BrokenProcessPool: a local worker process died and `lost` is None.
    :raises distributed.KilledWorker: Dask workers died running a task and `lost` is None.
    """
    if not items:
        return
    if settings.executor == "dask":
        yield from _run_dask(fn, items, settings, lost)
        return
    workers = settings.workers or os.cpu_count() or 1
    if workers <= 1 or len(items) <= SMALL_RUN:
        # starting processes (each importing statsmodels) costs more than a few funds: the
        # service's runs after one county's month stay in this process (and if one of them
        # kills it, it is the caller that dies: `lost` cannot help)
        for item in items:
            yield fn(item)
        return
    size = max(1, min(settings.chunk, len(items) // (workers * 4) or 1))
    yield from _run_pool(fn, _chunks(items, size), workers, workers * 3, lost, _retry_each)


# runs again the items of the chunks a broken pool lost: (fn, items, that pool's workers,
# lost, its exit detail) -> their results
_Narrow = Callable[[Callable[[T], R], list[T], int, Callable[[T, str], R], str], Iterator[R]]


def _run_pool(
    fn: Callable[[T], R],
    chunks: Iterator[list[T]],
    workers: int,
    window: int,
    lost: Callable[[T, str], R] | None,
    narrow: _Narrow[T, R],
) -> Iterator[R]:
    """`chunks` in a pool of `workers` processes. Without `lost` a dead process raises
    `BrokenProcessPool`; with it, `narrow` gets the items whose chunks did not come back and
    the rest of `chunks` goes on in a new pool (a broken pool takes no more tasks)."""
    while True:
        broken: list[T] = []
        with _shared_heap(), process_pool(workers) as pool:
            yield from _windowed(
                lambda chunk: pool.submit(_run_chunk, fn, chunk),
                chunks,
                window=window,
                broken=None if lost is None else broken,
            )
            processes = _worker_processes(pool) if broken else []
        if not broken:
            return
        assert lost is not None
        # the pool has joined its processes on leaving the block: their exit codes are known
        yield from narrow(fn, broken, workers, lost, _exit_detail(processes))


@contextmanager
def _shared_heap() -> Iterator[None]:
    """Pool workers are forked: this process's objects (a national ledger, ~2 GB) are shared
    with them copy-on-write, until a worker writes to their pages — as its cycle collector
    does when it walks them. Frozen objects are left alone (`gc.freeze`'s documented use)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` forked processes that end when this process ends, however it ends.

    Forked, whatever the default start method (a service step inherits "forkserver" from the
    process that started it): the workers share this process's memory copy-on-write
    (`_shared_heap`) and need no fork server of their own.

    Each worker watches a lifeline, a pipe whose only write end this process keeps: at its
    death (even by SIGKILL) the worker reads end of file and exits. Forked from the main thread
    (the usual case), a worker also asks the kernel for SIGKILL at its parent's death
    (PR_SET_PDEATHSIG), which works even while a task holds the GIL; not from another thread,
    because that signal follows the forking *thread*, whose end would kill live workers.
    """
    read_end, write_end = os.pipe()
    try:
        # ProcessPoolExecutor forks every worker at its first submit, in the calling thread:
        # the thread that creates the pool here (run_tasks submits before it first yields)
        main = threading.current_thread() is threading.main_thread()
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_die_with_parent,
            initargs=(read_end, write_end, main),
        ) as pool:
            yield pool
    finally:
        os.close(read_end)
        os.close(write_end)


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(lifeline: int, parent_end: int, pdeathsig: bool) -> None:
    """Pool worker initializer: exit when the process that forked us is gone (see
    `process_pool`). Every worker inherits the write end of the lifeline; only the parent's
    copy may keep it open."""
    os.close(parent_end)
    if pdeathsig:
        with contextlib.suppress(OSError, AttributeError):  # not Linux: the lifeline remains
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    def watch() -> None:
        with contextlib.suppress(OSError):
            while os.read(lifeline, 1):  # nothing is ever written: b"" is the parent's death
                pass
        os._exit(70)

    # started after prctl: a parent already dead is seen at once (EOF), not missed
    threading.Thread(target=watch, name="lifeline", daemon=True).start()


def _retry_each(
    fn: Callable[[T], R], items: list[T], workers: int, lost: Callable[[T, str], R], detail: str
) -> Iterator[R]:
    """Items of the chunks in flight at a death, one per task and one task per worker: a
    second death leaves at most `workers` suspects instead of `window × chunk`."""
    workers = min(workers, len(items))
    yield from _run_pool(fn, ([i] for i in items), workers, workers, lost, _retry_alone)


def _retry_alone(
    fn: Callable[[T], R], items: list[T], workers: int, lost: Callable[[T, str], R], detail: str
) -> Iterator[R]:
    """Each item alone in a single-worker pool (its process reused while it lives): an item
    whose process dies is the one that kills it."""
    if workers == 1:  # one process, one task in flight: that item killed it
        for item in items:
            yield lost(item, LOST_REASON + detail)
        return
    again: _Narrow[T, R] = _retry_alone  # this T and R: mypy cannot infer them in the call
    yield from _run_pool(fn, ([i] for i in items), 1, 1, lost, again)


def _worker_processes(pool: ProcessPoolExecutor) -> list[Any]:
    # ProcessPoolExecutor._processes is private and may change: only used to name the exit
    # code in the reason, so anything unexpected just leaves it out
    try:
        return list((getattr(pool, "_processes", None) or {}).values())
    except Exception:
        return []


def _exit_detail(processes: list[Any]) -> str:
    """The exit signal or code of a single dead process (after the pool joined it), or ""."""
    # with several, the pool has terminated the survivors too: which one died first?
    codes = [getattr(p, "exitcode", None) for p in processes]
    if len(codes) != 1 or not isinstance(codes[0], int) or codes[0] == 0:
        return ""
    code = codes[0]
    if code < 0:
        try:
            return f"；退出信号 {signal.Signals(-code).name}"
        except ValueError:
            return f"；退出信号 {-code}"
    return f"；退出码 {code}"


def _windowed(
    submit: Callable[[list[T]], Future[list[R]]],
    chunks: Iterator[list[T]],
    window: int,
    broken: list[T] | None = None,
) -> Iterator[R]:
    """Keep `window` chunks in flight: the argument and results of a national run are never
    all in memory at once.

    With a `broken` list, a dead worker process ends this early instead of raising: results
    that came back are yielded, the items of every chunk that did not are put in `broken`,
    and the rest of `chunks` is left to the caller."""
    pending: dict[Future[list[R]], list[T]] = {}

    def add(chunk: list[T]) -> None:
        try:
            pending[submit(chunk)] = chunk
        except BrokenProcessPool:  # the pool broke since the last result
            if broken is None:
                raise
            broken.extend(chunk)

    for chunk in islice(chunks, window):
        add(chunk)
    while pending:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            chunk = pending.pop(future)
            if broken is not None and isinstance(future.exception(), BrokenProcessPool):
                broken.extend(chunk)
                continue
            yield from future.result()
            if not broken:
                nxt = next(chunks, None)
                if nxt is not None:
                    add(nxt)
        if broken:
            # a broken pool fails all its pending futures at once; some may have finished
            wait(pending)
            for future, chunk in pending.items():
                if isinstance(future.exception(), BrokenProcessPool):
                    broken.extend(chunk)
                else:
                    yield from future.result()
            return


@contextlib.contextmanager
def dask_client(settings: ComputeSettings) -> Iterator[Any]:
    """A `distributed.Client` for the configured scheduler (a LocalCluster for "local"),
    closed on leaving, with the cluster it made."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError(
            '[compute] executor = "dask" 需要安装 dask.distributed：'
            "pip install 'fund-risk-monitor[dask]'",
            key="compute.executor",
        ) from exc
    cluster = None
    if settings.scheduler == "local":
        import dask

        # the scheduler reads these when created: no task waits on a worker behind the
        # running one, so a worker's death counts only against the task that was running
        # (run_tasks' `lost`); one retry on another worker, then KilledWorker, not three
        with dask.config.set(
            {
                "distributed.scheduler.worker-saturation": 1.0,
                "distributed.scheduler.allowed-failures": 1,
            }
        ):
            cluster = LocalCluster(
                n_workers=settings.workers or os.cpu_count() or 1,
                threads_per_worker=1,  # statsmodels fits hold the GIL: one task per process
                processes=True,
                dashboard_address=None,
                # no dashboard, but the scheduler's HTTP server (health, metrics) would still
                # take port 8787 and warn when another cluster on this machine has it
                scheduler_kwargs={"dashboard_address": ":0"},
            )
        client = Client(cluster)
    else:
        try:
            client = Client(settings.scheduler, timeout="30s")
        except OSError as exc:
            raise ConfigError(
                f"无法连接 Dask 调度器 {settings.scheduler}：{exc}", key="compute.scheduler"
            ) from exc
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run_dask(
    fn: Callable[[T], R],
    items: Sequence[T],
    settings: ComputeSettings,
    lost: Callable[[T, str], R] | None = None,
) -> Iterator[R]:
    """Chunks on the cluster, `workers × 3` in flight. With `lost`, a chunk that raises
    `KilledWorker` is sent again one item per task and a single item that raises it is lost.

    The scheduler counts a death against every task assigned to the worker, including one
    queued behind the running task (Dask's default `worker-saturation`, 1.1, queues one on a
    one-thread worker), and raises `KilledWorker` after `allowed-failures` + 1 such deaths.
    So on a remote cluster an innocent item can be reported lost if it sat that often on the
    dying worker (unlikely but for tiny clusters); the LocalCluster of "local" queues nothing
    (see `dask_client`)."""
    from distributed import KilledWorker, as_completed

    with dask_client(settings) as client:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        size = max(1, min(settings.chunk, len(items) // (workers * 4) or 1))
        chunks = _chunks(items, size)
        sent: dict[Any, list[T]] = {}  # future's key -> its chunk, to send it again

        def submit(chunk: list[T]) -> Any:
            # pure=False: two chunks with equal arguments are still two tasks (no deduplication)
            future = client.submit(_run_chunk, fn, chunk, pure=False)
            sent[future.key] = chunk
            return future

        queue = as_completed([submit(c) for c in islice(chunks, workers * 3)])
        for future in queue:
            chunk = sent.pop(future.key)
            try:
                results = future.result()
            except KilledWorker as exc:
                if lost is None:
                    raise
                if len(chunk) > 1:
                    results = []
                    for item in chunk:
                        queue.add(submit([item]))
                else:
                    tries = getattr(exc, "allowed_failures", None)  # older versions lack it
                    detail = "" if tries is None else f"；Dask 工作进程运行它时退出 {tries + 1} 次"
                    results = [lost(chunk[0], LOST_REASON + detail)]
            future.release()
            nxt = next(chunks, None)
            if nxt is not None:
                queue.add(submit(nxt))
            yield from results


