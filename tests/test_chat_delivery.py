"""Alerts to chat channels (WeCom, DingTalk, Feishu robots, webhooks) through the outbox, on
SQLite and PostgreSQL, against a real HTTP server process on loopback (tests/chat_server.py)
standing in for each platform — driven through the CLI as an office would: `fundmon evaluate`,
`fundmon outbox send`, `list`, `retry`, the URLs in environment variables.

What they prove: the body parses and names the right fund and level; DingTalk's and Feishu's
signatures verify with the secret; an error code is a failure (listed, retried on request); a
rate-limit answer (WeCom 45009, HTTP 429 with Retry-After) waits what it was told; the server
down then up delivers once; two senders at once never post a message twice; a WeCom robot
gets at most 20 a minute, the 21st waiting for the next minute; e-mail and chat do not hold
each other up; a URL written into config.toml is refused; the demo writes what it would post.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from chat_server import ChatServer, start_chat_server
from smtp_server import start_server
from sqlalchemy import Engine, select

from monitor.config.alerts import alert_settings
from monitor.config.settings import Config, load_config
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv
from monitor.notify import poster as poster_module
from monitor.notify.mailer import FileMailer
from monitor.notify.outbox import deliver_pending, demo_alert_mail, enqueue, queue_alerts, utc
from monitor.notify.poster import Poster
from monitor.store.schema import outbox

DINGTALK_SECRET = "SEC0123456789abcdef-dingtalk"
FEISHU_SECRET = "feishu-secret-42"
ROBOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"  # the key a WeCom URL embeds


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def office(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: ChatServer,
    *,
    routes: str,
    smtp_port: int | None = None,
    extra: str = "",
) -> Path:
    """config.toml with four channels on the test server (their URLs in the environment, as
    an office sets them), `routes`, and [smtp] when a port is given."""
    smtp = (
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
        'sender = "医保基金监测 <fundmon@example.org>"\ntimeout = 5\n'
        if smtp_port
        else ""
    )
    conf = tmp_path / "config.toml"
    conf.write_text(
        f"""
[forecast]
horizon = 12
paths = 300
workers = 2

[alerts]
retry_backoff = "1s"
retry_backoff_max = "1s"
{extra}

[alerts.channels.jijinke_group]
kind = "wecom"
url_env = "FUNDMON_WECOM_URL"
secret_env = ""
mention = ["13800000000"]

[alerts.channels.leaders_ding]
kind = "dingtalk"
url_env = "FUNDMON_DINGTALK_URL"
secret_env = "FUNDMON_DINGTALK_SECRET"

[alerts.channels.finance_feishu]
kind = "feishu"
url_env = "FUNDMON_FEISHU_URL"
secret_env = "FUNDMON_FEISHU_SECRET"

[alerts.channels.ops_hook]
kind = "webhook"
url_env = "FUNDMON_HOOK_URL"

{routes}

{smtp}
""",
        encoding="utf-8",
    )
    monkeypatch.setenv("FUNDMON_CONFIG", str(conf))
    monkeypatch.setenv("FUNDMON_WECOM_URL", server.url(f"/wecom/send?key={ROBOT_KEY}"))
    monkeypatch.setenv("FUNDMON_DINGTALK_URL", server.url("/dingtalk/robot/send?access_token=t1"))
    monkeypatch.setenv("FUNDMON_DINGTALK_SECRET", DINGTALK_SECRET)
    monkeypatch.setenv("FUNDMON_FEISHU_URL", server.url("/feishu/open-apis/bot/v2/hook/h1"))
    monkeypatch.setenv("FUNDMON_FEISHU_SECRET", FEISHU_SECRET)
    monkeypatch.setenv("FUNDMON_HOOK_URL", server.url("/hook"))
    server.control(paths=PLATFORMS)
    return conf


PLATFORMS: dict[str, Any] = {
    "/wecom": {"platform": "wecom"},
    "/dingtalk": {"platform": "dingtalk", "secret": DINGTALK_SECRET},
    "/feishu": {"platform": "feishu", "secret": FEISHU_SECRET},
    "/hook": {"platform": "webhook"},
}
ALL_CHANNELS = (
    '[[alerts.routes]]\nlevels = ["orange", "red"]\n'
    'channels = ["jijinke_group", "leaders_ding", "finance_feishu", "ops_hook"]\n'
)


def route_to(*channels: str, to: tuple[str, ...] = ()) -> str:
    names = ", ".join(f'"{c}"' for c in channels)
    mails = ", ".join(f'"{t}"' for t in to)
    return f'[[alerts.routes]]\nlevels = ["yellow", "orange", "red"]\nchannels = [{names}]\n' + (
        f"to = [{mails}]\n" if to else ""
    )


def queue(engine: Engine, conf: Path, *funds: tuple[str, str, str]) -> list[int]:
    """An evaluation's results (region, fund, level) queued as alerts, as `evaluate` does."""
    from test_alerts import result

    config = load_config(conf)
    with engine.begin() as conn:
        report = queue_alerts(conn, [result(*f) for f in funds], config=config, now=now())
    return list(report.outbox_ids)


