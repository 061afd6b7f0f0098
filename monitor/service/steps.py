"""The service's steps: ingest → evaluate → alert → deliver, and the monthly bulletin.

Each step is a plain function of (engine, config, profile, now): `fundmon run --once`, the
scheduler and the tests call the same code. The scheduler runs each in a child process of its
own (`child_main`), so a hung step can be stopped and its memory is returned when it ends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from monitor.config.service import ingest_settings, schedule_settings
from monitor.config.settings import Config
from monitor.core.errors import LedgerRejected
from monitor.core.thresholds import ThresholdProfile
from monitor.core.vocabulary import fund_name

log = logging.getLogger("monitor.service")


@dataclass
class StepResult:
    outcome: str  # ok | failed
    summary: str  # one Chinese line for the log and `fundmon status`
    details: dict[str, Any] = field(default_factory=dict)


def _clock_from(now: dt.datetime) -> Callable[[], dt.datetime]:
    """`now` moving on with the step: real time keeps running while a step sends mail."""
    start = time.monotonic()
    return lambda: now + dt.timedelta(seconds=time.monotonic() - start)


# ---------------------------------------------------------------- ingest
def ingest(
    engine: Engine, config: Config, profile: ThresholdProfile, now: dt.datetime
) -> StepResult:
    """New files from the watched folder and/or the SQL source; then evaluate what changed,
    queue its alerts and deliver them."""
    settings = ingest_settings(config)
    details: dict[str, Any] = {"files": [], "sql": None}
    problems = []
    if settings.watch_dir is not None:
        from monitor.ledger.watch import FILE_TIMEOUT, ingest_folder

        report = ingest_folder(
            engine,
            config=config,
            watch_dir=settings.watch_dir,
            unit=settings.unit,
            now=now,
            settle=settings.settle,
            # one slow file is rejected before it can run the whole step out of time
            file_timeout=min(FILE_TIMEOUT, schedule_settings(config).job_timeout / 2),
        )
        details["waiting"] = report.waiting  # not settled yet: taken by a later pass
        for f in report.files:
            level = logging.WARNING if f.outcome == "rejected" else logging.INFO
            log.log(level, f.message, extra={"event": f.outcome, "job": "ingest", "file": f.name})
            details["files"].append(
                {
                    "name": f.name,
                    "outcome": f.outcome,
                    "rows": f.rows,
                    "changed": f.changed,
                    "warnings": f.warnings,
                    "import_id": f.import_id,
                }
            )
            if f.outcome == "rejected":
                problems.append(f"{f.name} 被拒绝")
    if settings.sql:
        from monitor.ledger.sql_source import import_from_sql

        try:
            result = import_from_sql(engine, config=config, unit=None, now=now)
        except LedgerRejected as exc:
            problems.append(f"源数据库查询结果被拒绝（{len(exc.findings)} 个错误）")
            for finding in exc.findings[:20]:
                log.warning(finding.render(), extra={"event": "rejected", "job": "ingest"})
        else:
            details["sql"] = {
                "import_id": result.import_id,
                "rows": result.rows,
                "changed": result.inserted + result.replaced,
            }
            log.info(
                f"源数据库：{result.rows} 行，新增或更正 {result.inserted + result.replaced} 行",
                extra={"event": "imported", "job": "ingest"},
            )

    evaluated = evaluate_changes(engine, config, profile, now)

    details.update(evaluated)
    deliver_report = deliver(engine, config, profile, now) if evaluated["mails"] else None
    n_files = sum(1 for f in details["files"] if f["outcome"] == "imported")
    summary = f"导入文件 {n_files} 个" + (
        f"，评估 {evaluated['evaluated']} 个基金，排入预警邮件 {evaluated['mails']} 封"
        if evaluated["evaluated"]
        else "，无新数据需评估"
    )
    if evaluated["render_failures"]:
        summary += f"；{len(evaluated['render_failures'])} 项预警邮件改发简版"
    if deliver_report is not None:
        summary += f"；{deliver_report.summary}"
    if problems:
        summary += "；" + "；".join(problems)
    return StepResult("failed" if problems else "ok", summary, details)


def evaluate_changes(
    engine: Engine, config: Config, profile: ThresholdProfile, now: dt.datetime
) -> dict[str, Any]:
    """Evaluate the funds whose data changed since their stored evaluation (new months,
    corrections, an analyst's manual import) and queue their alerts, in one transaction."""
    from monitor.notify.outbox import queue_alerts
    from monitor.pipeline.evaluate import evaluate_store

    if not _imports_pending(engine):
        return {"evaluated": 0, "mails": 0, "alert_events": 0, "render_failures": []}
    with engine.begin() as conn:
        results = evaluate_store(
            conn, config, now=now, changed_only=True, profile=profile, progress=False
        ).results
        queued = queue_alerts(conn, results, config=config, profile=profile, now=now)
    for r in results:
        if r.decision.level != r.decision.previous_level:
            log.info(
                f"{r.region_name} {fund_name(config.funds, r.fund)} {r.month}："
                f"{r.decision.previous_level.label()} → {r.decision.level.label()}",
                extra={
                    "event": "level",
                    "job": "ingest",
                    "region": r.region_code,
                    "fund": r.fund,
                    "month": r.month,
                },
            )
    for note in queued.render_failures:  # still alerted, in the short plain edition
        log.error(f"预警邮件改发简版：{note}", extra={"event": "render_failed", "job": "ingest"})
    return {
        "evaluated": len(results),
        "mails": queued.mails,
        "alert_events": queued.events,
        "render_failures": list(queued.render_failures),
    }


def _imports_pending(engine: Engine) -> bool:
    """Whether any import (ours, or an analyst's `fundmon import`) awaits evaluation. One
    indexed query in a read-only connection: an idle run neither reads the ledger nor loads
    every fund's alert state for nothing."""
    from monitor.pipeline.evaluate import pending_imports

    with engine.connect() as conn:
        return bool(pending_imports(conn))


# ---------------------------------------------------------------- deliver
def deliver(
    engine: Engine, config: Config, profile: ThresholdProfile, now: dt.datetime
) -> StepResult:
    from monitor.notify.outbox import send_outbox

    report = send_outbox(engine, config, clock=_clock_from(now))
    for oid, where in report.sent:
        log.info(f"已投递 #{oid} → {where}", extra={"event": "sent", "job": "deliver"})
    for oid, reason in report.deferred:
        log.warning(f"暂缓 #{oid}：{reason}", extra={"event": "deferred", "job": "deliver"})
    for oid, reason in report.failed:
        log.error(f"失败 #{oid}：{reason}", extra={"event": "failed", "job": "deliver"})
    summary = f"投递 {len(report.sent)} 封"
    if report.caught_up:  # open alerts queued for routes that came to match them
        summary += f"；{report.caught_up.line()}"
    if report.deferred:
        summary += f"，暂缓 {len(report.deferred)} 封（稍后重试）"
    if report.paced:
        summary += f"，按渠道限速稍后发送 {len(report.paced)} 条"
    if report.failed:
        summary += f"，失败 {len(report.failed)} 封"
    if report.stopped:  # the store did not take an outcome: said once, where it stands
        log.error(report.stopped, extra={"event": "store_busy", "job": "deliver"})
        summary += f"；{report.stopped}"
    return StepResult(
        "failed" if report.failed or report.stopped else "ok",
        summary,
        {
            "sent": len(report.sent),
            "deferred": len(report.deferred),
            "failed": len(report.failed),
            "released": report.released,
            "stopped": report.stopped,
        },
    )


# ---------------------------------------------------------------- bulletin
def bulletin(
    engine: Engine, config: Config, profile: ThresholdProfile, now: dt.datetime
) -> StepResult:
    """This month's bulletin for the top scope and each configured scope; sent through the
    outbox when it has recipients (a rerun queues nothing twice)."""
    from monitor.config.bulletin import settings_from_config
    from monitor.notify.outbox import send_bulletin
    from monitor.pipeline.bulletin import produce_bulletin
    from monitor.store.schema import evaluations

    # first evaluate anything imported but not yet evaluated (an interrupted ingest, an
    # analyst's import): the bulletin shows everything in the store
    evaluated = evaluate_changes(engine, config, profile, now)
    with engine.connect() as conn:
        if not conn.execute(select(func.count()).select_from(evaluations)).scalar_one():
            return StepResult("ok", "尚无评估结果，未生成月报")
    settings = settings_from_config(config)
    out = settings.archive or (config.base_dir / "bulletins")
    written_list, queued = [], 0
    for scope in (None, *settings.scopes):
        written = produce_bulletin(engine, config=config, out=Path(out), now=now, scope=scope)
        written_list.append(str(written.html))
        log.info(
            f"月报：{written.html}",
            extra={"event": "bulletin", "job": "bulletin", "region": scope or "全部"},
        )
        if written.recipients:
            queued += len(send_bulletin(engine, written, config=config, now=now))
    summary = f"月报 {len(written_list)} 份，放入发件箱 {queued} 封"
    details: dict[str, Any] = {"html": written_list, "queued": queued, **evaluated}
    if queued or evaluated["mails"]:
        d = deliver(engine, config, profile, now)
        summary += f"；{d.summary}"
        details["deliver"] = d.details
    return StepResult("ok", summary, details)


STEPS: dict[str, Callable[[Engine, Config, ThresholdProfile, dt.datetime], StepResult]] = {
    "ingest": ingest,
    "deliver": deliver,
    "bulletin": bulletin,
}


def run_step(name: str, config: Config, profile: ThresholdProfile, now: dt.datetime) -> StepResult:
    from monitor.store.db import open_store

    engine = open_store(config.store_url)
    try:
        return STEPS[name](engine, config, profile, now)
    finally:
        engine.dispose()


def child_main(
    name: str,
    config: Config,
    profile: ThresholdProfile,
    now: dt.datetime,
    pipe: Pipe,
    lifeline: Pipe,
    level: int,
) -> None:
    """Entry point of a step's own process: run it, send back a StepResult, never raise."""
    from monitor.service.log import setup_logging

    _die_with_service(lifeline)
    setup_logging(level)
    try:
        result = run_step(name, config, profile, now)
    except Exception as exc:  # reported by the service; the next run tries again
        log.exception(f"{name} 失败：{exc}", extra={"event": "error", "job": name})
        result = StepResult("failed", f"{type(exc).__name__}: {exc}".strip()[:500])
    try:
        pipe.send(result)
    except (BrokenPipeError, OSError):
        pass  # the service is gone
    finally:
        pipe.close()


def _die_with_service(lifeline: Pipe) -> None:
    """When the service dies (even by SIGKILL) its step dies too, so a restarted service never
    races a leftover step; the store's transactions leave nothing half-written. The service
    holds the other end of `lifeline`: end of file means it is gone. (Not PR_SET_PDEATHSIG:
    our parent is the fork server, which outlives the service while steps run.)"""
    import os
    import threading

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv()
        os._exit(70)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()
