"""A misbehaving SMTP server process on loopback (plain sockets), for the delivery deadlines.

Run as a program it serves until killed:

    python tests/misbehaving_smtp.py --mode greeting-lines|greeting-bytes|data-reply
                                     --spool DIR [--interval 1.0] [--stall 120]

and prints ``READY <port>`` once it listens. Each connection gets its own thread:

- ``greeting-lines``: sends a ``220-`` continuation line every `interval` seconds for `stall`
  seconds before the final ``220`` (each line well inside any per-read timeout);
- ``greeting-bytes``: sends the greeting one byte every `interval` seconds (no line ever ends
  within a per-read timeout);
- ``data-reply``: a quick, normal session up to the end of DATA, then the reply to the
  message as ``250-`` lines every `interval` seconds for `stall` seconds.

After the stall it behaves (answers ``250``), so a client without an overall deadline does
finish, late. Every message whose content arrived whole is counted in DIR/received (one
line per message: its Message-ID).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socketserver
import subprocess
import threading
import time
from pathlib import Path

from server_process import launch, stop

HERE = Path(__file__).resolve()


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def line(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()

    def trickle(self, code: str, until: float) -> None:
        while time.monotonic() < until:
            self.line(f"{code}-still working, please wait")
            time.sleep(self.server.interval)

    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the client gave up and closed: as tests want
            self.session()

    def session(self) -> None:
        mode, interval, stall = self.server.mode, self.server.interval, self.server.stall
        if mode == "greeting-lines":
            self.trickle("220", time.monotonic() + stall)
            self.line("220 misbehaving ready")
        elif mode == "greeting-bytes":
            end = time.monotonic() + stall
            for byte in b"220 misbehaving, slowly ready\r\n":
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                if time.monotonic() < end:
                    time.sleep(interval)
        else:
            self.line("220 misbehaving ready")
        while True:
            raw = self.rfile.readline(1000)
            if not raw:
                return
            verb = raw.decode("ascii", "replace").strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.line("250-misbehaving")
                self.line("250 8BITMIME")
            elif verb == "DATA":
                self.line("354 go ahead")
                self.receive()
                if mode == "data-reply":
                    self.trickle("250", time.monotonic() + stall)
                self.line("250 OK accepted")
            elif verb == "QUIT":
                self.line("221 bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                self.line("250 OK")

    def receive(self) -> None:
        lines = []
        while True:
            raw = self.rfile.readline(1_000_000)
            if not raw:
                raise ConnectionError("client left during DATA")
            if raw in (b".\r\n", b".\n"):
                break
            lines.append(raw)
        found = re.search(rb"^Message-ID:\s*(\S+)", b"".join(lines), re.M | re.I)
        with self.server.lock, open(self.server.spool / "received", "ab") as fh:
            fh.write((found.group(1) if found else b"?") + b"\n")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(("127.0.0.1", args.port), _Handler)
        self.mode, self.interval, self.stall = args.mode, args.interval, args.stall
        self.spool = Path(args.spool)
        self.lock = threading.Lock()


def _serve(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["greeting-lines", "greeting-bytes", "data-reply"])
    parser.add_argument("--spool", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--stall", type=float, default=120.0)
    args = parser.parse_args(argv)
    Path(args.spool).mkdir(parents=True, exist_ok=True)
    server = _Server(args)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(f"READY {server.server_address[1]}", flush=True)
    server.serve_forever()


class MisbehavingServer:
    """Starts `python tests/misbehaving_smtp.py …`; a context manager."""

    def __init__(self, spool: Path, mode: str, *, interval: float = 1.0, stall: float = 120.0):
        self.spool = Path(spool)
        self.args = [
            "--mode", mode, "--spool", str(spool), "--interval", str(interval),
            "--stall", str(stall),
        ]  # fmt: skip
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> MisbehavingServer:
        self.proc, self.port = launch(
            HERE, self.args, timeout=20.0, what="misbehaving SMTP server", capture_stderr=False
        )
        return self

    def __exit__(self, *_: object) -> None:
        proc, self.proc = self.proc, None
        stop(proc)

    def received(self) -> list[str]:
        """Message-IDs of the messages whose content arrived whole."""
        try:
            return (self.spool / "received").read_text().split()
        except FileNotFoundError:
            return []


if __name__ == "__main__":
    _serve()
