"""Outbox delivery throughput against a local SMTP server process (aiosmtpd on loopback).

    python benchmarks/outbox.py [--messages 10000] [--pg URL]

Renders real alert e-mails from an evaluation of the demo city (their size is printed),
queues N of them (each its own Message-ID) and delivers them with `deliver_pending` — the
code `fundmon outbox send` runs: claim, send, one commit per message — once reusing one SMTP
connection and once opening a connection per message; and, to separate the store's share,
the same N messages through the SMTP client alone. The server (tests/smtp_server.py
--count-only, a separate process) counts what it accepted; the count is checked.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import sys
import tempfile
import time
import uuid
from email import policy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from smtp_server import SmtpServer
from sqlalchemy import text

from monitor.config.alerts import AlertSettings, SmtpSettings
from monitor.core.alerts import Route
from monitor.notify.mailer import SmtpMailer
from monitor.notify.outbox import deliver_pending
from monitor.store.db import open_store
from monitor.store.schema import outbox

NOW = dt.datetime(2025, 1, 6, 1, 0, tzinfo=dt.UTC)


def real_alerts(work: Path) -> tuple[bytes, bytes]:
    """(a single red alert, a digest) as the outbox stores them, from the demo city."""
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
                "routes": [
                    {"to": ["基金科 <fund@example.org>"]},
                    {"to": ["局长 <leader@example.org>"], "levels": ["red"]},
                ]
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
    return by_rcpt["leader@example.org"], by_rcpt["fund@example.org"]


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


def fill(url: str, raw: bytes, n: int) -> None:
    engine = open_store(url, auto_upgrade=True)
    rows = []
    for i in range(n):
        message_id, content = with_id(raw, i)
        rows.append(
            {
                "message_id": message_id,
                "recipient": f"r{i}@example.org",
                "rcpt": f"r{i}@example.org",
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
        single, digest = real_alerts(work)
        stores = [("SQLite", f"sqlite:///{work / 'outbox.db'}")]
        if args.pg:
            stores.append(("PostgreSQL", args.pg))
        server = SmtpServer(work / "spool", count_only=True).start()
        rows = []
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
        finally:
            server.stop()
        accepted = int((work / "spool" / "count").read_text())
        expected = sum(r[2] for r in rows)
        assert accepted == expected, f"server accepted {accepted}, clients sent {expected}"

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


if __name__ == "__main__":
    main()
