"""Issue 13, delivery under hostile input and faults: a region name with CR/LF (or any control)
never breaks a mail header, and one fund's failed mail never costs the others theirs (item 3);
.eml files are private and never written through a symlink (items 1, 13); a store that is busy
when "sent" is committed neither makes a traceback nor a second copy, and strands nothing
(item 6); an SMTP server that trickles its answers is left at an overall deadline (item 7).

Real components throughout: SQLite files held by a second connection (`BEGIN IMMEDIATE`) or
another process, PostgreSQL behind a TCP proxy that is cut, the aiosmtpd server process
counting what it received, a misbehaving socket server process, `fundmon` run as a process
(and killed with SIGKILL)."""

from __future__ import annotations

import datetime as dt
import email
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from email import policy
from pathlib import Path

import pytest
from misbehaving_smtp import MisbehavingServer
from smtp_server import SmtpServer, start_server
from sqlalchemy import Engine, event, select, text, update
from tcp_proxy import TcpProxy
from test_outbox import SETTINGS, T0, clock_at, queue_plain, received_ids, statuses

from monitor.config.alerts import SmtpSettings
from monitor.config.settings import Config
from monitor.core.errors import DeliveryError
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv
from monitor.notify import outbox as outbox_module
from monitor.notify.mailer import FileMailer, SmtpMailer
from monitor.notify.outbox import deliver_pending, journal_dir, queue_alerts
from monitor.store.db import open_store
from monitor.store.schema import alerts as alerts_table
from monitor.store.schema import outbox, regions

ROUTES = """
[[alerts.routes]]
levels = ["yellow", "orange", "red", "notice"]
to = ["基金科 <fund@example.org>"]

[[alerts.routes]]
regions = ["341721"]
to = ["dongzhi@example.org"]

[[alerts.routes]]
regions = ["341722"]
to = ["shitai@example.org"]
"""
HOSTILE_NAME = "东至县\r\nBcc: evil@example.net\x1b[31m\u202e\x85"


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


def smtp_config(tmp_path: Path, port: int, *, timeout: float = 5) -> Path:
    conf = tmp_path / "config.toml"
    conf.write_text(
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        f'sender = "fundmon@example.org"\ntimeout = {timeout}\n',
        encoding="utf-8",
    )
    return conf


