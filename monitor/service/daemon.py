"""`fundmon run`: the background service.

APScheduler 3 keeps the schedule in the store itself (SQLAlchemyJobStore, table
`apscheduler_jobs`), so a restart resumes it: a run missed while the service was down runs once
at start if still within `misfire_grace` (coalesced), and never twice (`max_instances=1`). Each
run executes its step in a child process of its own, which is how a hung step can be stopped
(`job_timeout`) and why memory stays flat over months. One service per store (service_lock).

The service takes a clock. In production that is the wall clock and a BackgroundScheduler
waits for the next run; on simulated time (tests, benchmarks/soak.py) `SimulatedService`
jumps from one due run to the next, so a year of schedules passes in minutes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.debug import DebugExecutor
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import Engine, update

from monitor.config.check import check_config
from monitor.config.service import JOBS, ScheduleSettings, schedule_settings
from monitor.config.settings import Config, load_config
from monitor.core.errors import LockLost, MonitorError
from monitor.core.thresholds import ThresholdProfile
from monitor.render.templating import check_templates, override_folder
from monitor.service.lock import ServiceLock
from monitor.service.steps import StepResult
from monitor.store.db import inserted_id, open_store
from monitor.store.schema import job_runs

log = logging.getLogger("monitor.service")
Clock = Callable[[], dt.datetime]
PRELOAD = [
    "monitor.service.steps",
    "monitor.ledger.watch",
    "monitor.pipeline.evaluate",
    "monitor.notify.outbox",
    "monitor.pipeline.bulletin",
    "monitor.ledger.sql_source",
]
_ACTIVE: Service | None = None  # the scheduler calls `scheduled_job` by name: it finds us here


def scheduled_job(name: str) -> None:
    """What the persisted schedule calls (by this module path and name)."""
    if _ACTIVE is None:  # pragma: no cover - a job fired after shutdown
        return
    _ACTIVE.run_job(name)


@dataclass
class Settings:
    """What SIGHUP may change: the config file's contents and the threshold profile."""

    config: Config
    profile: ThresholdProfile
    schedule: ScheduleSettings

    @classmethod
    def load(cls, config_path: str | None, db: str | None) -> Settings:
        """The whole file checked as the steps will read it (every section, the profile, the
        variables they take from the environment), at start and on SIGHUP alike.

        :raises MonitorError: an invalid config.toml or threshold profile.
        """
        config = load_config(config_path, db=db)
        profile = check_config(config, environment=True)
        templates = override_folder(config)
        if templates is not None:  # an office's own templates: every one must compile
            old_name = config.sections.templates.dir is None  # [bulletin] templates set it
            key = "bulletin.templates" if old_name else "templates.dir"
            check_templates(templates, config.path, key=key)
        return cls(config, profile, schedule_settings(config))


