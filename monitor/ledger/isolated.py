"""Run one import in a forked child process, so a file that crashes its reader cannot take the
caller with it.

A poisoned workbook can abort the process that reads it (calamine's allocation failures end in
SIGABRT, not in an exception), exhaust its memory, or make it loop. The child is limited to
`[import] reader_memory_mb` of address space (RLIMIT_AS: an allocation beyond it fails at once
instead of swapping the machine), may be given a deadline, and dies with its parent
(PR_SET_PDEATHSIG). Its outcome comes back over a pipe: the value, or the exception it raised
(re-raised here, with the child's traceback as a note), or — when it died — `ChildCrashed`
saying how (the signal, "memory", "timeout").

Forked, not spawned: the child starts in about a millisecond with every module the caller
imported (a spawned interpreter importing pandas and SQLAlchemy costs a second or two per
file), and runs the caller's own function with its arguments as they are, nothing pickled.
The caller's database connections are not used in the child (see `fresh_engine`).
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import multiprocessing
import os
import pickle
import resource
import signal
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from sqlalchemy import Engine

from monitor.core.errors import ChildCrashed

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1


def fresh_engine(engine: Engine) -> Engine:
    """In a forked child: the same engine (URL, options, event hooks) with a pool of its own,
    leaving the parent's pooled connections untouched (SQLAlchemy's recipe for fork)."""
    engine.dispose(close=False)
    return engine


def run_in_child(
    fn: Callable[[Callable[[Any], None]], T],
    *,
    memory_mb: int | None,
    timeout: float | None = None,
) -> T:
    """`fn(progress)` in a forked child limited to `memory_mb`; its value or its exception.

    `progress(message)` lets the child say what it is doing (the file it is reading), so a
    crash can be attributed.

    :raises ChildCrashed: the child was killed by a signal (an abort, the kernel's OOM killer),
        ran out of memory, or outlived `timeout` seconds (then it is killed).
    """
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_child_main, args=(fn, send, memory_mb, os.getpid()), name="fundmon-reader"
    )
    child.start()
    send.close()
    deadline = None if timeout is None else time.monotonic() + timeout
    progress: Any = None
    try:
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not receive.poll(left):
                raise _killed(child, f"超过 {timeout:g} 秒仍未完成，已终止", progress)
            try:
                kind, payload = receive.recv()
            except (EOFError, OSError):
                child.join()
                raise ChildCrashed(_death(child.exitcode), progress=progress) from None
            if kind == "progress":
                progress = payload
                continue
            child.join()
            if kind == "value":
                return payload
            raise _rebuilt(payload)
    finally:
        receive.close()
        if child.is_alive():
            _killed(child, "", progress)


def _killed(child: Any, reason: str, progress: Any) -> ChildCrashed:
    with contextlib.suppress(ProcessLookupError):
        os.kill(child.pid, signal.SIGKILL)
    child.join()
    return ChildCrashed(reason, progress=progress)


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            sig = signal.Signals(-exitcode)
        except ValueError:
            return f"读取进程被信号 {-exitcode} 终止"
        what = {
            signal.SIGABRT: "（多为内存分配失败）",
            signal.SIGKILL: "（可能被系统因内存不足终止）",
            signal.SIGSEGV: "（读取程序内存访问错误）",
        }.get(sig, "")
        return f"读取进程被信号 {sig.name} 终止{what}"
    return f"读取进程意外退出（退出码 {exitcode}）"


def _child_main(
    fn: Callable[[Callable[[Any], None]], Any],
    send: Connection,
    memory_mb: int | None,
    parent: int,
) -> None:
    _die_with(parent)
    faulthandler.disable()  # a crash here is expected and reported by the parent, once
    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    def progress(message: Any) -> None:
        send.send(("progress", message))

    try:
        value = fn(progress)
        reply: tuple[str, Any] = ("value", value)
    except MemoryError:
        reply = ("error", _portable(ChildCrashed(f"读取时内存不足（超过 {memory_mb} MB 的限制）")))
    except BaseException as exc:  # every outcome goes back to the parent
        reply = ("error", _portable(exc))
    try:
        send.send(reply)
    except MemoryError:
        send.send(("error", _portable(ChildCrashed("读取时内存不足，无法回传结果"))))
    finally:
        send.close()


def _die_with(parent: int) -> None:
    """SIGKILL this process when its parent dies (the caller killed with -9 included)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # died before the request took effect
        os._exit(1)


def _portable(exc: BaseException) -> tuple[Any, ...]:
    """The exception as something that survives pickling, with the child's traceback."""
    trace = "".join(traceback.format_exception(exc))
    # Exceptions that say how to pickle themselves (OSError, SQLAlchemy's) are pickled; the
    # others are rebuilt from their args and attributes, since pickling calls `cls(*args)`,
    # which a custom __init__ (LedgerRejected(findings)) would misread.
    if type(exc).__reduce__ is not BaseException.__reduce__:
        try:
            data = pickle.dumps(exc)
            pickle.loads(data)
            return ("pickle", data, trace)
        except Exception:  # rebuilt by hand below
            pass
    state = {}
    for key, value in vars(exc).items():
        try:
            pickle.dumps(value)
        except Exception:
            continue
        state[key] = value
    return ("parts", type(exc), exc.args, state, trace)


def _rebuilt(payload: tuple[Any, ...]) -> BaseException:
    trace = payload[-1]
    if payload[0] == "pickle":
        exc: BaseException = pickle.loads(payload[1])
    else:
        _, cls, args, state, _ = payload
        try:
            exc = cls.__new__(cls)
            exc.args = args
            vars(exc).update(state)
        except Exception:
            exc = RuntimeError(f"{cls.__name__}: {args}")
    exc.add_note("子进程中的调用栈：\n" + trace)
    return exc
