"""`fundmon run` and `fundmon status`."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import click

from monitor.cli.common import Context, echo, local_time, now, reports_errors
from monitor.cli.help_text import command, english, option


@command("run")
@option(
    "--once",
    is_flag=True,
    help="每个到期步骤运行一次后退出（供 cron 与测试）",
    en="Run each step that is due once, then exit (for cron and tests)",
)
@option("--verbose", "-v", is_flag=True, help="更详细的日志", en="More detailed logs")
@click.pass_obj
@reports_errors
@english(
    """Run the service (in the foreground): watch folders and import ledgers, evaluate,
    send alert mail, make the monthly bulletin on its day.

    The schedule is config.toml's [schedule] (cron expressions, time zone Asia/Shanghai
    unless set). SIGTERM/SIGINT: finish the current step, then exit (exit code 0); SIGHUP:
    reload the configuration and thresholds. One service per store: a second is refused
    (exit code 1, naming the one that holds it).
    """
)
def run(obj: Context, once: bool, verbose: bool) -> None:
    """运行服务（前台）：监视目录导入台账、评估、预警邮件、按日生成月报。

    计划见 config.toml 的 [schedule]（cron 表达式，时区默认 Asia/Shanghai）。
    SIGTERM/SIGINT：结束当前步骤后退出（退出码 0）；SIGHUP：重新加载配置与阈值。
    同一存储只能运行一个服务：第二个会被拒绝（退出码 1，并说明占用者）。
    """
    from monitor.service.daemon import Service, run_once
    from monitor.service.log import setup_logging

    level = logging.DEBUG if verbose else logging.INFO
    setup_logging(level)
    service = Service(obj.config_path, obj.db, clock=now, log_level=level)
    if once:
        service.lock.acquire(now())  # --once too: never beside a running service
        try:
            code = run_once(service)
        finally:
            service.lock.release(now())
            service.engine.dispose()
        sys.exit(code)
    service.install_signals()
    service.start()
    sys.exit(service.serve())


@command("status")
@option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="输出格式",
    en="Output format",
)
@click.pass_obj
@reports_errors
@english(
    """Service status: whether it is running (heartbeat), each job's last result and next
    time, counts of risk levels, the outbox, recent imports.

    Exit code: 0 the service is running; 3 it is not (for monitoring scripts).
    """
)
def status(obj: Context, fmt: str) -> None:
    """服务状态：是否在运行（心跳）、各任务上次结果与下次时间、风险级别计数、发件箱、最近导入。

    退出码：0 服务运行中；3 服务未运行（供监控脚本判断）。
    """
    from monitor.service.status import service_status, status_lines

    with obj.engine().connect() as conn:
        st = service_status(conn, obj.config, now=now())
    if fmt == "json":
        echo(json.dumps(st, ensure_ascii=False, indent=2, default=_json_default), block=True)
    else:
        for line in status_lines(st, local_time):
            echo(line)
    if not st["service"]["up"]:
        sys.exit(3)


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(type(value).__name__)
