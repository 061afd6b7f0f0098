"""`fundmon evaluate`: every fund's indicators, forecasts and level, stored as level history,
with its alerts queued in the same transaction; or `--replay` month by month."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from monitor.cli.common import (
    Context,
    echo,
    month_option,
    now,
    profile_option,
    reports_errors,
)
from monitor.cli.formats import csv_out_option, format_option
from monitor.cli.help_text import command, english, lang_option, option
from monitor.core.errors import NotFound


@command()
@option(
    "--month",
    callback=month_option,
    help="评估月份（默认：有数据的最新月份）",
    en="Month to evaluate (default: the latest month with data)",
)
@format_option("json", "csv")
@option(
    "--replay",
    "replay_range",
    metavar="FROM..TO",
    help="逐月回放（只用截至当月的数据），报告提前量与误报；不写入",
    en="Replay month by month (each month with only the data up to it), reporting lead"
    " times and false alarms; writes nothing",
)
@option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False),
    help="阈值配置文件（默认：config.toml 中的 [thresholds] profile）",
    en="Threshold profile file (default: the [thresholds] profile of config.toml)",
)
@lang_option()
@csv_out_option("out_path")
@option(
    "--changed-only",
    is_flag=True,
    help="只评估自上次评估以来数据有变化的基金（新月份、更正），各按其最新月份；其余保留",
    en="Evaluate only the funds whose data changed since the last evaluation (new months,"
    " corrections), each at its latest month; keep the rest",
)
@click.pass_obj
@reports_errors
@english(
    """Every region's and fund's indicators, forecasts and risk level; the results are
    written to the level history.

    CSV to standard output has no BOM (for programs); written to a file with --out it has
    one, for Excel."""
)
def evaluate(
    obj: Context,
    month: str | None,
    fmt: str,
    replay_range: str | None,
    profile_path: str | None,
    lang: str,
    changed_only: bool,
    out_path: str | None,
) -> None:
    """各统筹区、各险种的指标、预测与风险级别；结果写入级别历史。

    CSV 输出到标准输出时不带 BOM（供程序读取）；用 --out 写入文件时带 BOM，供 Excel 打开。"""
    from monitor.pipeline import evaluate as ev
    from monitor.render.evaluation import replay_lines, results_csv, results_json, results_table

    if out_path and fmt != "csv":
        raise click.UsageError("--out 只用于 --format csv")

    if replay_range:
        profile = profile_option(obj, profile_path)
        start, sep, end = replay_range.partition("..")
        start_m, end_m = month_option(None, None, start), month_option(None, None, end)
        if not sep or start_m is None or end_m is None or start_m > end_m:
            raise click.BadParameter(
                f"{replay_range!r}：应如 2019-01..2024-12", param_hint="--replay"
            )
        with obj.engine().connect() as conn:
            replayed = ev.replay(conn, config=obj.config, profile=profile, start=start_m, end=end_m)
        lines = replay_lines(
            replayed, profile, obj.config.funds, start=start_m, end=end_m, lang=lang
        )
        for line in lines:
            echo(line, block=True)
        return
    from monitor.notify.outbox import queue_alerts

    at = now()
    with obj.engine().begin() as conn:  # levels and their alerts in one transaction
        run = ev.evaluate_store(
            conn,
            obj.config,
            now=at,
            month=month,
            changed_only=changed_only,
            profile_path=profile_path,
        )
        results = run.results
        queued = queue_alerts(conn, results, config=obj.config, profile=run.profile, now=at)
        if fmt == "table":  # json and csv stay machine-readable: nothing else on either stream
            echo(queued.line(lang), err=True)
    if not results and changed_only:
        if fmt == "table":
            echo("自上次评估以来没有数据变化的基金，无需重新评估。")
        elif fmt == "json":
            echo("[]")
        return
    if not results:
        raise NotFound("存储中没有台账数据：请先 `fundmon import`")
    color = sys.stdout.isatty()
    if fmt == "json":
        echo(results_json(results, lang), block=True)
    elif fmt == "csv" and out_path:
        _write_people_csv(Path(out_path), results_csv(results, lang))
        echo(f"已写入 {out_path}（{len(results)} 行；UTF-8 BOM，可直接用 Excel 打开）")
    elif fmt == "csv":  # a pipe: no BOM, which a program would read as part of the first name
        echo(results_csv(results, lang), nl=False, block=True)
    elif len(results) > 200:  # a province or the country: counts and the most severe
        from monitor.render.evaluation import results_summary

        summary = results_summary(results, obj.config.funds, lang=lang, color=color)
        echo(summary, block=True, styled=color)
    else:
        table = results_table(results, obj.config.funds, lang=lang, color=color)
        echo(table, block=True, styled=color)


def _write_people_csv(path: Path, text: str) -> None:
    """CSV for Excel on Chinese Windows: UTF-8 with a BOM (text_safety.EXCEL_CSV_ENCODING)."""
    from monitor.core.text_safety import EXCEL_CSV_ENCODING

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=EXCEL_CSV_ENCODING, newline="")
