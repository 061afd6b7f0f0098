"""Issue 16: nothing raised is lost because routing changed.

Alerts raised while no route matched were recorded and never sent, even after routes were
added. Now: `fundmon status` and `alerts list` show the open alerts no route delivers; a route
that comes to match an open alert (added, or widened) gets it once, at the next `outbox send`
or evaluation; running again sends nothing more; concurrent senders do not send it twice.

Through the CLI as a user would, on SQLite and PostgreSQL, with a real SMTP server process.
"""

from __future__ import annotations

import csv
import email
import io
import json
import os
import subprocess
import sys
from collections import Counter
from email import policy
from pathlib import Path

import pytest
from smtp_server import SmtpServer, start_server
from sqlalchemy import Engine, select

from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv
from monitor.store.schema import alert_state, outbox

HEAD = """
[forecast]
horizon = 12
paths = 300
workers = 2

[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
sender = "医保基金监测 <fundmon@example.org>"
timeout = 10
"""
FUND_OFFICE = """
[[alerts.routes]]
levels = ["yellow", "orange", "red"]
to = ["基金科 <fund@example.org>"]
"""
LEADER = """
[[alerts.routes]]
levels = {levels}
to = ["局长 <leader@example.org>"]
"""


class City:
    def __init__(self, server: SmtpServer, conf: Path) -> None:
        self.server, self.conf = server, conf

    def routes(self, *parts: str) -> None:
        self.conf.write_text(HEAD.format(port=self.server.port) + "".join(parts), encoding="utf-8")

    def mail(self, since: int = 0) -> list[tuple[str, str, str]]:
        out = []
        for meta, raw in self.server.messages()[since:]:
            msg = email.message_from_bytes(raw, policy=policy.default)
            body = msg.get_body(("plain",))
            text = body.get_content() if body else ""
            out.append((meta["rcpt_tos"][0], str(msg["Subject"]), text))
        return out