def rows(engine: Engine) -> dict[int, Any]:
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(outbox).order_by(outbox.c.id))}


def by_prefix(server: ChatServer, prefix: str) -> list[dict[str, Any]]:
    return [r for r in server.requests() if r["prefix"] == prefix]


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = start_chat_server(tmp_path)
    try:
        yield s
    finally:
        s.stop()


# ---------------------------------------------------------------- the whole path
@pytest.fixture
def city(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch, server: ChatServer):  # type: ignore[no-untyped-def]
    office(tmp_path, monkeypatch, server, routes=ALL_CHANNELS)
    write_canonical_csv(demo_city().ledger, tmp_path / "demo.csv")
    assert cli("import", "--unit", "元", str(tmp_path / "demo.csv")).exit_code == 0
    return server


def test_evaluate_then_send_posts_each_platform_its_message_signed_once(
    city: ChatServer, cli, engine: Engine
) -> None:
    server = city
    evaluated = cli("evaluate")
    assert evaluated.exit_code == 0, evaluated.output
    assert "已排入发件箱 4 封" in evaluated.stderr, evaluated.stderr  # one digest per channel
    sent = cli("outbox", "send")
    assert sent.exit_code == 0, sent.output + sent.stderr
    assert "已发送 4 封" in sent.output
    assert ROBOT_KEY not in sent.output + sent.stderr  # the URL is the robot's key: never shown

    got = {r["prefix"]: r for r in server.requests()}
    assert sorted(got) == ["/dingtalk", "/feishu", "/hook", "/wecom"]
    stored = {r.recipient: r for r in rows(engine).values()}
    assert {r.channel_kind for r in stored.values()} == {"wecom", "dingtalk", "feishu", "webhook"}
    # the message id travels as Idempotency-Key on every post, and inside the body
    for prefix, name in (("/wecom", "jijinke_group"), ("/dingtalk", "leaders_ding"),
                         ("/feishu", "finance_feishu"), ("/hook", "ops_hook")):  # fmt: skip
        request, row = got[prefix], stored[name]
        assert request["headers"]["idempotency-key"] == row.message_id
        assert request["headers"]["content-type"].startswith("application/json")
        body = json.loads(request["body"])
        text = json.dumps(body, ensure_ascii=False)
        assert "东至县" in text and "石台县" in text, prefix  # red and orange, one digest
        assert row.status == "sent" and row.delivered_to == f"{row.channel_kind}:{name}"
    # signatures made with the secret verify; WeCom and the webhook are not signed
    assert got["/dingtalk"]["sign_ok"] is True and got["/feishu"]["sign_ok"] is True
    assert set(got["/dingtalk"]["query"]) == {"access_token", "timestamp", "sign"}
    assert got["/wecom"]["sign_ok"] is None
    wecom = json.loads(got["/wecom"]["body"])
    assert wecom["msgtype"] == "markdown" and "红色" in wecom["markdown"]["content"]
    hook = json.loads(got["/hook"]["body"])
    assert hook["version"] == "4" and hook["status"] == "firing"
    labels = {(a["labels"]["region"], a["labels"]["fund"], a["labels"]["level"])
              for a in hook["alerts"]}  # fmt: skip
    assert ("341721", "resident", "red") in labels and ("341722", "resident", "orange") in labels

    listed = cli("outbox", "list")
    assert listed.exit_code == 0 and "jijinke_group" in listed.output, listed.output
    assert "企业微信" in listed.output and "钉钉" in listed.output and "飞书" in listed.output
    assert "已发送 0 封" in cli("outbox", "send").output
    assert len(server.requests()) == 4  # nothing twice


