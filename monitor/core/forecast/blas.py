"""Forecasting runs with one BLAS thread: its matrices are tiny (a few parameters, 24 × 24
horizons), and OpenBLAS's threads only wait for each other — with the default (one thread per
core) a fund's fits cost about 4× the CPU, in one process or many (measured with
benchmarks/scale.py; results are identical). threadpoolctl does it for OpenBLAS and MKL alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
