"""The outbox on SQLite and PostgreSQL against a real SMTP server process: delivered once,
retried with backoff through an outage, failed and retried on request, one bad recipient
not blocking the others, at most one resend after a crash, two senders at once; and the
whole path from `fundmon evaluate` on the demo city to messages in a mailbox."""

from __future__ import annotations

import datetime as dt
import email
import os
import re
import subprocess
import sys
from collections import Counter
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from smtp_server import SmtpServer, make_certificates, start_server
from sqlalchemy import Engine, select

from monitor.config.alerts import AlertSettings, SmtpSettings, alert_settings
from monitor.config.settings import Config
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv
from monitor.notify.mailer import FileMailer, SmtpMailer
from monitor.notify.outbox import (
    ack_alert,
    add_silence,
    bulletin_alerts,
    claim,
    deliver_pending,
    enqueue,
    list_alerts,
    load_silences,
    outbox_counts,
    queue_alerts,
    remove_silence,
    utc,
)
from monitor.store.schema import alerts as alerts_table
from monitor.store.schema import outbox

T0 = dt.datetime(2025, 1, 6, 1, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
SETTINGS = AlertSettings(max_attempts=3)


def clock_at(t: dt.datetime):  # type: ignore[no-untyped-def]
    return lambda: t


def smtp(server: SmtpServer) -> SmtpMailer:
    return SmtpMailer(SmtpSettings(host="127.0.0.1", port=server.port, security="none", timeout=5))


def queue_plain(engine: Engine, n: int, *, to: str = "r{i}@example.org") -> list[str]:
    """n small messages, each with its own Message-ID; returns the ids."""
    ids = []
    with engine.begin() as conn:
        for i in range(n):
            msg = EmailMessage()
            msg["Subject"] = f"【测试】第 {i} 封"
            msg["From"] = "fundmon@example.org"
            msg["To"] = to.format(i=i)
            msg["Message-ID"] = f"<test.{i}@example.org>"
            msg.set_content(f"第 {i} 封")
            enqueue(
                conn,
                message_id=msg["Message-ID"],
                recipient=to.format(i=i),
                sender="fundmon@example.org",
                subject=str(msg["Subject"]),
                content=msg.as_bytes(),
                alert_ids=[],
                now=T0,
            )
            ids.append(msg["Message-ID"])
    return ids


def statuses(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(Counter(r.status for r in conn.execute(select(outbox.c.status))))


def received_ids(server: SmtpServer) -> Counter[str]:
    return Counter(
        email.message_from_bytes(raw, policy=policy.default)["Message-ID"]
        for _, raw in server.messages()
    )


# ---------------------------------------------------------------- once
def test_alerts_queued_by_an_evaluation_are_delivered_once(engine: Engine, tmp_path: Path) -> None:
    from test_alerts import result

    config = Config(raw={"alerts": {"routes": [{"to": ["fund@example.org"]}]}})
    with engine.begin() as conn:
        report = queue_alerts(
            conn,
            [result("341721", "resident", "red"), result("341722", "resident", "orange")],
            config=config,
            now=T0,
        )
    assert (report.events, report.mails) == (2, 1)  # one digest
    mailer = FileMailer(tmp_path / "mail")
    first = deliver_pending(engine, mailer, settings=SETTINGS, clock=clock_at(T0))
    assert len(first.sent) == 1 and first.ok
    again = deliver_pending(engine, mailer, settings=SETTINGS, clock=clock_at(T0))
    assert again.sent == []
    restarted = type(engine)  # a new process opens the store afresh: still nothing to send
    from monitor.store.db import open_store

    fresh = open_store(str(engine.url.render_as_string(hide_password=False)), auto_upgrade=True)
    assert isinstance(fresh, restarted)
    later = deliver_pending(
        fresh, mailer, settings=SETTINGS, clock=clock_at(T0 + dt.timedelta(days=1))
    )
    fresh.dispose()
    assert later.sent == [] and statuses(engine) == {"sent": 1}
    [eml] = (tmp_path / "mail").glob("*.eml")
    parsed = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert str(parsed["Subject"]) == "【基金风险预警】2 项：红色 1、橙色 1"


def test_acks_and_silences_are_stored_with_who_when_and_why(engine: Engine) -> None:
    from test_alerts import result

    config = Config(raw={"alerts": {"routes": [{"to": ["fund@example.org"]}]}})
    settings = alert_settings(config)
    hour = dt.timedelta(hours=1)
    with engine.begin() as conn:
        queue_alerts(conn, [result("341721", "resident", "red")], config=config, now=T0)
        [alert] = list_alerts(conn)
        done = ack_alert(conn, alert.id, by="张三", note="已约谈", now=T0 + hour, settings=settings)
        assert done.until == T0 + hour + settings.ack_expires
        silence_id, covered = add_silence(
            conn, region_glob="3417*", fund="*", until=T0 + 10 * DAY, reason="核查", by="李四",
            now=T0 + hour,
        )  # fmt: skip
        assert covered == 1
    with engine.connect() as conn:
        seen = bulletin_alerts(conn, month="2024-12", now=T0 + 2 * hour)
    assert [(a["by"], a["note"], a["level"]) for a in seen["acks"]] == [("张三", "已约谈", "red")]
    assert [(x["by"], x["reason"], x["region_glob"]) for x in seen["silences"]] == [
        ("李四", "核查", "3417*")
    ]
    assert seen["events"][0]["kind"] == "raise" and seen["events"][0]["acked_by"] == "张三"

    with engine.begin() as conn:  # the fund clears: the acknowledgement ends with the episode
        report = queue_alerts(
            conn, [result("341721", "resident", "green", month="2025-01")], config=config,
            now=T0 + DAY,
        )  # fmt: skip
        assert (report.events, report.mails, report.suppressed) == (1, 0, 1)
        row = conn.execute(select(alerts_table).where(alerts_table.c.id == alert.id)).one()
        assert utc(row.ack_until) == T0 + DAY and row.ack_note == "已约谈"
        assert bulletin_alerts(conn, month="2025-01", now=T0 + DAY)["acks"] == []
        remove_silence(conn, silence_id, by="李四", now=T0 + DAY)
        assert load_silences(conn, T0 + DAY) == []


# ---------------------------------------------------------------- outage and failures
def test_outage_then_recovery_loses_nothing(engine: Engine, tmp_path: Path) -> None:
    ids = queue_plain(engine, 3)
    server = start_server(tmp_path, "first")
    port = server.port
    server.kill()  # the server goes down before the run
    down = deliver_pending(
        engine,
        SmtpMailer(SmtpSettings(host="127.0.0.1", port=port, security="none", timeout=2)),
        settings=SETTINGS,
        clock=clock_at(T0),
    )
    assert down.sent == [] and len(down.deferred) == 2 and down.released == 1  # stops early
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(outbox))}
    assert [r.attempts for r in rows.values()] == [1, 1, 0]
    assert all(
        r.status == "pending" and "无法连接" in (r.last_error or "x无法连接") for r in rows.values()
    )

    with start_server(tmp_path, "second") as back:  # back up (on another port)
        early = deliver_pending(
            engine, smtp(back), settings=SETTINGS, clock=clock_at(T0 + dt.timedelta(seconds=30))
        )
        assert [i for i, _ in early.sent] == [3]  # the two deferred wait out their backoff
        later = deliver_pending(
            engine, smtp(back), settings=SETTINGS, clock=clock_at(T0 + dt.timedelta(minutes=2))
        )
        assert sorted(i for i, _ in later.sent) == [1, 2]
        assert received_ids(back) == Counter(ids)  # every one, once
    assert statuses(engine) == {"sent": 3}