# ---------------------------------------------------------------- answers
def test_an_error_code_fails_the_message_listed_and_retried_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: ChatServer, cli, engine: Engine
) -> None:
    conf = office(tmp_path, monkeypatch, server, routes=route_to("jijinke_group", "ops_hook"))
    script = {"/wecom": {"platform": "wecom", "script": [
        {"times": 1, "body": {"errcode": 93000, "errmsg": "invalid webhook url"}}]}}  # fmt: skip
    server.control(paths={**PLATFORMS, **script})
    ids = queue(engine, conf, ("341721", "resident", "red"))
    assert len(ids) == 2
    first = cli("outbox", "send")
    assert first.exit_code == 1
    assert "93000" in first.stderr and "失败 #" in first.stderr, first.stderr
    [failed] = [r for r in rows(engine).values() if r.status == "failed"]
    assert failed.recipient == "jijinke_group" and "93000" in failed.last_error
    hook = next(r for r in rows(engine).values() if r.recipient == "ops_hook")
    assert hook.status == "sent"  # one channel's failure holds up no other

    listed = cli("outbox", "list", "--failed")
    assert "jijinke_group" in listed.output and "93000" in listed.output
    assert cli("outbox", "retry", str(failed.id)).exit_code == 0
    again = cli("outbox", "send")
    assert again.exit_code == 0 and "已发送 1 封" in again.output
    wecom = by_prefix(server, "/wecom")
    assert len(wecom) == 2 and len({r["headers"]["idempotency-key"] for r in wecom}) == 1


def test_an_unset_url_variable_waits_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: ChatServer, cli, engine: Engine
) -> None:
    conf = office(tmp_path, monkeypatch, server, routes=route_to("jijinke_group"))
    queue(engine, conf, ("341721", "resident", "red"))
    monkeypatch.delenv("FUNDMON_WECOM_URL")
    waiting = cli("outbox", "send")
    assert waiting.exit_code == 1 and "FUNDMON_WECOM_URL 未设置" in waiting.stderr
    [row] = rows(engine).values()
    assert row.status == "pending" and "FUNDMON_WECOM_URL" in row.last_error
    assert server.requests() == []


def test_rate_limit_answers_wait_what_they_were_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: ChatServer, cli, engine: Engine
) -> None:
    conf = office(tmp_path, monkeypatch, server, routes=route_to("jijinke_group", "ops_hook"))
    script = {
        "/wecom": {"platform": "wecom", "script": [
            {"times": 1, "body": {"errcode": 45009, "errmsg": "api freq out of limit"}}]},
        "/hook": {"platform": "webhook", "script": [
            {"times": 1, "status": 429, "headers": {"Retry-After": "30"}}]},
    }  # fmt: skip
    server.control(paths={**PLATFORMS, **script})
    queue(engine, conf, ("341721", "resident", "red"))
    start = now()
    limited = cli("outbox", "send")
    assert limited.exit_code == 1 and "45009" in limited.stderr and "429" in limited.stderr
    waits = {r.recipient: utc(r.next_attempt_at) - start for r in rows(engine).values()}
    # the backoff is 1 s: the waits are the platforms' — WeCom's minute, the webhook's 30 s
    assert dt.timedelta(seconds=59) <= waits["jijinke_group"] <= dt.timedelta(seconds=70)
    assert dt.timedelta(seconds=29) <= waits["ops_hook"] <= dt.timedelta(seconds=40)

    settings = alert_settings(load_config(conf))
    early = deliver_pending(engine, FileMailer(tmp_path / "mail"), settings=settings,
                            clock=lambda: start + dt.timedelta(seconds=20))  # fmt: skip
    assert early.sent == [] and len(server.requests()) == 2
    later = deliver_pending(engine, FileMailer(tmp_path / "mail"), settings=settings,
                            clock=lambda: start + dt.timedelta(seconds=75))  # fmt: skip
    assert len(later.sent) == 2 and later.ok
    assert {r.status for r in rows(engine).values()} == {"sent"}
    assert len(server.requests()) == 4  # each once refused, once taken


