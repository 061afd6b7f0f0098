"""What a process leaves behind: its descendants, read from /proc, and which of them still run.

A killed process's children are adopted by init (or a subreaper), so their parent chain no
longer leads to it: the tree is collected while the process lives, and afterwards each
process is looked up by pid *and* start time (a pid reused by another program is not a
survivor). A zombie has ended; only its parent has not read its exit status yet.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Descendant:
    pid: int
    start: int  # clock ticks after boot (/proc/PID/stat field 22)
    cmd: str

    def __str__(self) -> str:
        return f"{self.pid} {self.cmd[:120]}"


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time), or None for a process that is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes().decode(errors="replace")
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()  # the name in (…) may hold spaces
    return fields[0], int(fields[1]), int(fields[19])


def _cmd(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def descendants(root: int) -> set[Descendant]:
    """Every living process whose parent chain leads to `root` (not `root` itself)."""
    children: dict[int, list[tuple[int, int]]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit() and (st := _stat(int(name))) is not None and st[0] != "Z":
            children.setdefault(st[1], []).append((int(name), st[2]))
    found: set[Descendant] = set()
    todo = [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            found.add(Descendant(pid, start, _cmd(pid)))
            todo.append(pid)
    return found


def collect_until(
    root: int, ready: Callable[[set[Descendant]], bool], timeout: float, settle: float = 0.5
) -> set[Descendant]:
    """Watch `root`'s tree until `ready(tree)`, then `settle` seconds more; every process seen.

    :raises AssertionError: `root` ended, or `ready` never held, within `timeout`.
    """
    seen: set[Descendant] = set()
    deadline = time.monotonic() + timeout
    while True:
        tree = descendants(root)
        seen |= tree
        if ready(tree):
            break
        if _stat(root) is None or _stat(root)[0] == "Z":  # type: ignore[index]
            raise AssertionError(f"process {root} ended first; saw {sorted(map(str, seen))}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready in {timeout}s: {sorted(map(str, tree))}")
        time.sleep(0.02)
    end = time.monotonic() + settle
    while time.monotonic() < end:
        seen |= descendants(root)
        time.sleep(0.02)
    return seen | descendants(root)


def alive(procs: set[Descendant]) -> set[Descendant]:
    out = set()
    for p in procs:
        st = _stat(p.pid)
        if st is not None and st[2] == p.start and st[0] != "Z":
            out.add(p)
    return out


def survivors(procs: set[Descendant], grace: float) -> set[Descendant]:
    """Those of `procs` still running after up to `grace` seconds."""
    deadline = time.monotonic() + grace
    while (left := alive(procs)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def kill_all(procs: set[Descendant]) -> None:
    """SIGKILL what a test started and left running (each by pid, checked by start time)."""
    for p in alive(procs):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)