def test_after_max_attempts_a_message_is_failed_listed_and_retried_on_request(
    engine: Engine, tmp_path: Path, cli
) -> None:
    queue_plain(engine, 1)
    with start_server(tmp_path) as server:
        server.control(data=451)
        t = T0
        for attempt in range(1, 4):
            report = deliver_pending(engine, smtp(server), settings=SETTINGS, clock=clock_at(t))
            assert len(report.deferred if attempt < 3 else report.failed) == 1
            t += SETTINGS.backoff(attempt)
        assert statuses(engine) == {"failed": 1}
        with engine.connect() as conn:
            assert outbox_counts(conn, now=t)["failed"] == 1
        listed = cli("outbox", "list", "--failed")
        assert listed.exit_code == 0 and "失败" in listed.output and "451" in listed.output
        assert "已尝试 3 次" in listed.output
        nothing = deliver_pending(engine, smtp(server), settings=SETTINGS, clock=clock_at(t))
        assert nothing.sent == [] and nothing.failed == []  # failed stays failed, not dropped
        assert cli("outbox", "retry", "--all").output.startswith("已重新排入 1 封")
        server.control()
        wall = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)  # the CLI read the real clock
        fixed = deliver_pending(engine, smtp(server), settings=SETTINGS, clock=clock_at(wall))
        assert len(fixed.sent) == 1 and len(server.messages()) == 1
    refused = cli("outbox", "retry", "1")
    assert refused.exit_code == 1 and "已发送" in refused.stderr