def test_the_server_down_then_up_delivers_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: ChatServer, cli, engine: Engine
) -> None:
    conf = office(tmp_path, monkeypatch, server, routes=route_to("leaders_ding"))
    queue(engine, conf, ("341721", "resident", "red"))
    server.stop()
    down = cli("outbox", "send")
    assert down.exit_code == 1 and "连接被拒绝" in down.stderr, down.stderr
    assert ROBOT_KEY not in down.stderr and "access_token" not in down.stderr
    server.start()  # the same port
    server.control(paths=PLATFORMS)
    time.sleep(1.1)  # the backoff (1 s)
    up = cli("outbox", "send")
    assert up.exit_code == 0 and "已发送 1 封" in up.output, up.output + up.stderr
    assert "已发送 0 封" in cli("outbox", "send").output
    [request] = server.requests()
    assert request["sign_ok"] is True  # signed afresh when sent, not when queued


def test_two_send_processes_at_once_never_post_a_message_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: ChatServer, engine: Engine,
    store_url: str,
) -> None:  # fmt: skip
    office(tmp_path, monkeypatch, server, routes=route_to("ops_hook"))
    n = 60
    with engine.begin() as conn:
        for i in range(n):
            enqueue(conn, message_id=f"<hook.{i}@fundmon>", recipient="ops_hook",
                    rcpt="channel:ops_hook", channel_kind="webhook", sender="fundmon@localhost",
                    subject=f"第 {i} 条", content=json.dumps({"i": i}).encode(), alert_ids=[],
                    now=now())  # fmt: skip
    server.control(paths=PLATFORMS, delay=0.03)  # ~2 s of posting: the two overlap
    cmd = [sys.executable, "-m", "monitor", "--db", store_url, "outbox", "send"]
    procs = [
        subprocess.Popen(cmd, env=dict(os.environ), cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    keys = Counter(r["headers"]["idempotency-key"] for r in server.requests())
    assert keys == Counter(f"<hook.{i}@fundmon>" for i in range(n))  # each exactly once
    shares = [int(re.search(r"已发送 (\d+) 封", out).group(1)) for out, _ in outputs]  # type: ignore[union-attr]
    assert sum(shares) == n and min(shares) > 0, shares


def test_a_wecom_robot_gets_20_a_minute_the_21st_waits_for_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: ChatServer, cli, engine: Engine
) -> None:
    conf = office(tmp_path, monkeypatch, server, routes=route_to("jijinke_group"))
    body = json.dumps({"msgtype": "text", "text": {"content": "测试"}}).encode()
    with engine.begin() as conn:
        for i in range(21):
            enqueue(conn, message_id=f"<wecom.{i}@fundmon>", recipient="jijinke_group",
                    rcpt="channel:jijinke_group", channel_kind="wecom",
                    sender="fundmon@localhost", subject=f"第 {i} 条", content=body,
                    alert_ids=[], now=now())  # fmt: skip
    sent = cli("outbox", "send")
    assert "已发送 20 封" in sent.output and "按渠道限速稍后发送 1 条" in sent.output, sent.output
    assert sent.exit_code == 0  # keeping to the limit is on time, not a delivery problem
    assert len(server.requests()) == 20  # the sender kept the limit: no 45009 needed
    stored = rows(engine)
    first_sent = min(utc(r.sent_at) for r in stored.values() if r.sent_at)
    [waiting] = [r for r in stored.values() if r.status == "pending"]
    assert waiting.attempts == 0 and waiting.last_error.startswith("限速")
    wait_until = utc(waiting.next_attempt_at)
    assert abs(wait_until - (first_sent + dt.timedelta(minutes=1))) < dt.timedelta(seconds=1)
    assert "限速" in cli("outbox", "list").output

    settings = alert_settings(load_config(conf))
    mailer = FileMailer(tmp_path / "mail")
    early = deliver_pending(engine, mailer, settings=settings, clock=lambda: wait_until)
    assert len(early.sent) == 1 and len(server.requests()) == 21


def test_a_feishu_robot_gets_5_a_second_the_6th_waits_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: ChatServer, engine: Engine
) -> None:
    conf = office(tmp_path, monkeypatch, server, routes=route_to("jijinke_group"))
    body = json.dumps({"msg_type": "text", "content": {"text": "测试"}}).encode()
    with engine.begin() as conn:
        for i in range(6):
            enqueue(conn, message_id=f"<feishu.{i}@fundmon>", recipient="finance_feishu",
                    rcpt="channel:finance_feishu", channel_kind="feishu",
                    sender="fundmon@localhost", subject=f"第 {i} 条", content=body,
                    alert_ids=[], now=now())  # fmt: skip
    settings = alert_settings(load_config(conf))
    at = now()
    first = deliver_pending(engine, FileMailer(tmp_path / "mail"), settings=settings,
                            clock=lambda: at)  # fmt: skip
    assert len(first.sent) == 5 and len(first.paced) == 1 and first.ok
    assert "每 1 秒至多 5 条" in first.paced[0][1]
    later = deliver_pending(engine, FileMailer(tmp_path / "mail"), settings=settings,
                            clock=lambda: at + dt.timedelta(seconds=2))  # fmt: skip
    assert len(later.sent) == 1 and len(server.requests()) == 6


