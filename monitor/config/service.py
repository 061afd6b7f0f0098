"""`[schedule]` and `[ingest]`: when the service runs each step, and where ledgers arrive."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import AfterValidator, BeforeValidator, ConfigDict
from pydantic.dataclasses import dataclass

from monitor.config.fields import (
    Configured,
    Duration,
    Flag,
    OptionalPath,
    Pause,
    Text,
    Unit,
    fail,
)

JOBS = ("ingest", "deliver", "bulletin")


def _zone(value: Any) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    if not isinstance(value, str):
        raise fail("string_type")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail("timezone", input=value) from None


def _cron(expr: str) -> str:
    expr = expr.strip()
    if expr:
        try:
            CronTrigger.from_crontab(expr, timezone=dt.UTC)
        except ValueError as exc:
            raise fail("cron", input=expr, reason=str(exc)) from None
    return expr


def _stop_timeout(value: dt.timedelta) -> dt.timedelta:
    if value > dt.timedelta(seconds=10):  # + up to 3 s to end the step's process
        raise fail("stop_timeout")
    return value


Cron = Annotated[Text, AfterValidator(_cron)]  # 5 fields (minute hour day month weekday); "": off


@dataclass(frozen=True, config=ConfigDict(extra="forbid", arbitrary_types_allowed=True))
class ScheduleSettings:
    # Never the host's zone by accident: a server set to UTC would send the bulletin at 16:00.
    timezone: Annotated[ZoneInfo, BeforeValidator(_zone)] = ZoneInfo("Asia/Shanghai")
    ingest: Cron = "*/10 * * * *"  # look for new ledgers every 10 minutes
    deliver: Cron = "*/5 * * * *"  # retry the outbox every 5 minutes (new alerts go at once)
    bulletin: Cron = "0 8 5 * *"  # 08:00 on the 5th: last month's ledgers are in by then
    misfire_grace: Duration = dt.timedelta(hours=6)  # a missed run still runs at start within
    job_timeout: Duration = dt.timedelta(minutes=30)  # a step running longer is stopped
    heartbeat: Duration = dt.timedelta(seconds=30)
    # on SIGTERM, how long the step in progress may finish
    stop_timeout: Annotated[Duration, AfterValidator(_stop_timeout)] = dt.timedelta(seconds=8)

    @property
    def cron(self) -> Mapping[str, str]:
        """job → 5-field cron expression; "" disables the job."""
        return {job: getattr(self, job) for job in JOBS}

    def trigger(self, job: str) -> CronTrigger | None:
        expr = self.cron.get(job, "")
        return CronTrigger.from_crontab(expr, timezone=self.timezone) if expr else None


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class IngestSettings:
    watch_dir: OptionalPath = None  # None: no folder is watched
    unit: Unit = None  # unit of dropped files that state none (None: [import] unit)
    sql: Flag = False  # also run the [source] query on the ingest schedule
    # a dropped file is taken only once its size and mtime have not changed for this long;
    # 0 is a choice here: an office whose writers always rename files into place
    settle: Pause = dt.timedelta(seconds=30)


def schedule_settings(config: Configured) -> ScheduleSettings:
    settings: ScheduleSettings = config.sections.schedule
    return settings


def ingest_settings(config: Configured) -> IngestSettings:
    """`[ingest]`; its `unit` falls back to `[import] unit`."""
    settings: IngestSettings = config.sections.ingest
    if settings.unit is None and config.imports.unit is not None:
        settings = dataclasses.replace(settings, unit=config.imports.unit)
    return settings