def test_a_refused_recipient_does_not_block_the_others(engine: Engine, tmp_path: Path) -> None:
    queue_plain(engine, 4)  # r0 … r3
    with start_server(tmp_path) as server:
        server.control(reject={"r1@example.org": 550, "r2@example.org": 450})
        report = deliver_pending(engine, smtp(server), settings=SETTINGS, clock=clock_at(T0))
        assert sorted(i for i, _ in report.sent) == [1, 4]
        assert [i for i, _ in report.failed] == [2] and "550" in report.failed[0][1]
        assert [i for i, _ in report.deferred] == [3]
        assert sorted(r for m, _ in server.messages() for r in m["rcpt_tos"]) == [
            "r0@example.org",
            "r3@example.org",
        ]


# ---------------------------------------------------------------- crash and concurrency
class Crash(BaseException):
    """The process dies (kill -9) right after the server accepted a message."""


class CrashAfterAcceptance:
    def __init__(self, inner: SmtpMailer) -> None:
        self.inner = inner
        self.where = inner.where

    def send(self, **kwargs: object) -> str:
        self.inner.send(**kwargs)  # type: ignore[arg-type]
        raise Crash

    def close(self) -> None:
        self.inner.close()


def test_a_crash_after_acceptance_resends_at_most_once_with_the_same_message_id(
    engine: Engine, tmp_path: Path
) -> None:
    ids = queue_plain(engine, 3)
    lease = dt.timedelta(minutes=10)
    with start_server(tmp_path) as server:
        with pytest.raises(Crash):
            deliver_pending(
                engine,
                CrashAfterAcceptance(smtp(server)),
                settings=SETTINGS,
                clock=clock_at(T0),
                lease=lease,
            )
        assert received_ids(server) == Counter([ids[0]])
        restart = deliver_pending(
            engine, smtp(server), settings=SETTINGS, clock=clock_at(T0 + lease / 2), lease=lease
        )
        assert restart.sent == []  # the dead sender's claim still holds
        after = deliver_pending(
            engine,
            smtp(server),
            settings=SETTINGS,
            clock=clock_at(T0 + lease + dt.timedelta(seconds=1)),
            lease=lease,
        )
        assert sorted(i for i, _ in after.sent) == [1, 2, 3]
        final = deliver_pending(
            engine, smtp(server), settings=SETTINGS, clock=clock_at(T0 + dt.timedelta(days=1))
        )
        assert final.sent == []
        assert received_ids(server) == Counter({ids[0]: 2, ids[1]: 1, ids[2]: 1})
        copies = [raw for _, raw in server.messages() if ids[0].encode() in raw]
        assert copies[0] == copies[1]  # byte for byte: the same message, not a new one


def test_a_claim_takes_at_most_its_batch_and_never_a_claimed_row(engine: Engine) -> None:
    queue_plain(engine, 50)
    lease = dt.timedelta(minutes=5)
    first = claim(engine, worker="a", now=T0, limit=20, lease=lease)
    second = claim(engine, worker="b", now=T0, limit=20, lease=lease)
    rest = claim(engine, worker="c", now=T0, limit=20, lease=lease)
    assert [len(first), len(second), len(rest)] == [20, 20, 10]
    assert not {r.id for r in first} & {r.id for r in second}
    assert claim(engine, worker="d", now=T0 + lease / 2, limit=20, lease=lease) == []
    assert len(claim(engine, worker="e", now=T0 + 2 * lease, limit=100, lease=lease)) == 50