def test_email_and_chat_do_not_hold_each_other_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: ChatServer, cli, engine: Engine
) -> None:
    smtp = start_server(tmp_path)
    port = smtp.port
    smtp.stop()  # SMTP down: three addresses fail before the channel's row comes
    try:
        routes = route_to("jijinke_group", to=("a@example.org", "b@example.org", "c@example.org"))
        conf = office(tmp_path, monkeypatch, server, routes=routes, smtp_port=port)
        queue(engine, conf, ("341721", "resident", "red"))
        first = cli("outbox", "send")
        assert first.exit_code == 1
        by_rcpt = {r.rcpt: r for r in rows(engine).values()}
        assert by_rcpt["channel:jijinke_group"].status == "sent"
        assert {by_rcpt[f"{x}@example.org"].status for x in "abc"} == {"pending"}
        assert len(server.requests()) == 1

        smtp = start_server(tmp_path, port=port)  # SMTP back, the robot's server down
        server.stop()
        queue(engine, conf, ("341722", "resident", "orange"))
        time.sleep(1.1)  # the backoff
        second = cli("outbox", "send")
        assert second.exit_code == 1 and "已发送 6 封" in second.output, second.output
        chat = [r for r in rows(engine).values() if r.rcpt == "channel:jijinke_group"]
        assert sorted(r.status for r in chat) == ["pending", "sent"]
        assert len(smtp.messages()) == 6
    finally:
        smtp.stop()


# ---------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    ("table", "key"),
    [
        ('url_env = "FUNDMON_WECOM_URL"\nurl = "https://qyapi.weixin.qq.com/cgi-bin/webhook/'
         f'send?key={ROBOT_KEY}"\n', "alerts.channels.g.url"),
        (f'url_env = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={ROBOT_KEY}"\n',
         "alerts.channels.g.url_env"),
        (f'url_env = "FUNDMON_WECOM_URL"\nsecret = "{ROBOT_KEY}"\n', "alerts.channels.g.secret"),
    ],
    ids=["url", "url_env-holding-the-url", "secret"],
)  # fmt: skip
def test_a_url_or_secret_written_into_config_toml_is_refused(
    tmp_path: Path, cli, table: str, key: str
) -> None:
    conf = tmp_path / "config.toml"
    conf.write_text(f'[alerts.channels.g]\nkind = "wecom"\n{table}', encoding="utf-8")
    refused = cli("--config", str(conf), "evaluate")
    assert refused.exit_code == 1
    said = refused.output + refused.stderr
    field = key.rsplit(".", 1)[1]
    line = next(i for i, t in enumerate(table.splitlines(), 3) if t.startswith(f"{field} ="))
    assert key in said and f"{conf}:{line}" in said, said
    assert ROBOT_KEY not in said  # the key is not repeated on screen
    assert "环境变量" in said  # in Chinese, saying where the URL or secret belongs


