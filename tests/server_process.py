"""A test server run as a child process that prints ``READY <port>`` once it listens: the
stand-ins for the SMTP server (tests/smtp_server.py) and the chat robots
(tests/chat_server.py) are started and stopped the same way."""

from __future__ import annotations

import selectors
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


class ServerUnavailable(RuntimeError):
    """The test server could not be started (the reason says why)."""


def launch(
    script: Path,
    args: Sequence[str],
    *,
    timeout: float,
    what: str,
    capture_stderr: bool = True,
) -> tuple[subprocess.Popen[str], int]:
    """Start `python script args…` and wait for its READY line: (process, port). A server
    that may write much to stderr while it runs (tracebacks per connection) is started with
    `capture_stderr=False`, so that no unread pipe fills and stalls it.

    :raises ServerUnavailable: it died or stayed silent (its stderr's tail in the reason)."""
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if capture_stderr else None,
        text=True,
    )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout)
    line = proc.stdout.readline() if ready else ""  # READY, or EOF if it died
    if not line.startswith("READY"):
        err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
        stop(proc)
        raise ServerUnavailable(f"{what} did not start: {line!r} {err[-500:]}")
    return proc, int(line.split()[1])


def stop(proc: subprocess.Popen[str] | None) -> None:
    """SIGTERM, then SIGKILL after 10 s; its pipes closed."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()
