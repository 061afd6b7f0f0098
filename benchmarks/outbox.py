"""Outbox delivery throughput against a local SMTP server process (aiosmtpd on loopback),
and of webhook posts to a local HTTP receiver process (tests/chat_server.py), in one run.

    python benchmarks/outbox.py [--messages 10000] [--pg URL]

Renders real alert e-mails from an evaluation of the demo city (their size is printed),
queues N of them (each its own Message-ID) and delivers them with `deliver_pending` — the
code `fundmon outbox send` runs: claim, send, one commit per message — once reusing one SMTP
connection and once opening a connection per message; and, to separate the store's share,
the same N messages through the SMTP client alone. The server (tests/smtp_server.py
--count-only, a separate process) counts what it accepted; the count is checked.

Webhooks the same way: the demo city's alerts rendered for an `[alerts.channels]` webhook
(Alertmanager's shape), N of them queued as chat rows and posted by `deliver_pending` (sign,
POST with its deadline, read the answer, one commit per message; one HTTP connection per
message, as the poster makes), and the same N through the HTTP client alone; the receiver
(tests/chat_server.py --count-only) counts them. The ratio webhook/SMTP is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import os
import sys
import tempfile
import time
import uuid
from email import policy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chat_server import ChatServer
from smtp_server import SmtpServer
from sqlalchemy import text

from monitor.config.alerts import AlertSettings, SmtpSettings
from monitor.core.alerts import Route
from monitor.notify.mailer import FileMailer, SmtpMailer
from monitor.notify.outbox import deliver_pending
from monitor.notify.poster import Poster, post
from monitor.store.db import open_store
from monitor.store.schema import outbox

NOW = dt.datetime(2025, 1, 6, 1, 0, tzinfo=dt.UTC)
HOOK_ENV = "FUNDMON_BENCH_HOOK_URL"
CHANNELS = {"bench_hook": {"kind": "webhook", "url_env": HOOK_ENV}}


def real_alerts(work: Path) -> tuple[bytes, bytes, bytes]:
    """(a single red alert, a digest, the webhook's digest) as the outbox stores them, from
    the demo city."""
    from monitor.config.settings import Config, ForecastSettings
    from monitor.demo.data import demo_city
    from monitor.demo.files import write_canonical_csv
    from monitor.ledger.importer import import_files
    from monitor.notify.outbox import queue_alerts
    from monitor.pipeline.evaluate import evaluate_store

    url = f"sqlite:///{work / 'city.db'}"
    config = Config(
        store_url=url,
        forecast=ForecastSettings(horizon=12, paths=500, workers=2),
        raw={
            "alerts": {
                "channels": CHANNELS,
                "routes": [
                    {"to": ["基金科 <fund@example.org>"]},
                    {"to": ["局长 <leader@example.org>"], "levels": ["red"]},
                    {"channels": ["bench_hook"]},
                ],
            }
        },
    )
    engine = open_store(url)
    csv = write_canonical_csv(demo_city().ledger, work / "city.csv")
    import_files(engine, [csv], config=config, unit="元", now=NOW, user="bench")
    with engine.begin() as conn:
        run = evaluate_store(conn, config, now=NOW, progress=False)
        queue_alerts(conn, run.results, config=config, now=NOW, profile=run.profile)
        rows = conn.execute(outbox.select().order_by(outbox.c.id)).all()
    engine.dispose()
    by_rcpt = {r.rcpt: bytes(r.content) for r in rows}
    hook = by_rcpt["channel:bench_hook"]
    return by_rcpt["leader@example.org"], by_rcpt["fund@example.org"], hook


def describe(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=policy.default)
    text = msg.get_body(("plain",)).get_content().encode()
    html = msg.get_body(("html",)).get_content().encode()
    return (
        f"{len(raw) / 1024:.1f} KiB on the wire (text {len(text) / 1024:.1f} KiB + "
        f"HTML {len(html) / 1024:.1f} KiB, UTF-8 in base64)"
    )


def with_id(raw: bytes, i: int) -> tuple[str, bytes]:
    message_id = f"<bench.{i}.{uuid.uuid4().hex[:8]}@example.org>"
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = [
        f"Message-ID: {message_id}".encode() if line.lower().startswith(b"message-id:") else line
        for line in head.split(b"\r\n")
    ]
    return message_id, b"\r\n".join(lines) + sep + body


def fill(url: str, raw: bytes, n: int, *, chat: bool = False) -> None:
    """N copies of `raw` queued, each its own message id: e-mail to r{i}@example.org, or
    (`chat`) webhook rows to the channel bench_hook."""
    engine = open_store(url, auto_upgrade=True)
    rows = []
    for i in range(n):
        if chat:
            message_id, content = f"<bench.{i}.{uuid.uuid4().hex[:8]}@example.org>", raw
        else:
            message_id, content = with_id(raw, i)
        rows.append(
            {
                "message_id": message_id,
                "recipient": "bench_hook" if chat else f"r{i}@example.org",
                "rcpt": "channel:bench_hook" if chat else f"r{i}@example.org",
                "channel_kind": "webhook" if chat else None,
                "sender": "fundmon@example.org",
                "subject": "bench",
                "alert_ids": [],
                "content": content,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": NOW,
                "created_at": NOW,
            }
        )
    with engine.begin() as conn:
        real = conn.execute(text("SELECT count(*) FROM outbox WHERE subject <> 'bench'")).scalar()
        if real:  # --pg pointed at a real store: never touch its messages
            raise SystemExit(f"{url}: the outbox holds {real} real messages; use a scratch store")
        conn.execute(text("DELETE FROM outbox"))
        for i in range(0, n, 1000):
            conn.execute(outbox.insert(), rows[i : i + 1000])
    engine.dispose()


def run_outbox(url: str, port: int, *, reuse: bool) -> tuple[int, float]:
    engine = open_store(url)
    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=port, security="none"), reuse=reuse)
    start = time.perf_counter()
    report = deliver_pending(
        engine, mailer, settings=AlertSettings(routes=(Route(to=("x@example.org",)),)),
        clock=lambda: NOW + dt.timedelta(seconds=1), batch=50,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    engine.dispose()
    assert report.ok, (report.deferred[:3], report.failed[:3])
    return len(report.sent), seconds


def hook_settings() -> AlertSettings:
    return AlertSettings(channels=CHANNELS)  # type: ignore[arg-type]  # validated from dicts


def run_outbox_hook(url: str, work: Path) -> tuple[int, float]:
    engine = open_store(url)
    start = time.perf_counter()
    report = deliver_pending(
        engine, FileMailer(work / "unused"), settings=hook_settings(),
        clock=lambda: NOW + dt.timedelta(seconds=1), batch=50, poster=Poster(hook_settings()),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    engine.dispose()
    assert report.ok, (report.deferred[:3], report.failed[:3])
    return len(report.sent), seconds


def run_http_only(body: bytes, n: int, port: int) -> tuple[int, float]:
    start = time.perf_counter()
    for i in range(n):
        answer = post(
            f"http://127.0.0.1:{port}/hook", body, {"Idempotency-Key": f"<b.{i}>"}, name="bench"
        )
        assert answer.status == 200, answer
    return n, time.perf_counter() - start


def run_smtp_only(raw: bytes, n: int, port: int, *, reuse: bool) -> tuple[int, float]:
    mailer = SmtpMailer(SmtpSettings(host="127.0.0.1", port=port, security="none"), reuse=reuse)
    messages = [with_id(raw, i)[1] for i in range(n)]
    start = time.perf_counter()
    for i, content in enumerate(messages):
        mailer.send(
            sender="fundmon@example.org", rcpt=f"r{i}@example.org", content=content, name=""
        )
    mailer.close()
    return n, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--pg", help="also a scratch PostgreSQL store (its outbox is emptied), e.g. …/bench"
    )
    args = parser.parse_args()
    n = args.messages
    with tempfile.TemporaryDirectory(prefix="fundmon-bench-") as tmp:
        work = Path(tmp)
        print("rendering real alert e-mails from an evaluation of the demo city …", flush=True)
        single, digest, hook = real_alerts(work)
        stores = [("SQLite", f"sqlite:///{work / 'outbox.db'}")]
        if args.pg:
            stores.append(("PostgreSQL", args.pg))
        server = SmtpServer(work / "spool", count_only=True).start()
        receiver = ChatServer(work / "hook-spool", count_only=True).start()
        os.environ[HOOK_ENV] = f"http://127.0.0.1:{receiver.port}/hook"
        rows = []
        hooks = []
        try:
            for reuse in (True, False):
                sent, seconds = run_smtp_only(single, n, server.port, reuse=reuse)
                rows.append(("SMTP client alone", reuse, sent, seconds))
                print(f"  {rows[-1][0]}, reuse={reuse}: {sent / seconds:,.0f}/s", flush=True)
            for name, url in stores:
                for reuse in (True, False):
                    fill(url, single, n)
                    sent, seconds = run_outbox(url, server.port, reuse=reuse)
                    rows.append((f"outbox → SMTP ({name} store)", reuse, sent, seconds))
                    print(f"  {rows[-1][0]}, reuse={reuse}: {sent / seconds:,.0f}/s", flush=True)
            sent, seconds = run_http_only(hook, n, receiver.port)
            hooks.append(("webhook client alone", sent, seconds))
            print(f"  {hooks[-1][0]}: {sent / seconds:,.0f}/s", flush=True)
            for name, url in stores:
                fill(url, hook, n, chat=True)
                sent, seconds = run_outbox_hook(url, work)
                hooks.append((f"outbox → webhook ({name} store)", sent, seconds))
                print(f"  {hooks[-1][0]}: {sent / seconds:,.0f}/s", flush=True)
        finally:
            server.stop()
            receiver.stop()
        accepted = int((work / "spool" / "count").read_text())
        expected = sum(r[2] for r in rows)
        assert accepted == expected, f"server accepted {accepted}, clients sent {expected}"
        received = int((work / "hook-spool" / "count").read_text())
        posted = sum(h[1] for h in hooks)
        assert received == posted, f"receiver counted {received}, clients posted {posted}"

    print()
    print(f"{n:,} alert e-mails to a local aiosmtpd process (loopback), one recipient each:")
    print(f"{'path':<32} {'one connection reused':>24} {'one connection per message':>28}")
    for label in dict.fromkeys(r[0] for r in rows):
        cells = {reuse: (sent, s) for lab, reuse, sent, s in rows if lab == label}
        reused = f"{cells[True][0] / cells[True][1]:,.0f} msg/s ({cells[True][1]:.1f} s)"
        fresh = f"{cells[False][0] / cells[False][1]:,.0f} msg/s ({cells[False][1]:.1f} s)"
        print(f"{label:<32} {reused:>24} {fresh:>28}")
    print()
    print(f"typical alert e-mail (one red fund): {describe(single)}")
    print(f"digest (5 funds):                    {describe(digest)}")
    print(f"server accepted {accepted:,} messages = every one sent, once")
    print()
    print(f"{n:,} webhook posts (Alertmanager-shaped digest, {len(hook) / 1024:.1f} KiB) to a "
          "local HTTP receiver process, one connection per post:")  # fmt: skip
    smtp_rate = {lab: s / t for lab, reuse, s, t in rows if not reuse}
    smtp_reused = {lab: s / t for lab, reuse, s, t in rows if reuse}
    for label, sent, seconds in hooks:
        rate = sent / seconds
        twin = label.replace("webhook", "SMTP")
        ratio = ""
        if twin in smtp_rate:
            ratio = (f"  = {rate / smtp_reused[twin]:.2f}× SMTP reusing its connection, "
                     f"{rate / smtp_rate[twin]:.2f}× SMTP connecting per message")  # fmt: skip
        print(f"{label:<36} {rate:>8,.0f} msg/s ({seconds:.1f} s){ratio}")
    print(f"receiver counted {received:,} posts = every one posted, once")


if __name__ == "__main__":
    main()