@dataclass
class Service:
    config_path: str | None
    db: str | None
    clock: Clock
    log_level: int = logging.INFO
    settings: Settings = field(init=False)
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.settings = Settings.load(self.config_path, self.db)
        self.engine = open_store(self.settings.config.store_url)
        self.lock = ServiceLock(self.engine)
        self.stopping = threading.Event()
        self._reload = threading.Event()
        self._mp = mp.get_context("forkserver")
        # imported once in the fork server, so each step's process starts in milliseconds
        self._mp.set_forkserver_preload(PRELOAD)
        self.scheduler: BaseScheduler | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Take the lock, then load (or create) the persisted schedule and start it.

        :raises ServiceLocked: another instance runs on this store.
        """
        global _ACTIVE
        self.lock.acquire(self.clock())
        _ACTIVE = self
        with self.engine.begin() as conn:  # runs a killed instance left unfinished
            conn.execute(
                update(job_runs)
                .where(job_runs.c.outcome == "running")
                .values(outcome="abandoned", summary="服务中断（进程被终止），步骤未完成，已回滚")
            )
        self.scheduler = self._make_scheduler()
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)
        self.scheduler.start(paused=True)
        self._sync_jobs()
        log.info(
            f"服务已启动：存储 {self.engine.url.render_as_string(hide_password=True)}，"
            f"时区 {self.settings.schedule.timezone.key}",
            extra={"event": "started", "pid": os.getpid()},
        )
        self.scheduler.resume()

    def stop(self) -> None:
        global _ACTIVE
        self.stopping.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)  # waits for the step in progress (≤ stop_timeout)
        self.lock.release(self.clock())
        _ACTIVE = None
        self.engine.dispose()
        log.info("服务已停止", extra={"event": "stopped"})

    def _make_scheduler(self) -> BaseScheduler:
        sched = self.settings.schedule
        return _ResilientScheduler(
            timezone=sched.timezone,
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine)},
            # one step at a time: ingest and the bulletin both evaluate, and two evaluations of
            # the same funds would collide; a step waiting behind another runs right after it
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults=self._job_defaults(),
        )

    def _job_defaults(self) -> dict[str, Any]:
        return {
            "coalesce": True,  # after downtime, one catch-up run, not one per missed slot
            "max_instances": 1,
            # APScheduler's default grace is 1 s: any late run would be silently dropped
            "misfire_grace_time": int(self.settings.schedule.misfire_grace.total_seconds()),
        }

    def _sync_jobs(self) -> None:
        """Persisted jobs keep their next run time (that is what makes a missed run catch up);
        a job whose cron expression changed in config.toml is rescheduled; a disabled one goes."""
        assert self.scheduler is not None
        for name in JOBS:
            trigger = self.settings.schedule.trigger(name)
            job = self.scheduler.get_job(name)
            if trigger is None:
                if job is not None:
                    job.remove()
                continue
            if job is not None and str(job.trigger) == str(trigger):
                job.modify(**self._job_defaults())
                continue
            # a new ingest/deliver job runs at once: a fresh service looks at its folder now
            first = self.clock() if job is None and name != "bulletin" else None
            self.scheduler.add_job(
                scheduled_job,
                trigger,
                args=[name],
                id=name,
                name=name,
                replace_existing=True,
                **({"next_run_time": first} if first else {}),
                **self._job_defaults(),
            )
            log.info(
                f"计划 {name}：{self.settings.schedule.cron[name]}",
                extra={"event": "scheduled", "job": name},
            )

    def _on_missed(self, event: JobEvent) -> None:
        when = event.scheduled_run_time
        log.warning(
            f"{event.job_id} 错过了 {when:%Y-%m-%d %H:%M}（超过宽限时间 "
            f"{self.settings.schedule.misfire_grace}），等下一次计划",
            extra={"event": "missed", "job": event.job_id},
        )
        self._record(event.job_id, "missed", f"错过 {when:%Y-%m-%d %H:%M %z}", {}, self.clock())

    # ------------------------------------------------------------ the main loop (wall clock)
    def install_signals(self) -> None:
        """Before start(): a SIGTERM that arrives while starting must stop us cleanly too."""
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        signal.signal(signal.SIGHUP, lambda *_: self._reload.set())

    def serve(self) -> int:
        """Block until SIGTERM/SIGINT; SIGHUP reloads. Returns the exit code."""
        beat = self.settings.schedule.heartbeat.total_seconds()
        next_beat = 0.0
        code = 0
        while not self.stopping.wait(0.2):
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + beat
                try:
                    if not self.lock.check(self.clock()):
                        log.warning("存储暂时无法连接，稍后重试", extra={"event": "store_down"})
                except LockLost as exc:
                    log.error(str(exc), extra={"event": "lock_lost"})
                    code = 1
                    break
        log.info("收到停止信号，结束当前步骤后退出", extra={"event": "stopping"})
        self.stop()
        return code

    def reload(self) -> bool:
        """SIGHUP: take the new config.toml and profile only if both are valid."""
        try:
            new = Settings.load(self.config_path, self.db)
        except MonitorError as exc:
            log.error(f"重新加载被拒绝，继续使用原配置：{exc}", extra={"event": "reload_refused"})
            return False
        if new.config.store_url != self.settings.config.store_url:
            log.error(
                "重新加载被拒绝：不能在运行中更换存储，请重启服务",
                extra={"event": "reload_refused"},
            )
            return False
        self.settings = new
        if self.scheduler is not None:
            self._sync_jobs()
        log.info(f"已重新加载配置与阈值（{new.profile.name}）", extra={"event": "reloaded"})
        return True

    # ------------------------------------------------------------ one run
    def run_job(self, name: str) -> StepResult:
        """Run one step in its own process, within job_timeout; record and log the outcome."""
        now = self.clock()
        settings = self.settings
        started = time.monotonic()
        run_id = self._record(name, "running", "", {}, now)
        log.info(
            f"{name} 开始",
            extra={"event": "start", "job": name, "run_id": run_id, "at": now.isoformat()},
        )
        result = self._run_in_child(name, settings, now)
        seconds = round(time.monotonic() - started, 2)
        level = logging.INFO if result.outcome == "ok" else logging.ERROR
        log.log(
            level,
            f"{name} {result.summary}",
            extra={
                "event": "finish",
                "job": name,
                "outcome": result.outcome,
                "seconds": seconds,
                "run_id": run_id,
            },
        )
        self._finish(run_id, result, name, now)
        return result

    def _run_in_child(self, name: str, settings: Settings, now: dt.datetime) -> StepResult:
        timeout = settings.schedule.job_timeout.total_seconds()
        stop_timeout = settings.schedule.stop_timeout.total_seconds()
        receive, send = self._mp.Pipe(duplex=False)
        life_r, life_w = self._mp.Pipe(duplex=False)  # closed by our death: the step ends too
        proc = self._mp.Process(
            target=_child_entry,
            args=(name, settings.config, settings.profile, now, send, life_r, self.log_level),
            name=f"fundmon-{name}",
        )
        proc.start()
        send.close()
        life_r.close()
        started = time.monotonic()
        stop_seen: float | None = None
        try:
            while proc.is_alive():
                proc.join(0.1)
                waited = time.monotonic() - started
                if self.stopping.is_set() and stop_seen is None:
                    stop_seen = time.monotonic()
                if stop_seen is not None and time.monotonic() - stop_seen > stop_timeout:
                    _kill(proc)
                    return StepResult(
                        "abandoned", "服务停止，未完成的步骤已放弃（已回滚，下次重做）"
                    )
                if waited > timeout:
                    _kill(proc)
                    return StepResult(
                        "timeout",
                        f"超过 job_timeout（{settings.schedule.job_timeout}）仍未完成，已终止",
                    )
            if receive.poll():
                try:
                    result: StepResult = receive.recv()  # what child_main sends
                    return result
                except EOFError:
                    pass
            return StepResult("failed", f"步骤进程异常退出（退出码 {proc.exitcode}）")
        finally:
            receive.close()
            proc.join(1)
            life_w.close()
            if not proc.is_alive():
                proc.close()

    # ------------------------------------------------------------ job_runs (tolerates a lost store)
    def _record(
        self, name: str, outcome: str, summary: str, details: dict[str, Any], now: dt.datetime
    ) -> int | None:
        try:
            with self.engine.begin() as conn:
                row = conn.execute(
                    job_runs.insert().values(
                        job=name,
                        started_at=now,
                        finished_at=None if outcome == "running" else now,
                        outcome=outcome,
                        summary=summary,
                        details=details,
                        pid=os.getpid(),
                    )
                )
                return inserted_id(row)
        except Exception as exc:
            log.warning(
                f"无法记录运行（存储不可用？）：{exc}", extra={"event": "store_down", "job": name}
            )
            return None

    def _finish(self, run_id: int | None, result: StepResult, name: str, now: dt.datetime) -> None:
        if run_id is None:
            self._record(name, result.outcome, result.summary, result.details, now)
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(job_runs)
                    .where(job_runs.c.id == run_id)
                    .values(
                        finished_at=self.clock(),  # simulated runs take no simulated time
                        outcome=result.outcome,
                        summary=result.summary,
                        details=result.details,
                    )
                )
        except Exception as exc:
            log.warning(f"无法记录运行结果：{exc}", extra={"event": "store_down", "job": name})


class _Resilient(BaseScheduler):
    """APScheduler catches a job store that fails to list due jobs, but not one that fails a
    moment later to save a job's next run time; that exception would end its thread silently
    and the service would heartbeat on without running anything. Log it and try again."""

    jobstore_retry_interval: float

    def _process_jobs(self) -> float | None:
        try:
            return super()._process_jobs()
        except Exception as exc:
            log.warning(f"计划存储暂时不可用，稍后重试：{exc}", extra={"event": "store_down"})
            return float(self.jobstore_retry_interval)


class _ResilientScheduler(_Resilient, BackgroundScheduler):
    pass


def _child_entry(*args: Any) -> None:
    from monitor.service.steps import child_main

    child_main(*args)


def _kill(proc: Any) -> None:
    proc.terminate()  # SIGTERM: the step's open transaction is rolled back by the server
    proc.join(3)
    if proc.is_alive():
        proc.kill()
        proc.join(3)


# ---------------------------------------------------------------- once (cron users, tests)
def run_once(service: Service, jobs: tuple[str, ...] = ("ingest", "deliver", "bulletin")) -> int:
    """Every step once, in order, then exit (the bulletin only on its scheduled day)."""
    failed = 0
    for name in jobs:
        if name == "bulletin" and not _bulletin_due(service):
            continue
        result = service.run_job(name)
        failed += result.outcome != "ok"
    return 1 if failed else 0


def _bulletin_due(service: Service) -> bool:
    """`run --once` writes the bulletin when today is a day its cron expression fires on."""
    trigger = service.settings.schedule.trigger("bulletin")
    if trigger is None:
        return False
    now = service.clock().astimezone(service.settings.schedule.timezone)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    nxt = trigger.get_next_fire_time(None, day)
    return nxt is not None and nxt.date() == now.date() and nxt <= now


# ---------------------------------------------------------------- simulated time
class SimulatedClock:
    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs an aware datetime")
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now.astimezone(dt.UTC)  # stored times are UTC (SQLite keeps no zone)


class _SimulatedScheduler(_Resilient):
    """Runs due jobs inline when told to; `wakeup` is the driver's business."""

    def wakeup(self) -> None:
        pass

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)

    def _create_default_executor(self) -> DebugExecutor:
        return DebugExecutor()

    def process(self) -> float | None:
        return self._process_jobs()