def fundmon(url: str, conf: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "FUNDMON_CONFIG": str(conf)}
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "--db", url, *args],
        env=env,
        cwd=conf.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_statuses(db: Path) -> dict[int, str]:
    """Read beside any writer (WAL): what the store says now, row by row."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return dict(conn.execute("SELECT id, status FROM outbox ORDER BY id").fetchall())


def wait_for(predicate, timeout: float = 30.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# ---------------------------------------------------------------- item 3: rendering
@pytest.fixture
def demo_store(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch, engine: Engine) -> Engine:  # type: ignore[no-untyped-def]
    """The demo city imported, with routes; no SMTP (nothing is sent here)."""
    conf = tmp_path / "config.toml"
    conf.write_text("[forecast]\nhorizon = 12\npaths = 200\nworkers = 1\n" + ROUTES, "utf-8")
    monkeypatch.setenv("FUNDMON_CONFIG", str(conf))
    write_canonical_csv(demo_city().ledger, tmp_path / "demo.csv")
    assert cli("import", "--unit", "元", str(tmp_path / "demo.csv")).exit_code == 0
    return engine


def test_a_region_name_with_line_breaks_and_controls_is_alerted_with_one_line_headers(
    demo_store: Engine, cli
) -> None:
    with demo_store.begin() as conn:  # as an import before the importer refused controls
        conn.execute(update(regions).where(regions.c.code == "341721").values(name=HOSTILE_NAME))
    evaluated = cli("evaluate")
    assert evaluated.exit_code == 0, evaluated.stderr
    assert "预警邮件：5 项预警事件，已排入发件箱 3 封" in evaluated.stderr
    with demo_store.connect() as conn:
        rows = list(conn.execute(select(outbox.c.recipient, outbox.c.subject, outbox.c.content)))
    county = next(r for r in rows if r.recipient == "dongzhi@example.org")
    assert county.subject.startswith("【红色预警】东至县 Bcc: evil@example.net [31m 居民医保")
    for row in rows:
        assert not any(c in row.subject for c in "\r\n\x1b\u202e\x85"), row.subject
        msg = email.message_from_bytes(row.content, policy=policy.default)
        assert msg["Bcc"] is None and msg.defects == []
        assert str(msg["Subject"]) == row.subject
        assert "\n" not in str(msg["Subject"])


def test_one_funds_mail_failing_to_render_is_a_note_and_every_fund_is_still_alerted(
    demo_store: Engine, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.render import alert_mail

    real = alert_mail.event_view

    def breaks_for_shitai(event, **kwargs):  # type: ignore[no-untyped-def]
        if event.snapshot.region_code == "341722":
            raise KeyError("a field the template needs")
        return real(event, **kwargs)

    monkeypatch.setattr(alert_mail, "event_view", breaks_for_shitai)
    evaluated = cli("evaluate")
    assert evaluated.exit_code == 0, evaluated.stderr
    assert "1 项预警的邮件未能正常生成，已改发纯文本简版" in evaluated.stderr
    assert "341722" in evaluated.stderr and "KeyError" in evaluated.stderr

    with demo_store.connect() as conn:
        rows = list(conn.execute(select(outbox).order_by(outbox.c.id)))
        shitai = conn.execute(
            select(alerts_table).where(alerts_table.c.region_code == "341722")
        ).one()
    by_to: dict[str, list[email.message.EmailMessage]] = {}
    for row in rows:
        parsed = email.message_from_bytes(row.content, policy=policy.default)
        by_to.setdefault(row.recipient, []).append(parsed)  # type: ignore[arg-type]
    # the digest keeps the other four funds in full; 石台县 goes out in the short edition
    full, short = by_to["基金科 <fund@example.org>"]
    assert str(full["Subject"]).startswith("【基金风险预警】4 项")
    assert "简版" in str(short["Subject"]) and "橙色" in str(short["Subject"])
    body = short.get_body(("plain",)).get_content()
    assert "石台县（341722）" in body and "KeyError" in body
    [alone] = by_to["shitai@example.org"]
    assert "简版" in str(alone["Subject"])
    [county] = by_to["dongzhi@example.org"]  # the red fund: untouched
    assert str(county["Subject"]).startswith("【红色预警】东至县")
    assert "KeyError" in shitai.event["render_error"]
    listed = cli("alerts", "list")
    assert "简版" in next(line for line in listed.output.splitlines() if "石台县" in line)


# ---------------------------------------------------------------- items 1 and 13: .eml
def test_eml_files_are_private_and_never_written_through_a_symlink(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        victim = tmp_path / "victim.txt"
        victim.write_text("keep me", encoding="utf-8")
        mailer = FileMailer(tmp_path / "mail")
        mailer.send(sender="a@b", rcpt="c@d", content=b"first", name="m1")
        folder = tmp_path / "mail"
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / "m1.eml").stat().st_mode) == 0o600
        (folder / "m2.eml").symlink_to(victim)  # planted where the next message goes
        mailer.send(sender="a@b", rcpt="c@d", content=b"second", name="m2")
        assert victim.read_text(encoding="utf-8") == "keep me"
        assert not (folder / "m2.eml").is_symlink()
        assert (folder / "m2.eml").read_bytes() == b"second"
        assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []

        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (tmp_path / "linked").symlink_to(elsewhere, target_is_directory=True)
        with pytest.raises(DeliveryError, match="符号链接"):
            FileMailer(tmp_path / "linked").send(sender="a@b", rcpt="c@d", content=b"x", name="m3")
        assert list(elsewhere.iterdir()) == []
    finally:
        os.umask(old)


# ---------------------------------------------------------------- item 6: a busy store
def hold_write_lock(db: Path) -> sqlite3.Connection:
    """A second writer on the same file, holding its write lock until closed."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    conn.execute("BEGIN IMMEDIATE")
    return conn


class LockAfterFirstAcceptance:
    """The real SMTP mailer; once the server accepted the first message, another writer
    takes the store's lock (as an import or an evaluation would)."""

    def __init__(self, inner: SmtpMailer, db: Path) -> None:
        self.inner, self.db = inner, db
        self.where = inner.where
        self.holder: sqlite3.Connection | None = None

    def send(self, **kwargs: object) -> str:
        where = self.inner.send(**kwargs)  # type: ignore[arg-type]
        if self.holder is None:
            self.holder = hold_write_lock(self.db)
        return where

    def close(self) -> None:
        self.inner.close()


