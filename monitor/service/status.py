"""`fundmon status`: is the service up, how did each job last run and when is it next, how
many funds are at each level, what waits in the outbox, what the last import brought."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import column, desc, func, inspect, select, table
from sqlalchemy.engine import Connection

from monitor.config.service import JOBS, schedule_settings
from monitor.config.settings import Config
from monitor.core.vocabulary import fund_name, level_label, review_word
from monitor.notify.held import waiting
from monitor.notify.outbox import open_alerts, outbox_counts
from monitor.notify.outbox import utc as _utc
from monitor.store.reviews import pending_reviews
from monitor.store.schema import evaluations, import_findings, imports, ingested_files, job_runs
from monitor.store.schema import service_instance as si

LEVELS = ("red", "orange", "yellow", "green")


def service_status(conn: Connection, config: Config, *, now: dt.datetime) -> dict[str, Any]:
    schedule = schedule_settings(config)
    stale_after = 3 * schedule.heartbeat
    inst = conn.execute(select(si)).first()
    if inst is None:
        service: dict[str, Any] = {"up": False, "state": "never_started"}
    else:
        beat = _utc(inst.heartbeat_at)
        up = inst.stopped_at is None and beat is not None and now - beat <= stale_after
        state = "running" if up else ("stopped" if inst.stopped_at else "not_responding")
        service = {
            "up": up,
            "state": state,
            "host": inst.host,
            "pid": inst.pid,
            "started_at": _utc(inst.started_at),
            "heartbeat_at": beat,
            "stopped_at": _utc(inst.stopped_at),
            "version": inst.version,
        }
    return {
        "now": now,
        "service": service,
        "jobs": _jobs(conn, schedule.cron),
        "levels": _levels(conn),
        "outbox": outbox_counts(conn, now=now),
        "last_import": _last_import(conn),
        "recent_files": _recent_files(conn),
        "reviews": _reviews(conn),
        "open_alerts": _open_alerts(conn, config, now),
    }


def _open_alerts(conn: Connection, config: Config, now: dt.datetime) -> dict[str, Any]:
    """Open alerts no route delivers (raised while no route matched them, or whose route was
    removed), and those a route newly matches (sent at the next `outbox send`)."""
    from monitor.config.alerts import alert_settings

    out: dict[str, Any] = {"unrouted": [], "pending": []}
    for o in open_alerts(conn, alert_settings(config), now):
        if o.delivery not in out:
            continue
        out[o.delivery].append(
            {
                "alert_id": o.alert_id,
                "region_code": o.state.region_code,
                "region_name": o.region_name,
                "fund": o.state.fund,
                "fund_name": fund_name(config.funds, o.state.fund),
                "level": o.state.level.value,
                "recipients": sorted(o.missing.values()),
            }
        )
    return out


def _reviews(conn: Connection) -> dict[str, Any]:
    """Months pending review (待核实) and the alert changes held for them."""
    pending = pending_reviews(conn)
    return {
        "pending": [
            {"id": r.id, "region_code": r.region_code, "fund": r.fund, "month": r.month}
            for r in pending
        ],
        "held_alerts": [
            {
                "id": h.event.id,
                "region_code": h.event.snapshot.region_code,
                "fund": h.event.snapshot.fund,
                "month": h.event.snapshot.month,
                "kind": h.event.kind,
                "level": h.event.level.value,
                "waiting_for": sorted(i for i, st in h.statuses.items() if st == "pending"),
            }
            for h in waiting(conn)
        ],
    }


def _jobs(conn: Connection, cron: Mapping[str, str]) -> list[dict[str, Any]]:
    next_runs = _next_runs(conn)
    out = []
    for name in JOBS:
        last = conn.execute(
            select(job_runs).where(job_runs.c.job == name).order_by(desc(job_runs.c.id)).limit(1)
        ).first()
        failures = conn.execute(
            select(func.count())
            .select_from(job_runs)
            .where(job_runs.c.job == name, job_runs.c.outcome.in_(["failed", "timeout"]))
        ).scalar_one()
        out.append(
            {
                "job": name,
                "cron": cron.get(name, ""),
                "next_run": next_runs.get(name),
                "last_started": _utc(last.started_at) if last else None,
                "last_finished": _utc(last.finished_at) if last else None,
                "last_outcome": last.outcome if last else None,
                "last_summary": last.summary if last else None,
                "failures_total": int(failures),
            }
        )
    return out


def _next_runs(conn: Connection) -> dict[str, dt.datetime | None]:
    """From APScheduler's own table: next_run_time is a POSIX timestamp per job id."""
    if not inspect(conn).has_table("apscheduler_jobs"):
        return {}
    t = table("apscheduler_jobs", column("id"), column("next_run_time"))
    return {
        r.id: (dt.datetime.fromtimestamp(r.next_run_time, dt.UTC) if r.next_run_time else None)
        for r in conn.execute(select(t.c.id, t.c.next_run_time))
    }


def _levels(conn: Connection) -> dict[str, Any]:
    """Each fund's latest evaluated month, counted by level."""
    latest = (
        select(
            evaluations.c.region_code, evaluations.c.fund, func.max(evaluations.c.month).label("m")
        )
        .group_by(evaluations.c.region_code, evaluations.c.fund)
        .subquery()
    )
    q = (
        select(evaluations.c.level, func.count(), func.max(evaluations.c.month))
        .join(
            latest,
            (evaluations.c.region_code == latest.c.region_code)
            & (evaluations.c.fund == latest.c.fund)
            & (evaluations.c.month == latest.c.m),
        )
        .group_by(evaluations.c.level)
    )
    counts = {lv: 0 for lv in LEVELS}
    month = None
    for level, n, m in conn.execute(q):
        counts[level] = int(n)
        month = max(month or m, m)
    return {"counts": counts, "latest_month": month}