@contextlib.contextmanager
def _apscheduler_clock(clock: Clock) -> Iterator[None]:
    """APScheduler 3 reads the wall clock itself (datetime.now in its scheduler and executor
    modules) and offers no clock to inject; on simulated time those two modules get a stand-in
    for `datetime` whose now() is ours. Nothing else in the process is touched."""
    import apscheduler.executors.base as executors_base
    import apscheduler.schedulers.base as schedulers_base

    class SimulatedDatetime:
        """All those modules call of `datetime` (checked for APScheduler 3.11): now(tz). Not a
        datetime subclass, whose now() would have to return one of its own instances, which
        APScheduler would then pickle into the job store."""

        @staticmethod
        def now(tz: dt.tzinfo | None = None) -> dt.datetime:
            t = clock()
            return t.astimezone(tz) if tz else t.replace(tzinfo=None)

    schedulers_base.datetime = SimulatedDatetime
    executors_base.datetime = SimulatedDatetime
    try:
        yield
    finally:
        schedulers_base.datetime = dt.datetime
        executors_base.datetime = dt.datetime


class SimulatedService(Service):
    """The same service, its scheduler driven by a simulated clock (no sleeps)."""

    clock: SimulatedClock

    def _make_scheduler(self) -> BaseScheduler:
        return _SimulatedScheduler(
            timezone=self.settings.schedule.timezone,
            jobstores={"default": SQLAlchemyJobStore(engine=self.engine)},
            job_defaults=self._job_defaults(),
        )

    def run_until(
        self, end: dt.datetime, on_time: Callable[[dt.datetime], None] | None = None
    ) -> None:
        """Advance to each due run up to `end`, running it; `on_time(t)` is called before each
        (a test drops files there). Stops early when `stopping` is set."""
        assert isinstance(self.scheduler, _SimulatedScheduler)
        with _apscheduler_clock(self.clock):
            while not self.stopping.is_set():
                if on_time is not None:
                    on_time(self.clock.now)
                wait = self.scheduler.process()
                if self._reload.is_set():
                    self._reload.clear()
                    self.reload()
                if wait is None:
                    break
                nxt = self.clock.now + dt.timedelta(seconds=max(wait, 1))
                if nxt > end:
                    break
                self.clock.now = nxt
                self.lock.check(self.clock.now)
            self.clock.now = max(self.clock.now, end)

    def start(self) -> None:
        with _apscheduler_clock(self.clock):
            super().start()

    def stop(self) -> None:
        with _apscheduler_clock(self.clock):
            super().stop()