def test_two_send_processes_at_once_never_send_a_message_twice(
    engine: Engine, store_url: str, tmp_path: Path
) -> None:
    n = 100
    ids = queue_plain(engine, n)
    with start_server(tmp_path) as server:
        server.control(delay=0.03)  # ~3 s of sending: the two processes overlap
        conf = tmp_path / "config.toml"
        conf.write_text(
            f'[smtp]\nhost = "127.0.0.1"\nport = {server.port}\nsecurity = "none"\n'
            'sender = "fundmon@example.org"\n',
            encoding="utf-8",
        )
        env = {**os.environ, "FUNDMON_CONFIG": str(conf)}
        cmd = [sys.executable, "-m", "monitor", "--db", store_url, "outbox", "send"]
        procs = [
            subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        got = received_ids(server)
    assert got == Counter(ids)  # each exactly once
    per_process = [int(re.search(r"已发送 (\d+) 封", out).group(1)) for out in outputs]  # type: ignore[union-attr]
    assert sum(per_process) == n and min(per_process) > 0, per_process  # both took a share
    assert statuses(engine) == {"sent": n}


# ---------------------------------------------------------------- end to end
@pytest.fixture
def city_with_mail(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The demo city imported, with routes and a STARTTLS + AUTH LOGIN SMTP server."""
    _, cert, key = make_certificates(tmp_path / "certs")  # config.toml names certs/ca.pem
    server = start_server(
        tmp_path, security="starttls", cert=cert, key=key, auth="fundmon:pw", mechanisms="LOGIN"
    )
    conf = tmp_path / "config.toml"
    conf.write_text(
        f"""
[forecast]
horizon = 12
paths = 300
workers = 2

[alerts]
bulletin_url = "https://intranet.example.org/bulletin/{{month}}/"

[[alerts.routes]]
levels = ["yellow", "orange", "red", "notice"]
to = ["基金科 <fund@example.org>"]

[[alerts.routes]]
levels = ["red"]
to = ["局长 <leader@example.org>"]

[[alerts.routes]]
regions = ["341721"]
to = ["dongzhi@example.org"]

[smtp]
host = "127.0.0.1"
port = {server.port}
security = "starttls"
username = "fundmon"
password_env = "FUNDMON_TEST_SMTP_PASSWORD"
sender = "医保基金监测 <fundmon@example.org>"
cafile = "certs/ca.pem"
timeout = 10
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("FUNDMON_CONFIG", str(conf))
    monkeypatch.setenv("FUNDMON_TEST_SMTP_PASSWORD", "pw")
    monkeypatch.setenv("FUNDMON_USER", "张三")
    try:  # a failed import must not leave the server process behind
        write_canonical_csv(demo_city().ledger, tmp_path / "demo.csv")
        assert cli("import", "--unit", "元", str(tmp_path / "demo.csv")).exit_code == 0
        yield server
    finally:
        server.stop()


def test_evaluate_queues_and_outbox_send_delivers_the_demo_citys_alerts(
    city_with_mail: SmtpServer, cli
) -> None:
    server = city_with_mail
    evaluated = cli("evaluate")
    assert evaluated.exit_code == 0
    assert "预警邮件：5 项预警事件，已排入发件箱 3 封" in evaluated.stderr

    sent = cli("outbox", "send")
    assert sent.exit_code == 0, sent.output
    assert "已发送 3 封" in sent.output
    mail = {
        m["rcpt_tos"][0]: email.message_from_bytes(raw, policy=policy.default)
        for m, raw in server.messages()
    }
    assert all(m["tls"] and m["mechanism"] == "LOGIN" for m, _ in server.messages())
    assert str(mail["leader@example.org"]["Subject"]) == (
        "【红色预警】东至县 居民医保 可支付月数 2.4 个月"
    )
    assert str(mail["fund@example.org"]["Subject"]).startswith(
        "【基金风险预警】5 项：红色 1、橙色 1"
    )
    digest_html = mail["fund@example.org"].get_body(("html",)).get_content()
    assert digest_html.index("东至县") < digest_html.index("石台县")  # red before orange
    assert "https://intranet.example.org/bulletin/2024-12/" in digest_html
    county = mail["dongzhi@example.org"].get_body(("plain",)).get_content()
    assert "12 个月内基金耗尽" in county and "预警原因" in county

    again = cli("evaluate")
    assert "级别无变化" in again.stderr
    assert "已发送 0 封" in cli("outbox", "send").output
    assert len(server.messages()) == 3  # nothing twice

    listed = cli("alerts", "list")
    assert (
        listed.exit_code == 0 and "东至县（341721）" in listed.output and "新预警" in listed.output
    )
    red_id = next(
        line.split()[0]
        for line in listed.output.splitlines()
        if "东至县" in line and "红色" in line
    )
    acked = cli("alerts", "ack", red_id, "--note", "已约谈县局")
    assert acked.exit_code == 0 and "已确认" in acked.output, acked.output
    active = cli("alerts", "list", "--active")
    assert "张三 确认至" in active.output and "已约谈县局" in active.output

    silenced = cli(
        "alerts", "silence", "--region", "3417*", "--until", "2099-01-31", "--reason", "核查"
    )
    assert silenced.exit_code == 0 and "已静默 #1" in silenced.output
    assert "目前覆盖 10 个基金" in silenced.output
    assert "生效中的静默" in cli("alerts", "list", "--active").output
    assert cli("alerts", "unsilence", "1").exit_code == 0
    assert cli("alerts", "unsilence", "1").exit_code == 1
    assert cli("alerts", "ack", "9999").exit_code == 1
    assert cli("alerts", "silence", "--region", "3417*", "--until", "2001-01-01").exit_code == 2
