"""Fourteen months of the service on simulated time: the demo city's monthly ledgers arrive in
the watched folder, alerts go to a real SMTP server, bulletins are written on the 5th — and
the service is stopped (SIGTERM) and killed (SIGKILL) on the way without losing or repeating
anything."""

from __future__ import annotations

import email
import json
import signal
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner
from service_helpers import SIM, Proc, monthly_arrivals, office_body, write_config
from smtp_server import start_server
from sqlalchemy import select

from monitor.cli.app import main
from monitor.demo.data import demo_city
from monitor.store.db import open_store
from monitor.store.schema import evaluations, ingested_files, job_runs, outbox

SHANGHAI = ZoneInfo("Asia/Shanghai")
END = "2025-01-10T00:00"


def test_fourteen_months_with_a_stop_and_a_kill(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    url = f"sqlite:///{tmp_path / 'office' / 'fundmon.db'}"
    office = tmp_path / "office"
    write_config(
        office,
        url,
        # ledgers arrive in the first days of a month; retries weekly (new alerts go at once)
        office_body(server.port, ingest="0 9 1-10 * *", deliver="0 10 * * 1"),
    )
    months = monthly_arrivals(demo_city().ledger, office / "arrivals", history_through="2023-10")
    assert months[-1] == "2024-12" and len(months) == 15
    args = [*SIM, "--config", "config.toml", "--arrivals", "arrivals", "--until", END]

    # 1: from November 2023 until the February 2024 ledger is in; then SIGTERM
    first = Proc([*args, "--start", "2023-11-01T00:00"], office)
    first.wait_for(r"event=finish job=ingest .*导入文件 1 个", timeout=240)  # history
    first.wait_for(r"event=imported job=ingest file=2024-02\.csv", timeout=240)
    first.signal(signal.SIGTERM)
    assert first.wait(20) == 0, first.log()
    resume = _last_start(first)

    # 2: on again from there; killed outright in the middle of ingesting June's ledger
    second = Proc([*args, "--start", resume], office)
    second.wait_for(r"event=imported job=ingest file=2024-06\.csv", timeout=400)
    second.kill()
    resume = _last_start(second)

    # 3: on again, to the end
    third = Proc([*args, "--start", resume], office)
    third.wait_for(r"simulated-until", timeout=600)
    assert third.wait(30) == 0, third.log()
    server.stop()

    engine = open_store(url)
    with engine.connect() as conn:
        evaluated = conn.execute(
            select(evaluations.c.region_code, evaluations.c.fund, evaluations.c.month)
        ).all()
        runs = conn.execute(select(job_runs)).all()
        files = conn.execute(select(ingested_files)).all()
        mail = conn.execute(select(outbox.c.message_id, outbox.c.status, outbox.c.rcpt)).all()
    engine.dispose()

    # nothing lost: every file taken once, every fund evaluated for every month
    assert not list((office / "arrivals").iterdir()) and not list((office / "inbox").glob("*.csv"))
    assert sorted(p.name for p in (office / "inbox" / "done").iterdir()) == sorted(
        ["history.csv", *(f"{m}.csv" for m in months[1:])]
    )
    assert Counter(f.outcome for f in files)["imported"] == 15
    by_fund: dict[tuple[str, str], set[str]] = {}
    for region, fund, month in evaluated:
        by_fund.setdefault((region, fund), set()).add(month)
    assert len(by_fund) == 10
    for key, got in by_fund.items():
        assert set(months) <= got, (key, sorted(set(months) - got))

    # the killed run was marked abandoned; no run is left "running"
    outcomes = Counter(r.outcome for r in runs)
    assert outcomes["running"] == 0 and outcomes["abandoned"] >= 1, outcomes
    assert outcomes["failed"] == 0 and outcomes["timeout"] == 0, outcomes

    # bulletins: one per month, written at 08:00 on the 5th (Beijing time)
    bulletin_runs = [r for r in runs if r.job == "bulletin" and r.outcome == "ok"]
    for r in bulletin_runs:
        started = r.started_at.replace(tzinfo=ZoneInfo("UTC")).astimezone(SHANGHAI)
        assert (started.day, started.hour, started.minute) == (5, 8, 0), started
    written = sorted(
        json.loads(p.read_text())["month"] for p in (office / "bulletins").glob("bulletin-*.json")
    )
    assert written == months  # 2023-10 (written 2023-11-05) … 2024-12 (2025-01-05)

    # alerts and bulletins arrived, each exactly once
    received = server.messages()
    ids = [email.message_from_bytes(raw)["Message-ID"] for _, raw in received]
    deliveries = Counter(
        (mid, tuple(meta["rcpt_tos"])) for mid, (meta, _) in zip(ids, received, strict=True)
    )
    assert all(n == 1 for n in deliveries.values()), [k for k, n in deliveries.items() if n > 1]
    assert all(status == "sent" for _, status, _ in mail), Counter(s for _, s, _ in mail)
    assert len(received) == len(mail)
    subjects = [
        str(
            email.header.make_header(
                email.header.decode_header(email.message_from_bytes(raw)["Subject"])
            )
        )
        for _, raw in received
    ]
    assert sum("月报" in s for s in subjects) == len(months)
    alert_mails = [s for s in subjects if "月报" not in s]
    assert alert_mails, subjects

    # status tells the story
    runner = CliRunner()
    result = runner.invoke(
        main, ["--config", str(office / "config.toml"), "status", "--format", "json"]
    )
    assert result.exit_code == 3, result.output  # the service is not running now
    status = json.loads(result.output)
    assert status["service"]["state"] == "stopped"
    assert {j["job"]: j["last_outcome"] for j in status["jobs"]} == {
        "ingest": "ok",
        "deliver": "ok",
        "bulletin": "ok",
    }
    assert status["levels"]["latest_month"] == "2024-12"
    assert status["outbox"]["failed"] == 0 and status["outbox"]["pending"] == 0
    assert status["last_import"]["awaiting_evaluation"] == 0  # every import was evaluated


def _last_start(proc: Proc) -> str:
    """The simulated time of the last run the process began (where a restart resumes)."""
    import re

    stamps = [m.group(1) for line in proc.lines if (m := re.search(r" at=(\S+)", line))]
    assert stamps, proc.log()
    from datetime import datetime

    return datetime.fromisoformat(stamps[-1]).astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")