def short_busy_timeout(url: str, ms: int = 300) -> Engine:
    """The store as `open_store` makes it, but waiting `ms` for a lock instead of 30 s."""
    engine = open_store(url, auto_upgrade=True)

    @event.listens_for(engine, "connect")
    def _busy(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.execute(f"PRAGMA busy_timeout = {ms}")

    engine.dispose()
    return engine


def smtp_mailer(server: SmtpServer | MisbehavingServer, timeout: float = 5) -> SmtpMailer:
    return SmtpMailer(
        SmtpSettings(host="127.0.0.1", port=server.port, security="none", timeout=timeout)
    )


def test_a_store_locked_when_sent_is_committed_neither_resends_nor_strands_the_rest(
    tmp_path: Path,
) -> None:
    engine = short_busy_timeout(sqlite_url(tmp_path))
    ids = queue_plain(engine, 6)
    db = tmp_path / "store.db"
    with start_server(tmp_path) as server:
        mailer = LockAfterFirstAcceptance(smtp_mailer(server), db)
        report = deliver_pending(engine, mailer, settings=SETTINGS, clock=clock_at(T0))
        assert [i for i, _ in report.sent] == [1] and report.released == 5
        assert report.stopped and "存储繁忙" in report.stopped and "#1" in report.stopped
        assert report.journaled == [1] and report.unrecorded == [] and not report.ok
        assert read_statuses(db) == {i: "sending" for i in range(1, 7)}  # the lock still holds
        folder = journal_dir(engine)
        assert folder is not None and stat.S_IMODE(folder.stat().st_mode) == 0o700
        entries = sorted(folder.glob("*.json"))
        assert [json.loads(p.read_text())["kind"] for p in entries] == ["sent", "release"]
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in entries)

        assert mailer.holder is not None
        mailer.holder.rollback()  # the other writer is done
        mailer.holder.close()
        again = deliver_pending(engine, smtp_mailer(server), settings=SETTINGS, clock=clock_at(T0))
        assert sorted(i for i, _ in again.sent) == [2, 3, 4, 5, 6] and again.ok  # no lease wait
        assert received_ids(server) == Counter(ids)  # each exactly once
    assert statuses(engine) == {"sent": 6}
    assert not folder.exists()  # all recorded: nothing is left beside the store
    engine.dispose()


def test_outbox_send_with_the_store_locked_past_its_busy_timeout_exits_cleanly(
    tmp_path: Path,
) -> None:
    """`fundmon outbox send` for real; another process holds the lock for 35 s, longer than
    the store's 30 s busy timeout, from before the server accepts message #1."""
    url, db = sqlite_url(tmp_path), tmp_path / "store.db"
    engine = open_store(url, auto_upgrade=True)
    ids = queue_plain(engine, 6)
    with start_server(tmp_path) as server:
        server.control(delay=2.0)  # #1's reply comes after the other writer took the lock
        conf = smtp_config(tmp_path, server.port)
        sender = fundmon(url, conf, "outbox", "send")
        wait_for(lambda: "sending" in read_statuses(db).values(), what="the claim")
        locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(db), "35"], stdout=subprocess.PIPE, text=True
        )
        assert locker.stdout is not None and locker.stdout.readline().strip() == "LOCKED"
        out, err = sender.communicate(timeout=150)
        locker.communicate(timeout=60)
        assert "Traceback" not in err, err
        assert sender.returncode == 1 and "存储繁忙" in err, (out, err)
        assert "已发送 1 封" in out and "5 封未尝试" in out
        # the lock went at 35 s: the run wrote #1 sent and gave the five back before it ended
        assert read_statuses(db) == {1: "sent", **{i: "pending" for i in range(2, 7)}}
        server.control()
        again = fundmon(url, conf, "outbox", "send")
        out, err = again.communicate(timeout=60)
        assert again.returncode == 0 and "已发送 5 封" in out, (out, err)
        assert received_ids(server) == Counter(ids)
    engine.dispose()