def test_a_route_naming_an_unknown_channel_is_refused_with_its_key_and_line(
    tmp_path: Path, cli
) -> None:
    conf = tmp_path / "config.toml"
    conf.write_text(
        '[alerts.channels.g]\nkind = "wecom"\nurl_env = "X"\n\n'
        '[[alerts.routes]]\nlevels = ["red"]\nchannels = ["h"]\n',
        encoding="utf-8",
    )
    refused = cli("--config", str(conf), "evaluate")
    said = refused.output + refused.stderr
    assert refused.exit_code == 1 and f"{conf}:7" in said and "alerts.routes[1].channels" in said


# ---------------------------------------------------------------- the demo
def test_the_demo_writes_what_it_would_post_beside_the_eml_files(
    tmp_path: Path, engine: Engine
) -> None:
    from test_alerts import result

    out = tmp_path / "mail"
    demo = demo_alert_mail(
        engine,
        [result("341721", "resident", "red"), result("341722", "resident", "orange")],
        config=Config(),
        folder=out,
        now=now(),
    )
    [posted] = sorted(out.glob("*-demo_group.json"))
    assert (posted.stat().st_mode & 0o777) == 0o600
    body = json.loads(posted.read_text(encoding="utf-8"))
    assert body["msgtype"] == "markdown" and "东至县" in body["markdown"]["content"]
    assert "1 条工作群消息" in demo.summary
    assert any(path == str(posted) and who == "demo_group" for path, who, _ in demo.files)


def test_test_channel_posts_one_message_and_reports_the_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: ChatServer
) -> None:
    conf = office(tmp_path, monkeypatch, server, routes=route_to("jijinke_group"))
    config = load_config(conf)
    ok = poster_module.test_channel(config, "leaders_ding", now())
    assert ok.sent and ok.status == 200 and "钉钉" in ok.line()
    [request] = server.requests()
    assert request["sign_ok"] is True and "测试" in json.loads(request["body"])["text"]["content"]
    script = {"/wecom": {"platform": "wecom", "script": [
        {"times": 1, "body": {"errcode": 93000, "errmsg": "invalid webhook url"}}]}}  # fmt: skip
    server.control(paths={**PLATFORMS, **script})
    refused = poster_module.test_channel(config, "jijinke_group", now())
    assert not refused.sent and refused.outcome.state == "failed" and "93000" in refused.line()
    server.stop()
    down = poster_module.test_channel(config, "ops_hook", now())
    assert down.status is None and down.outcome.state == "retry"
    assert isinstance(Poster(alert_settings(config)).worst_case_seconds(), float)


def test_alerts_test_channel_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: ChatServer, cli
) -> None:
    office(tmp_path, monkeypatch, server, routes=route_to("jijinke_group"))
    ok = cli("alerts", "test-channel", "leaders_ding")
    assert ok.exit_code == 0 and "钉钉" in ok.output, ok.output
    script = {"/wecom": {"platform": "wecom", "script": [
        {"times": 1, "body": {"errcode": 93000, "errmsg": "invalid webhook url"}}]}}  # fmt: skip
    server.control(paths={**PLATFORMS, **script})
    refused = cli("alerts", "test-channel", "jijinke_group")
    assert refused.exit_code == 1 and "93000" in refused.stderr
    unknown = cli("alerts", "test-channel", "nosuch")
    assert unknown.exit_code == 1
