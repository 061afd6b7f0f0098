"""`[schedule]` and `[ingest]`: when the service runs each step, and where ledgers arrive."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from monitor.config.alerts import SectionReader
from monitor.config.settings import Config
from monitor.core.money import parse_unit

JOBS = ("ingest", "deliver", "bulletin")
DEFAULT_CRON = {
    "ingest": "*/10 * * * *",  # look for new ledgers every 10 minutes
    "deliver": "*/5 * * * *",  # retry the outbox every 5 minutes (new alerts go at once)
    "bulletin": "0 8 5 * *",  # 08:00 on the 5th: last month's ledgers are in by then
}


@dataclass(frozen=True)
class ScheduleSettings:
    timezone: ZoneInfo
    cron: Mapping[str, str]  # job → 5-field cron expression; "" disables the job
    misfire_grace: dt.timedelta  # a run missed while down still runs at start within this
    job_timeout: dt.timedelta  # a step running longer is stopped and reported
    heartbeat: dt.timedelta
    stop_timeout: dt.timedelta  # on SIGTERM, how long the step in progress may finish

    def trigger(self, job: str) -> CronTrigger | None:
        expr = self.cron.get(job, "")
        return CronTrigger.from_crontab(expr, timezone=self.timezone) if expr else None


@dataclass(frozen=True)
class IngestSettings:
    watch_dir: Path | None  # None: no folder is watched
    unit: str | None  # unit of dropped files that state none
    sql: bool  # also run the [source] query on the ingest schedule
    # a dropped file is taken only once its size and mtime have not changed for this long
    settle: dt.timedelta = dt.timedelta(seconds=30)


def schedule_settings(config: Config) -> ScheduleSettings:
    r = SectionReader(config, "schedule")
    t: Mapping[str, Any] = config.section("schedule")
    where = "schedule"
    r.check_keys(
        t,
        ["timezone", *JOBS, "misfire_grace", "job_timeout", "heartbeat", "stop_timeout"],
        where,
    )
    # Never the host's zone by accident: a server set to UTC would send the bulletin at 16:00.
    zone_name = r.get(t, "timezone", str, "Asia/Shanghai", where)
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.error(
            f"{where}.timezone", f"时区 {zone_name!r} 不存在，应如 Asia/Shanghai"
        ) from None
    cron = {}
    for job in JOBS:
        expr = r.get(t, job, str, DEFAULT_CRON[job], where).strip()
        if expr:
            try:
                CronTrigger.from_crontab(expr, timezone=zone)
            except ValueError as exc:
                raise r.error(
                    f"{where}.{job}",
                    f'{expr!r} 不是 5 段 cron 表达式（分 时 日 月 周，如 "0 8 5 * *"）：{exc}',
                ) from None
        cron[job] = expr
    stop = r.duration(t, "stop_timeout", dt.timedelta(seconds=8), where)
    if stop > dt.timedelta(seconds=10):  # + up to 3 s to end the step's process
        raise r.error(f"{where}.stop_timeout", "应不超过 10 秒：停止须在 15 秒内完成")
    return ScheduleSettings(
        timezone=zone,
        cron=cron,
        misfire_grace=r.duration(t, "misfire_grace", dt.timedelta(hours=6), where),
        job_timeout=r.duration(t, "job_timeout", dt.timedelta(minutes=30), where),
        heartbeat=r.duration(t, "heartbeat", dt.timedelta(seconds=30), where),
        stop_timeout=stop,
    )


def ingest_settings(config: Config) -> IngestSettings:
    r = SectionReader(config, "ingest")
    t: Mapping[str, Any] = config.section("ingest")
    where = "ingest"
    r.check_keys(t, ["watch_dir", "unit", "sql", "settle"], where)
    folder = r.get(t, "watch_dir", str, "", where).strip()
    text = r.get(t, "unit", str, "", where).strip()
    unit = parse_unit(text) if text else config.imports.unit
    if text and unit is None:
        raise r.error(f"{where}.unit", f"单位 {text!r} 应为 元、万元 或 亿元")
    return IngestSettings(
        watch_dir=(config.base_dir / folder).resolve() if folder else None,
        unit=unit or None,
        sql=r.get(t, "sql", bool, False, where),
        # 0 is a choice here: an office whose writers always rename files into place
        settle=(
            dt.timedelta(0)
            if t.get("settle") in (0, "0", "0s")
            else r.duration(t, "settle", dt.timedelta(seconds=30), where)
        ),
    )
