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

Forecasting runs with one BLAS thread (`single_blas_thread`; set for good in pool and Dask
workers): its matrices are tiny, and OpenBLAS's threads only wait for each other — with the
default (one thread per core) a fund's fits cost about 4× as much CPU, in one process or many
(measured with benchmarks/scale.py; results are identical).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

from monitor.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("local", "dask")
SMALL_RUN = 6  # tasks run in this process rather than in a pool


@dataclass(frozen=True)
class ComputeSettings:
    executor: str = "local"  # local | dask
    scheduler: str = ""  # dask: tcp://host:8786, or "local" for an in-process LocalCluster
    workers: int = 0  # local: processes (0 = one per core); dask LocalCluster: workers
    chunk: int = 4  # tasks sent together: fewer round trips, still fine-grained progress

    def check(self, path: str | None = None) -> None:
        """:raises ConfigError: an unknown executor, dask without a scheduler, bad numbers."""
        if self.executor not in EXECUTORS:
            raise ConfigError(
                f"executor 应为 {' 或 '.join(EXECUTORS)}，而不是 {self.executor!r}",
                path=path,
                key="compute.executor",
            )
        if self.executor == "dask" and not self.scheduler:
            raise ConfigError(
                'executor = "dask" 需要 scheduler（如 "tcp://10.0.0.5:8786"，'
                '或 "local" 在本机启动 LocalCluster）',
                path=path,
                key="compute.scheduler",
            )
        if self.workers < 0 or self.chunk < 1:
            raise ConfigError("workers 不小于 0，chunk 至少 1", path=path, key="compute")


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


# ---------------------------------------------------------------- BLAS threads
_controller: Any = None


def _blas() -> Any:
    """threadpoolctl's view of the BLAS libraries loaded (numpy's and scipy's OpenBLAS each
    ship their own copy, MKL elsewhere); made once, after both are loaded."""
    global _controller
    if _controller is None:
        import numpy  # noqa: F401 — load both libraries before looking
        import scipy.linalg  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """One BLAS thread inside the block, the previous numbers restored after it. The
    forecasts' matrices (a few parameters, 24 × 24 horizons) gain nothing from threads, and
    the threads' hand-offs cost ~4× the CPU; results are the same either way."""
    with _blas().limit(limits=1, user_api="blas"):
        yield


def limit_blas_threads() -> None:
    """One BLAS thread for the rest of this process (a worker that only forecasts)."""
    _blas().limit(limits=1, user_api="blas")


def _run_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    # in a pool or Dask worker: these processes run forecasts only (see single_blas_thread)
    limit_blas_threads()
    return [fn(item) for item in chunk]


def run_tasks(
    fn: Callable[[T], R],
    items: Sequence[T],
    settings: ComputeSettings,
) -> Iterator[R]:
    """`fn(item)` for every item, yielded as they finish (unordered). `fn` must be importable
    by name (a module-level function) and must not raise for a failure it can report."""
    settings.check()
    if not items:
        return
    if settings.executor == "dask":
        yield from _run_dask(fn, items, settings)
        return
    workers = settings.workers or os.cpu_count() or 1
    if workers <= 1 or len(items) <= SMALL_RUN:
        # starting processes (each importing statsmodels) costs more than a few funds: the
        # service's runs after one county's month stay in this process
        for item in items:
            yield fn(item)
        return
    size = max(1, min(settings.chunk, len(items) // (workers * 4) or 1))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from _windowed(
            lambda chunk: pool.submit(_run_chunk, fn, chunk),
            _chunks(items, size),
            window=workers * 3,
        )


def _windowed(
    submit: Callable[[list[T]], Future[list[R]]], chunks: Iterator[list[T]], window: int
) -> Iterator[R]:
    """Keep `window` chunks in flight: the argument and results of a national run are never
    all in memory at once."""
    pending: set[Future[list[R]]] = set()
    for chunk in islice(chunks, window):
        pending.add(submit(chunk))
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for future in done:
            yield from future.result()
            nxt = next(chunks, None)
            if nxt is not None:
                pending.add(submit(nxt))


def dask_client(settings: ComputeSettings) -> Any:
    """A `distributed.Client` for the configured scheduler (a LocalCluster for "local")."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError(
            '[compute] executor = "dask" 需要安装 dask.distributed：'
            "pip install 'fund-risk-monitor[dask]'",
            key="compute.executor",
        ) from exc
    if settings.scheduler == "local":
        cluster = LocalCluster(
            n_workers=settings.workers or os.cpu_count() or 1,
            threads_per_worker=1,  # statsmodels fits hold the GIL: one task per process
            processes=True,
            dashboard_address=None,
        )
        client = Client(cluster)
        client._fundmon_cluster = cluster  # closed together (see close_client)
        return client
    try:
        return Client(settings.scheduler, timeout="30s")
    except OSError as exc:
        raise ConfigError(
            f"无法连接 Dask 调度器 {settings.scheduler}：{exc}", key="compute.scheduler"
        ) from exc


def close_client(client: Any) -> None:
    cluster = getattr(client, "_fundmon_cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def _run_dask(fn: Callable[[T], R], items: Sequence[T], settings: ComputeSettings) -> Iterator[R]:
    from distributed import as_completed

    client = dask_client(settings)
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        size = max(1, min(settings.chunk, len(items) // (workers * 4) or 1))
        chunks = _chunks(items, size)
        # pure=False: two chunks with equal arguments are still two tasks (no deduplication)
        first = [client.submit(_run_chunk, fn, c, pure=False) for c in islice(chunks, workers * 3)]
        queue = as_completed(first)
        for future in queue:
            results = future.result()
            future.release()
            nxt = next(chunks, None)
            if nxt is not None:
                queue.add(client.submit(_run_chunk, fn, nxt, pure=False))
            yield from results
    finally:
        close_client(client)


def compute_settings(config: Any) -> ComputeSettings:
    """`[compute]` of the config file; `[forecast] workers` still counts where [compute] has
    no `workers` (the key's first home)."""
    section = config.section("compute")
    path = str(config.path) if config.path else None

    def typed(name: str, kind: type, default: Any) -> Any:
        value = section.get(name, default)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(
                f"{name} 应为 {kind.__name__}，而不是 {value!r}", path=path, key=f"compute.{name}"
            )
        return value

    values = {
        "executor": typed("executor", str, "local"),
        "scheduler": typed("scheduler", str, ""),
        "workers": typed("workers", int, config.forecast.workers),
        "chunk": typed("chunk", int, ComputeSettings.chunk),
    }
    unknown = set(section) - set(values)
    if unknown:
        raise ConfigError(f"未知的键 {sorted(unknown)}", path=path, key="compute")
    settings = ComputeSettings(**values)
    settings.check(path)
    return settings