@pytest.fixture
def city(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The demo city through 2024-11 imported; config.toml with [smtp] and no routes."""
    server = start_server(tmp_path, security="none")
    conf = tmp_path / "config.toml"
    monkeypatch.setenv("FUNDMON_CONFIG", str(conf))
    c = City(server, conf)
    c.routes()
    try:
        ledger = demo_city().ledger
        write_canonical_csv(ledger[ledger["month"] < "2024-12"], tmp_path / "history.csv")
        write_canonical_csv(ledger[ledger["month"] == "2024-12"], tmp_path / "december.csv")
        assert cli("import", "--unit", "元", str(tmp_path / "history.csv")).exit_code == 0
        yield c
    finally:
        server.stop()


def _open(engine: Engine) -> dict[tuple[str, str], tuple[str, int]]:
    """(region, fund) → (level, open alert id) of every fund at a colour."""
    with engine.connect() as conn:
        rows = conn.execute(select(alert_state.c.state)).scalars().all()
    return {
        (s["region_code"], s["fund"]): (s["level"], s["alert_id"])
        for s in rows
        if s["level"] != "green"
    }


def _deliveries(engine: Engine) -> Counter[tuple[str, int]]:
    """(envelope recipient, alert id) → how many outbox messages carry it."""
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.rcpt, outbox.c.alert_ids)).all()
    return Counter((r.rcpt, int(a)) for r in rows for a in r.alert_ids)


def test_open_alerts_reach_a_route_added_later_once(city: City, cli, engine: Engine) -> None:
    evaluated = cli("evaluate")
    assert evaluated.exit_code == 0, evaluated.output
    assert "无匹配的收件人" in evaluated.output
    opened = _open(engine)
    assert opened and any(level == "red" for level, _ in opened.values())
    assert cli("outbox", "send").exit_code == 0
    assert city.mail() == []  # nobody to send to

    # where an analyst or operator looks: the open alerts nobody is told of
    status = cli("status")
    assert f"{len(opened)} 项当前预警没有匹配的收件人" in status.output, status.output
    assert "东至县" in status.output
    listed = cli("alerts", "list")
    assert "没有匹配的收件人" in listed.output and "东至县（341721）" in listed.output
    active = cli("alerts", "list", "--active", "--format", "json")
    data = json.loads(active.stdout)
    unrouted = {(f["region_code"], f["fund"]) for f in data["funds"] if f["delivery"] == "unrouted"}
    assert unrouted == set(opened)

    # a route is added: the next send delivers each open alert to it, once (one digest)
    city.routes(FUND_OFFICE, LEADER.format(levels='["red"]'))
    sent = cli("outbox", "send")
    assert sent.exit_code == 0, sent.output
    mail = city.mail()
    to_office = [m for m in mail if m[0] == "fund@example.org"]
    to_leader = [m for m in mail if m[0] == "leader@example.org"]
    assert len(to_office) == 1 and len(to_leader) == 1
    reds = [k for k, (level, _) in opened.items() if level == "red"]
    assert to_leader[0][1].startswith("【红色预警】东至县 居民医保") and len(reds) == 1
    assert "正常 → 红色" not in to_leader[0][2]  # it has been red for months, not since now
    got = _deliveries(engine)
    assert {a for (rcpt, a) in got if rcpt == "fund@example.org"} == {
        alert for _, alert in opened.values()
    }
    assert all(n == 1 for n in got.values())
    assert "没有匹配的收件人" not in cli("status").output

    # again: nothing more, from a send or from an evaluation of the same data
    assert cli("outbox", "send").exit_code == 0
    assert cli("evaluate").exit_code == 0
    assert cli("outbox", "send").exit_code == 0
    assert len(city.mail()) == 2

    # the leader's route widened to orange: the orange open alerts go to the leader, once
    city.routes(FUND_OFFICE, LEADER.format(levels='["orange", "red"]'))
    again = cli("evaluate")
    assert again.exit_code == 0 and "补发" in again.output, again.output
    assert cli("outbox", "send").exit_code == 0
    oranges = {alert for level, alert in opened.values() if level == "orange"}
    assert oranges
    new = city.mail(2)
    assert [m[0] for m in new] == ["leader@example.org"]
    got = _deliveries(engine)
    assert {a for (rcpt, a) in got if rcpt == "leader@example.org"} == oranges | {
        opened[k][1] for k in reds
    }
    assert all(n == 1 for n in got.values())
    assert cli("outbox", "send").exit_code == 0 and len(city.mail()) == 3

    # December: the ordinary lifecycle goes on; nothing already told is told again
    assert cli("import", "--unit", "元", str(city.conf.parent / "december.csv")).exit_code == 0
    assert cli("evaluate").exit_code == 0
    assert cli("outbox", "send").exit_code == 0
    assert all(n == 1 for n in _deliveries(engine).values())


def test_alerts_list_as_json_and_csv_say_what_the_table_says(
    city: City, cli, engine: Engine, tmp_path: Path
) -> None:
    assert cli("evaluate").exit_code == 0
    table = cli("alerts", "list").output
    rows = json.loads(cli("alerts", "list", "--format", "json").stdout)
    assert rows and all(f"#{r['id']}" in table or str(r["id"]) in table for r in rows)
    assert {r["delivery"] for r in rows if r["kind"] != "notice"} == {"unrouted"}
    piped = cli("alerts", "list", "--format", "csv").stdout
    assert not piped.startswith("\ufeff")  # a pipe: no BOM
    parsed = list(csv.DictReader(io.StringIO(piped)))
    assert [int(r["id"]) for r in parsed] == [r["id"] for r in rows]
    assert [r["level"] for r in parsed] == [r["level"] for r in rows]
    out = tmp_path / "alerts.csv"
    written = cli("alerts", "list", "--format", "csv", "--out", str(out))
    assert written.exit_code == 0, written.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a file for people: Excel reads it as UTF-8
    assert raw.decode("utf-8-sig") == piped
    assert cli("alerts", "list", "--out", str(out)).exit_code == 2  # --out needs csv
    active = json.loads(cli("alerts", "list", "--active", "--format", "json").stdout)
    active_csv = list(
        csv.DictReader(io.StringIO(cli("alerts", "list", "--active", "--format", "csv").stdout))
    )
    assert [(r["region_code"], r["fund"], r["level"]) for r in active_csv] == [
        (f["region_code"], f["fund"], f["level"]) for f in active["funds"]
    ]


def test_concurrent_senders_deliver_each_open_alert_once(
    city: City, cli, engine: Engine, store_url: str
) -> None:
    assert cli("evaluate").exit_code == 0
    opened = _open(engine)
    city.routes(FUND_OFFICE, LEADER.format(levels='["orange", "red"]'))
    env = {**os.environ, "FUNDMON_CONFIG": str(city.conf), "FUNDMON_DB": store_url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "monitor", "outbox", "send"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
    got = _deliveries(engine)
    assert all(n == 1 for n in got.values()), got
    leader = {alert for level, alert in opened.values() if level in ("orange", "red")}
    assert {a for (rcpt, a) in got if rcpt == "leader@example.org"} == leader
    assert {a for (rcpt, a) in got if rcpt == "fund@example.org"} == {a for _, a in opened.values()}
    rcpts = Counter(m[0] for m in city.mail())
    assert rcpts == Counter({"fund@example.org": 1, "leader@example.org": 1})