def _last_import(conn: Connection) -> dict[str, Any] | None:
    r = conn.execute(select(imports).order_by(desc(imports.c.id)).limit(1)).first()
    if r is None:
        return None
    warnings = [
        f.message
        for f in conn.execute(
            select(import_findings.c.message)
            .where(import_findings.c.import_id == r.id)
            .order_by(import_findings.c.id)
            .limit(5)
        )
    ]
    return {
        "id": r.id,
        "finished_at": _utc(r.finished_at or r.started_at),
        "kind": r.kind,
        "source": r.source,
        "rows": r.rows,
        "inserted": r.inserted,
        "replaced": r.replaced,
        "warnings": r.warnings,
        "first_warnings": warnings,
        # imports no evaluation has seen yet: the next ingest or bulletin evaluates them
        "awaiting_evaluation": conn.execute(
            select(func.count()).select_from(imports).where(imports.c.evaluated_at.is_(None))
        ).scalar_one(),
    }


def _recent_files(conn: Connection, limit: int = 5) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(ingested_files).order_by(desc(ingested_files.c.id)).limit(limit)
    ).all()
    return [
        {
            "file": r.filename,
            "outcome": r.outcome,
            "rows": r.rows,
            "warnings": r.warnings,
            "message": r.message,
            "processed_at": _utc(r.processed_at),
        }
        for r in rows
    ]


# ---------------------------------------------------------------- text
_STATE_ZH = {
    "running": "运行中",
    "stopped": "已停止",
    "not_responding": "无心跳（进程可能已退出）",
    "never_started": "从未启动",
}
_OUTCOME_ZH = {
    "ok": "成功",
    "failed": "失败",
    "timeout": "超时终止",
    "abandoned": "停止时放弃",
    "missed": "错过",
    "running": "运行中",
}


def status_lines(status: dict[str, Any], fmt_time: Any) -> list[str]:
    s = status["service"]
    t = lambda v: fmt_time(v) if v else "—"  # noqa: E731
    lines = [f"服务：{_STATE_ZH[s['state']]}"]
    if s["state"] != "never_started":
        lines[0] += (
            f"（主机 {s['host']}，进程 {s['pid']}，启动于 {t(s['started_at'])}，"
            f"最近心跳 {t(s['heartbeat_at'])}）"
        )
    lines.append("任务：")
    for j in status["jobs"]:
        outcome = (
            _OUTCOME_ZH.get(j["last_outcome"], "从未运行") if j["last_outcome"] else "从未运行"
        )
        lines.append(
            f"  {j['job']:<9}{j['cron'] or '（停用）':<14}上次 {t(j['last_started'])} {outcome}"
            f"；下次 {t(j['next_run'])}"
        )
        if j["last_summary"]:
            lines.append(f"             {j['last_summary']}")
    lv = status["levels"]
    counts = "，".join(f"{level_label(k)} {n}" for k, n in lv["counts"].items())
    lines.append(f"风险级别（各基金最新评估月，至 {lv['latest_month'] or '—'}）：{counts}")
    o = status["outbox"]
    lines.append(
        f"发件箱：待发 {o['pending'] + o['sending']}（已到期 {o['due']}），失败 {o['failed']}，"
        f"已发 {o['sent']}"
    )
    imp = status["last_import"]
    if imp:
        waiting = imp["awaiting_evaluation"]
        lines.append(
            f"最近导入：#{imp['id']} {t(imp['finished_at'])} {imp['source']}，{imp['rows']} 行"
            f"（新增 {imp['inserted']}，更正 {imp['replaced']}），警告 {imp['warnings']} 条"
            + (f"；{waiting} 次导入尚待评估" if waiting else "")
        )
        lines.extend(f"  警告：{w}" for w in imp["first_warnings"])
    else:
        lines.append("最近导入：无")
    for f in status["recent_files"]:
        lines.append(f"  文件 {f['file']}：{f['message']}")
    oa = status.get("open_alerts") or {}
    if oa.get("unrouted"):
        shown = "、".join(
            f"{a['region_name']} {a['fund_name']} {level_label(a['level'])}"
            for a in oa["unrouted"][:5]
        )
        more = "等" if len(oa["unrouted"]) > 5 else ""
        lines.append(
            f"{len(oa['unrouted'])} 项当前预警没有匹配的收件人（{shown}{more}）："
            "在 config.toml 的 [[alerts.routes]] 中加上匹配的路由，下次发送时各补发一次"
            "（`fundmon alerts list` 查看）"
        )
    if oa.get("pending"):
        lines.append(
            f"{len(oa['pending'])} 项当前预警将补发给新匹配的收件人（下次 `fundmon outbox send`）"
        )
    rv = status.get("reviews") or {}
    if rv.get("pending") or rv.get("held_alerts"):
        months = "、".join(f"{p['region_code']} {p['month']}" for p in rv["pending"][:5])
        more = "等" if len(rv["pending"]) > 5 else ""
        lines.append(
            f"{review_word()}：{len(rv['pending'])} 个月（{months}{more}），"
            f"{len(rv['held_alerts'])} 项预警因此暂缓发送"
            "（`fundmon ledger pending` 查看，`fundmon ledger confirm` 确认）"
        )
    return lines