LOCKER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN IMMEDIATE")
print("LOCKED", flush=True)
if sys.argv[2] == "stdin":
    sys.stdin.readline()
else:
    time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


def test_a_sender_killed_while_the_store_is_locked_does_not_resend_what_was_accepted(
    tmp_path: Path,
) -> None:
    """SIGKILL while the commit of "sent" waits for the lock: the write-ahead journal entry
    is on disk, so the next run records #1 as sent instead of sending it again."""
    url, db = sqlite_url(tmp_path), tmp_path / "store.db"
    engine = open_store(url, auto_upgrade=True)
    ids = queue_plain(engine, 4)
    folder = journal_dir(engine)
    assert folder is not None
    with start_server(tmp_path) as server:
        server.control(delay=2.0)  # #1 is answered after the lock is taken
        sender = fundmon(url, smtp_config(tmp_path, server.port), "outbox", "send")
        wait_for(lambda: "sending" in read_statuses(db).values(), what="the claim")
        locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(db), "stdin"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert locker.stdout is not None and locker.stdout.readline().strip() == "LOCKED"
        wait_for(lambda: any(folder.glob("*.json")), what="the journal entry")
        sender.send_signal(signal.SIGKILL)
        sender.communicate(timeout=30)
        assert locker.stdin is not None
        locker.communicate("go\n", timeout=30)
        server.control()
        now = dt.datetime.now(dt.UTC)
        at_once = deliver_pending(engine, smtp_mailer(server), settings=SETTINGS, clock=lambda: now)
        assert at_once.sent == []  # the dead sender's other rows wait for their lease
        assert read_statuses(db)[1] == "sent"
        later = now + dt.timedelta(hours=2)
        after = deliver_pending(engine, smtp_mailer(server), settings=SETTINGS, clock=lambda: later)
        assert sorted(i for i, _ in after.sent) == [2, 3, 4]
        assert received_ids(server) == Counter(ids)  # #1 once: never resent
    engine.dispose()


class CutAfterFirstAcceptance:
    """The real SMTP mailer; once the server accepted the first message, PostgreSQL goes
    away (every connection reset) and comes back `outage` seconds later."""

    def __init__(self, inner: SmtpMailer, proxy: TcpProxy, outage: float | None) -> None:
        self.inner, self.proxy, self.outage = inner, proxy, outage
        self.where = inner.where
        self.cut = False

    def send(self, **kwargs: object) -> str:
        where = self.inner.send(**kwargs)  # type: ignore[arg-type]
        if not self.cut:
            self.cut = True
            self.proxy.cut()
            if self.outage is not None:
                threading.Timer(self.outage, self.proxy.start).start()
        return where

    def close(self) -> None:
        self.inner.close()


def test_postgresql_gone_when_sent_is_committed_records_it_on_its_return(
    tmp_path: Path, pg_url: str
) -> None:
    proxy = TcpProxy("127.0.0.1", 5432).start()
    via_proxy = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    assert via_proxy != pg_url
    engine = open_store(via_proxy, auto_upgrade=True)
    ids = queue_plain(engine, 3)
    with start_server(tmp_path) as server:
        mailer = CutAfterFirstAcceptance(smtp_mailer(server), proxy, outage=3.0)
        report = deliver_pending(engine, mailer, settings=SETTINGS, clock=clock_at(T0))
        assert sorted(i for i, _ in report.sent) == [1, 2, 3] and report.ok, report
        assert received_ids(server) == Counter(ids)
    assert statuses(engine) == {"sent": 3}
    engine.dispose()
    proxy.cut()


def test_postgresql_gone_for_good_stops_the_run_and_says_what_may_be_sent_again(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_module, "OUTCOME_PATIENCE", 2.0)
    proxy = TcpProxy("127.0.0.1", 5432).start()
    via_proxy = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    engine = open_store(via_proxy, auto_upgrade=True)
    queue_plain(engine, 3)
    with start_server(tmp_path) as server:
        mailer = CutAfterFirstAcceptance(smtp_mailer(server), proxy, outage=None)
        report = deliver_pending(engine, mailer, settings=SETTINGS, clock=clock_at(T0))
    assert [i for i, _ in report.sent] == [1] and report.unrecorded == [1]
    assert report.stopped and "#1" in report.stopped and "Message-ID" in report.stopped
    engine.dispose()


