"""`fundmon run`: schedules that survive restarts, one instance per store, signals, timeouts,
a database that goes away — each against real processes, SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from service_helpers import CLI, Proc, write_config
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from tcp_proxy import TcpProxy

from monitor.cli.app import main
from monitor.config.service import schedule_settings
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv
from monitor.service.daemon import SimulatedClock, SimulatedService
from monitor.store.schema import evaluations, ingested_files, job_runs

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def runs(engine: Engine, job: str = "ingest") -> list[tuple[str, dt.datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(job_runs.c.outcome, job_runs.c.started_at)
            .where(job_runs.c.job == job)
            .order_by(job_runs.c.id)
        ).all()
    out = []
    for outcome, started in rows:
        started = started if started.tzinfo else started.replace(tzinfo=dt.UTC)
        out.append((outcome, started.astimezone(SHANGHAI).replace(tzinfo=None)))
    return out


def simulated(folder: Path, start: str) -> SimulatedService:
    service = SimulatedService(str(folder / "config.toml"), None, clock=SimulatedClock(at(start)))
    service.start()
    return service


# ---------------------------------------------------------------- misfires after downtime
def test_a_missed_run_catches_up_once_within_grace_and_is_reported_beyond(
    tmp_path: Path, engine: Engine, store_url: str
) -> None:
    write_config(
        tmp_path,
        store_url,
        '[schedule]\ningest = "0 9 * * *"\ndeliver = ""\nbulletin = ""\nmisfire_grace = "2h"\n',
    )
    service = simulated(tmp_path, "2024-03-01T08:00")  # new: looks at once, then 09:00
    service.run_until(at("2024-03-01T10:00"))
    service.stop()
    assert [t for _, t in runs(engine)] == [dt.datetime(2024, 3, 1, 8), dt.datetime(2024, 3, 1, 9)]

    # down from 10:00 until 10:30 the next day: 09:00 was missed by 1.5 h, within grace
    service = simulated(tmp_path, "2024-03-02T10:30")
    service.run_until(at("2024-03-02T12:00"))
    service.stop()
    assert runs(engine)[-1] == ("ok", dt.datetime(2024, 3, 2, 10, 30))

    # down for three days: three slots missed, the last by 3 h — beyond grace: reported,
    # not run (not even once per slot); the next slot runs as planned
    service = simulated(tmp_path, "2024-03-05T12:00")
    service.run_until(at("2024-03-06T10:00"))
    service.stop()
    tail = runs(engine)[3:]
    assert [o for o, _ in tail] == ["missed", "ok"], tail
    assert tail[1][1] == dt.datetime(2024, 3, 6, 9)

    # down over two slots, back 1 h after the second: exactly one catch-up run
    service = simulated(tmp_path, "2024-03-08T10:00")
    service.run_until(at("2024-03-08T11:00"))
    service.stop()
    assert runs(engine)[5:] == [("ok", dt.datetime(2024, 3, 8, 10))]


def test_schedule_is_read_in_beijing_time_not_the_hosts(tmp_path: Path) -> None:
    from monitor.config.settings import load_config

    write_config(tmp_path, "sqlite:///x.db", '[schedule]\nbulletin = "0 8 5 * *"\n')
    settings = schedule_settings(load_config(tmp_path / "config.toml"))
    fire = settings.trigger("bulletin").get_next_fire_time(  # type: ignore[union-attr]
        None, dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    )
    assert fire.astimezone(dt.UTC) == dt.datetime(2024, 3, 5, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('[schedule]\ningest = "every 5 minutes"\n', "schedule.ingest"),
        ('[schedule]\ntimezone = "Mars/Olympus"\n', "schedule.timezone"),
        ('[schedule]\nstop_timeout = "60s"\n', "schedule.stop_timeout"),
        ('[ingest]\nunit = "千元"\n', "ingest.unit"),
    ],
)
def test_a_bad_schedule_is_refused_at_start_naming_the_key(
    tmp_path: Path, body: str, key: str
) -> None:
    write_config(tmp_path, f"sqlite:///{tmp_path / 's.db'}", body)
    result = CliRunner().invoke(main, ["--config", str(tmp_path / "config.toml"), "run", "--once"])
    assert result.exit_code == 1 and key in result.output, result.output


# ---------------------------------------------------------------- one instance per store
def test_a_second_service_is_refused_naming_the_holder_even_after_a_kill(
    tmp_path: Path, engine: Engine, store_url: str
) -> None:
    write_config(tmp_path, store_url, '[schedule]\ningest = "0 9 * * *"\n')
    first = Proc([*CLI, "run"], tmp_path)
    try:
        first.wait_for(r"event=started")
        status = CliRunner().invoke(
            main, ["--config", str(tmp_path / "config.toml"), "status", "--format", "json"]
        )
        assert status.exit_code == 0, status.output
        assert json.loads(status.output)["service"]["pid"] == first.p.pid

        second = Proc([*CLI, "run"], tmp_path)
        assert second.wait(60) == 1
        second.wait_for(rf"主机 {socket.gethostname()}，进程 {first.p.pid}")
        once = Proc([*CLI, "run", "--once"], tmp_path)  # --once never runs beside it either
        assert once.wait(60) == 1

        first.kill()  # SIGKILL: no chance to release anything
        third = Proc([*CLI, "run"], tmp_path)
        third.wait_for(r"event=started")
        third.signal(signal.SIGTERM)
        assert third.wait(15) == 0, third.log()
    finally:
        first.kill()
    status = CliRunner().invoke(main, ["--config", str(tmp_path / "config.toml"), "status"])
    assert status.exit_code == 3 and "已停止" in status.output, status.output


# ---------------------------------------------------------------- signals
def test_sigterm_during_a_step_exits_0_within_15_s_and_loses_nothing(
    tmp_path: Path, engine: Engine, store_url: str
) -> None:
    write_config(tmp_path, store_url, '[ingest]\nwatch_dir = "inbox"\nsettle = "0s"\n')
    (tmp_path / "inbox").mkdir()
    write_canonical_csv(demo_city().ledger, tmp_path / "inbox" / "city.csv")
    service = Proc([*CLI, "run"], tmp_path)
    try:
        service.wait_for(r"event=start job=ingest")
        time.sleep(1.5)  # inside the step: importing or evaluating
        t0 = time.monotonic()
        service.signal(signal.SIGTERM)
        assert service.wait(15) == 0, service.log()
        assert time.monotonic() - t0 < 15
    finally:
        service.kill()
    assert all(outcome != "running" for outcome, _ in runs(engine))
    # whatever was cut short is done by the next run: imported once, evaluated
    once = Proc([*CLI, "run", "--once"], tmp_path)
    assert once.wait(300) == 0, once.log()
    with engine.connect() as conn:
        files = conn.execute(select(ingested_files.c.outcome)).scalars().all()
        months = conn.execute(select(evaluations.c.month).distinct()).scalars().all()
    assert files.count("imported") == 1
    assert months and max(months) == "2024-12"
    assert (tmp_path / "inbox" / "done" / "city.csv").exists()


def test_sighup_refuses_a_bad_profile_and_keeps_the_old(
    tmp_path: Path, engine: Engine, store_url: str
) -> None:
    config = write_config(tmp_path, store_url, '[schedule]\ningest = "0 9 * * *"\n')
    service = Proc([*CLI, "run"], tmp_path)
    try:
        service.wait_for(r"event=started")
        (tmp_path / "bad.toml").write_text('[[rules]]\nlevel = "purple"\n', encoding="utf-8")
        config.write_text(
            config.read_text(encoding="utf-8") + '[thresholds]\nprofile = "bad.toml"\n',
            encoding="utf-8",
        )
        service.signal(signal.SIGHUP)
        service.wait_for(r"event=reload_refused .*bad\.toml")
        assert service.p.poll() is None  # still running, on the old profile
        status = CliRunner().invoke(main, ["--config", str(config), "status"])
        assert status.exit_code == 0, status.output

        config.write_text(
            config.read_text(encoding="utf-8")
            .replace('"0 9 * * *"', '"30 9 * * *"')
            .replace('profile = "bad.toml"', 'profile = ""'),
            encoding="utf-8",
        )
        service.signal(signal.SIGHUP)
        service.wait_for(r"event=reloaded")
        service.wait_for(r"event=scheduled job=ingest 计划 ingest：30 9 \* \* \*")
        service.signal(signal.SIGTERM)
        assert service.wait(15) == 0
    finally:
        service.kill()


# ---------------------------------------------------------------- a hung step
def test_a_hanging_step_is_stopped_after_job_timeout_and_reported(
    tmp_path: Path, pg_url: str
) -> None:
    from monitor.store.db import open_store

    open_store(pg_url, auto_upgrade=True).dispose()
    write_config(
        tmp_path,
        pg_url,
        '[ingest]\nsql = true\n[schedule]\njob_timeout = "3s"\n'
        f'[source]\nurl = "{pg_url}"\nquery = "SELECT pg_sleep(30)"\n',
    )
    t0 = time.monotonic()
    once = Proc([*CLI, "run", "--once"], tmp_path)
    assert once.wait(60) == 1, once.log()
    assert time.monotonic() - t0 < 25
    once.wait_for(r"event=finish job=ingest .*outcome=timeout")
    engine = open_store(pg_url)
    try:
        assert runs(engine)[-1][0] == "timeout"
        assert [o for o, _ in runs(engine, "deliver")] == ["ok"]  # the rest still ran
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the database goes away
def test_the_database_going_away_and_returning_is_survived(tmp_path: Path, pg_url: str) -> None:
    from monitor.store.db import open_store

    open_store(pg_url, auto_upgrade=True).dispose()
    real = make_url(pg_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432).start()
    via_proxy = real.set(port=proxy.port).render_as_string(hide_password=False)
    write_config(
        tmp_path,
        via_proxy,
        '[ingest]\nwatch_dir = "inbox"\nsettle = "0s"\n'
        '[schedule]\ningest = "0 9 * * *"\ndeliver = ""\nbulletin = ""\n',
    )
    ledger = demo_city().ledger
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    write_canonical_csv(ledger[ledger["month"] <= "2024-10"], inbox / "a.csv")
    service = simulated(tmp_path, "2024-11-20T08:00")
    try:
        service.run_until(at("2024-11-20T10:00"))
        assert (inbox / "done" / "a.csv").exists()

        proxy.cut()  # the server goes away: connections reset, new ones refused
        write_canonical_csv(ledger[ledger["month"] == "2024-11"], inbox / "b.csv")
        service.run_until(at("2024-11-21T10:00"))  # the 09:00 run cannot even be looked up
        assert (inbox / "b.csv").exists()

        proxy.start()  # back, on the same port
        service.run_until(at("2024-11-21T12:00"))
        assert (inbox / "done" / "b.csv").exists()
        assert service.lock.check(service.clock())  # the lock was taken again
    finally:
        service.stop()
        proxy.cut()
    engine = open_store(pg_url)
    try:
        with engine.connect() as conn:
            months = conn.execute(select(evaluations.c.month).distinct()).scalars().all()
        assert max(months) == "2024-11"
        assert runs(engine)[-1][0] == "ok"
    finally:
        engine.dispose()


def test_run_once_runs_each_step_and_exits(tmp_path: Path, engine: Engine, store_url: str) -> None:
    # the bulletin's day is half a month from today, so the run (on the wall clock) skips it
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).day
    bulletin = f'[schedule]\nbulletin = "0 8 {(today + 13) % 28 + 1} * *"\n'
    write_config(tmp_path, store_url, '[ingest]\nwatch_dir = "inbox"\nsettle = "0s"\n' + bulletin)
    ledger = demo_city().ledger
    (tmp_path / "inbox").mkdir()
    write_canonical_csv(ledger[ledger["month"] <= "2024-06"], tmp_path / "inbox" / "a.csv")
    once = Proc([*CLI, "run", "--once"], tmp_path)
    assert once.wait(300) == 0, once.log()
    assert [o for o, _ in runs(engine)] == ["ok"]
    assert [o for o, _ in runs(engine, "deliver")] == ["ok"]
    assert runs(engine, "bulletin") == []  # only on its day
    assert os.listdir(tmp_path / "inbox" / "done") == ["a.csv"]
    with engine.connect() as conn:
        months = conn.execute(select(evaluations.c.month).distinct()).scalars().all()
    assert months == ["2024-06"]
