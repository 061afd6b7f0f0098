"""A real HTTP server process on loopback standing in for the chat platforms' robots (WeCom,
DingTalk, Feishu) and for a webhook receiver, for tests and the benchmark.

Run as a program it serves until killed:

    python tests/chat_server.py --spool DIR [--port 0] [--count-only]

and prints ``READY <port>`` once it listens. Every request it answers is written to DIR as
``req-000001.json``: path, query, headers, body (text), the answer's status and body, and
whether the platform's signature verified (``sign_ok``: true, false, or null when no secret is
set for the path). With --count-only it keeps only a count, written to DIR/count when it stops.

It is steered while it runs by DIR/control.json::

    {"delay": 0.05,                         # seconds before each answer
     "paths": {"/wecom": {"platform": "wecom",
                          "secret": null,   # dingtalk/feishu: verify the signature with it
                          "script": [{"times": 2, "status": 200,
                                      "body": {"errcode": 45009, "errmsg": "freq"},
                                      "headers": {"Retry-After": "3"}}]}}}

A request goes to the longest configured path prefix; the first answers follow its `script`
(each entry `times` requests, counted per path since the server's spool began), then the
platform's success (WeCom and DingTalk ``{"errcode":0}``, Feishu ``{"code":0}``, a webhook an
empty 200). A wrong signature gets the platform's own answer (DingTalk errcode 310000, Feishu
code 19021) and counts as a request.

In a test, `ChatServer` starts, stops and restarts the process on the same port.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from server_process import ServerUnavailable, launch, stop

HERE = Path(__file__).resolve()

SUCCESS = {
    "wecom": (200, {"errcode": 0, "errmsg": "ok"}),
    "dingtalk": (200, {"errcode": 0, "errmsg": "ok"}),
    "feishu": (
        200,
        {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"},
    ),
    "webhook": (200, None),
}
SIGN_FAILED = {
    "dingtalk": (200, {"errcode": 310000, "errmsg": "sign not match"}),
    "feishu": (
        200,
        {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from now"},
    ),
}


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """DingTalk's: base64(HMAC-SHA256(key=secret, "timestamp\\nsecret")), as sent (quoted)."""
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def feishu_sign(secret: str, timestamp: str) -> str:
    """Feishu's: base64(HMAC-SHA256(key="timestamp\\nsecret", empty message))."""
    mac = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def verify(platform: str, secret: str, query: dict[str, list[str]], body: bytes) -> bool:
    """Whether the request carries the platform's signature made with `secret`."""
    if platform == "dingtalk":
        timestamp = (query.get("timestamp") or [""])[0]
        sign = (query.get("sign") or [""])[0]  # parse_qs has unquoted it
        return bool(timestamp) and hmac.compare_digest(sign, dingtalk_sign(secret, timestamp))
    if platform == "feishu":
        try:
            data = json.loads(body)
        except ValueError:
            return False
        timestamp, sign = str(data.get("timestamp") or ""), str(data.get("sign") or "")
        return bool(timestamp) and hmac.compare_digest(sign, feishu_sign(secret, timestamp))
    return True


# ---------------------------------------------------------------- the server process
def _serve(args: argparse.Namespace) -> None:
    spool = Path(args.spool)
    spool.mkdir(parents=True, exist_ok=True)
    control_file = spool / "control.json"
    lock = threading.Lock()
    # numbering goes on across restarts on the same spool (the server down, then up)
    state = {"count": len(list(spool.glob("req-*.json"))), "per_path": _counts(spool)}

    def control() -> dict[str, Any]:
        try:
            return dict(json.loads(control_file.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            settings = control()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            parts = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parts.query)
            paths = settings.get("paths") or {}
            prefix = max((p for p in paths if parts.path.startswith(p)), key=len, default="")
            route = paths.get(prefix) or {}
            platform = route.get("platform") or "webhook"
            secret = route.get("secret")
            with lock:
                state["count"] += 1
                n = state["count"]
                seen = state["per_path"].get(prefix, 0)
                state["per_path"][prefix] = seen + 1
            sign_ok = verify(platform, secret, query, body) if secret else None
            status, answer, headers = _answer(route, platform, seen, sign_ok)
            if settings.get("delay"):  # a slow server: lets concurrent senders overlap
                time.sleep(float(settings["delay"]))
            if not args.count_only:
                record = {
                    "seq": n,
                    "prefix": prefix,
                    "path": parts.path,
                    "query": {k: v[0] for k, v in query.items()},
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8", "replace"),
                    "status": status,
                    "answer": answer,
                    "sign_ok": sign_ok,
                }
                tmp = spool / f"req-{n:06d}.tmp"
                tmp.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
                tmp.replace(spool / f"req-{n:06d}.json")
            data = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, str(value))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f"READY {server.server_address[1]}", flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()
    (spool / "count").write_text(str(state["count"]), encoding="utf-8")


def _counts(spool: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in spool.glob("req-*.json"):
        prefix = json.loads(path.read_text(encoding="utf-8")).get("prefix", "")
        counts[prefix] = counts.get(prefix, 0) + 1
    return counts


def _answer(
    route: dict[str, Any], platform: str, seen: int, sign_ok: bool | None
) -> tuple[int, Any, dict[str, Any]]:
    """(status, JSON body or None, headers) for the path's request number `seen` (from 0)."""
    if sign_ok is False and platform in SIGN_FAILED:
        status, body = SIGN_FAILED[platform]
        return status, body, {}
    for step in route.get("script") or ():
        times = int(step.get("times", 1))
        if seen < times:
            return int(step.get("status", 200)), step.get("body"), dict(step.get("headers") or {})
        seen -= times
    status, body = SUCCESS.get(platform, SUCCESS["webhook"])
    return status, body, {}


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--count-only", action="store_true")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- helpers for tests
class ChatServer:
    """Starts `python tests/chat_server.py …`; knows the requests it received."""

    def __init__(self, spool: Path, *, port: int = 0, count_only: bool = False) -> None:
        self.spool = Path(spool)
        self.count_only = count_only
        self.proc: subprocess.Popen[str] | None = None
        self.port = port

    def start(self, timeout: float = 20.0) -> ChatServer:
        """Start (again on the same port once it has one). :raises ServerUnavailable:"""
        self.spool.mkdir(parents=True, exist_ok=True)
        args = ["--spool", str(self.spool), "--port", str(self.port)]
        if self.count_only:
            args.append("--count-only")
        self.proc, self.port = launch(HERE, args, timeout=timeout, what="chat test server")
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop(proc)

    def __enter__(self) -> ChatServer:
        return self if self.proc is not None else self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def control(self, **settings: Any) -> None:
        """Steer the running server (see the module doc): paths={…}, delay=…"""
        tmp = self.spool / "control.tmp"
        tmp.write_text(json.dumps(settings), encoding="utf-8")
        tmp.replace(self.spool / "control.json")

    def requests(self) -> list[dict[str, Any]]:
        """Every request answered so far, in order."""
        return [
            json.loads(p.read_text(encoding="utf-8")) for p in sorted(self.spool.glob("req-*.json"))
        ]


def start_chat_server(tmp_path: Path, name: str = "chat", **options: Any) -> ChatServer:
    """Start a server for a test; skip the test (fail it, in CI) if it cannot start."""
    import pytest

    try:
        return ChatServer(tmp_path / name, **options).start()
    except ServerUnavailable as exc:
        if os.environ.get("FUNDMON_REQUIRE_SERVICES") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


if __name__ == "__main__":
    _serve(_parse())