# ---------------------------------------------------------------- item 7: deadlines
MESSAGE = b"From: a@example.org\r\nTo: b@example.org\r\nMessage-ID: <m1@x>\r\n\r\nhello\r\n"


@pytest.mark.parametrize("mode", ["greeting-lines", "greeting-bytes"])
def test_a_server_trickling_its_greeting_is_left_at_the_connection_deadline(
    tmp_path: Path, mode: str
) -> None:
    with MisbehavingServer(tmp_path / "srv", mode, interval=0.5, stall=30) as server:
        mailer = smtp_mailer(server, timeout=2)  # each line or byte well inside 2 s
        start = time.monotonic()
        with pytest.raises(DeliveryError) as caught:
            mailer.send(sender="a@example.org", rcpt="b@example.org", content=MESSAGE, name="x")
        took = time.monotonic() - start
    deadline = 4.0  # twice the timeout, by default
    assert deadline * 0.9 < took < 3 * deadline, took
    assert caught.value.scope == "connection" and not caught.value.permanent
    assert "4 秒内完成连接" in str(caught.value), str(caught.value)


def test_a_server_trickling_its_reply_to_data_is_left_at_the_message_deadline(
    tmp_path: Path,
) -> None:
    engine = open_store(sqlite_url(tmp_path), auto_upgrade=True)
    queue_plain(engine, 3)
    with MisbehavingServer(tmp_path / "srv", "data-reply", interval=0.5, stall=30) as server:
        start = time.monotonic()
        report = deliver_pending(
            engine, smtp_mailer(server, timeout=2), settings=SETTINGS, clock=clock_at(T0)
        )
        took = time.monotonic() - start
        assert len(server.received()) == 2  # the content arrived; the reply never did
    # two messages each left at its 4 s deadline (plus its size at 100 KB/s), then the run
    # stops after two connection failures in a row
    assert took < 3 * 2 * 4.1, took
    assert [i for i, _ in report.deferred] == [1, 2] and report.released == 1
    reason = report.deferred[0][1]
    assert "秒内完成本封邮件的投递" in reason and "可能已收下" in reason, reason
    assert statuses(engine) == {"pending": 3}
    engine.dispose()


def test_outbox_send_against_a_trickling_server_ends_within_its_deadlines(tmp_path: Path) -> None:
    """The reported case: `timeout = 5`, 220- lines every 3 s; here 2 s and every 0.5 s."""
    url = sqlite_url(tmp_path)
    engine = open_store(url, auto_upgrade=True)
    queue_plain(engine, 3)
    with MisbehavingServer(tmp_path / "srv", "greeting-lines", interval=0.5, stall=60) as server:
        start = time.monotonic()
        proc = fundmon(url, smtp_config(tmp_path, server.port, timeout=2), "outbox", "send")
        out, err = proc.communicate(timeout=120)
        took = time.monotonic() - start
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert took < 3 * 2 * 4.0 + 5, took  # two connections at 4 s each, and start-up
    assert "暂缓 #1" in err and "4 秒内完成连接" in err and "1 封未尝试" in out, (out, err)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, attempts FROM outbox ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("pending", 1), ("pending", 1), ("pending", 0)]
    engine.dispose()


def test_queue_alerts_survives_a_fund_whose_headline_fails(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even the stored headline of an event failing does not abort the queueing."""
    from test_alerts import result

    from monitor.notify import outbox as ob

    real = ob.headline

    def breaks(event, *args):  # type: ignore[no-untyped-def]
        if event.snapshot.region_code == "341722":
            raise ValueError("broken headline")
        return real(event, *args)

    monkeypatch.setattr(ob, "headline", breaks)
    config = Config(raw={"alerts": {"routes": [{"to": ["fund@example.org"]}]}})
    with engine.begin() as conn:
        report = queue_alerts(
            conn,
            [result("341721", "resident", "red"), result("341722", "resident", "orange")],
            config=config,
            now=T0,
        )
    assert (report.events, report.mails) == (2, 1)
    with engine.connect() as conn:
        heads = [r.headline for r in conn.execute(select(alerts_table).order_by("id"))]
    assert heads[0].startswith("【红色预警】东至县") and "341722" in heads[1]
