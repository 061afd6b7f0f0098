"""The `fundmon` command. Errors of the core are reported here once: exit 1 with reasons."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click
import pandas as pd
from tabulate import tabulate

from monitor.config import Config, load_config
from monitor.errors import LedgerRejected, MonitorError, NotFound, ThresholdProfileError
from monitor.findings import Finding
from monitor.ledger_columns import BY_NAME
from monitor.money import format_amount, parse_unit, yuan_grouped
from monitor.text_safety import safe_lines, safe_rows, safe_text

F = TypeVar("F", bound=Callable[..., Any])
MAX_LISTED = 50  # findings and changes printed; all are stored


class Context:
    def __init__(self, config_path: str | None, db: str | None) -> None:
        self.config_path = config_path
        self.db = db
        self._config: Config | None = None
        self._engine: Any = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from monitor.config_check import check_sections

            config = load_config(self.config_path, db=self.db)
            check_sections(config)  # every section now, not when a step first reads it
            self._config = config
        return self._config

    def engine(self) -> Any:
        """The store, opened once per command and closed when the command ends."""
        from monitor.store import open_store

        if self._engine is None:
            self._engine = open_store(self.config.store_url)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


# Offices read times in Beijing time whatever zone the server runs in (times are stored in UTC).
DISPLAY_TZ = ZoneInfo("Asia/Shanghai")


def local_time(value: dt.datetime) -> str:
    """A stored timestamp (naive UTC from SQLite, aware from PostgreSQL) in Beijing time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M")


def now() -> dt.datetime:
    """The one place the CLI reads the clock."""
    return dt.datetime.now(dt.UTC)


_SGR = re.compile(r"(\x1b\[[0-9;]*m)")


def echo(
    message: object = "",
    *,
    err: bool = False,
    nl: bool = True,
    block: bool = False,
    styled: bool = False,
) -> None:
    """The one way the CLI prints, so that text from outside (file, region and sheet names,
    cell values, messages quoting them) cannot forge a line or drive the terminal.

    By default `message` is one line: every control character in it, a newline included, is
    shown escaped (text_safety.safe_text). `block=True` is for text the program laid out over
    several lines — a table, JSON, CSV — whose values it escaped itself: its line breaks are
    kept, anything else is escaped. `styled` keeps the colour codes (SGR) of click.style in a
    block; click drops them when the output is not a terminal.
    """
    text = str(message)
    if not block:
        text = safe_text(text)
    elif styled:
        text = "".join(
            part if _SGR.fullmatch(part) else safe_lines(part) for part in _SGR.split(text)
        )
    else:
        text = safe_lines(text)
    click.echo(text, err=err, nl=nl)


def reports_errors(fn: F) -> F:
    """Turn the core's errors into messages on stderr and exit code 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LedgerRejected as exc:
            for finding in exc.findings:
                echo(f"错误：{finding.render()}", err=True)
            if exc.truncated:
                echo(f"……另有 {exc.truncated} 个错误未列出", err=True)
            echo(str(exc), err=True)
            sys.exit(1)
        except ThresholdProfileError as exc:  # a head line, then one line per problem
            head = str(exc).split("\n", 1)[0]
            echo(f"错误：{head}", err=True)
            for problem in exc.problems:
                echo("  " + problem.describe(exc.source), err=True)
            sys.exit(1)
        except MonitorError as exc:
            echo(f"错误：{exc}", err=True)
            sys.exit(1)
        except BrokenPipeError:  # `fundmon … | head`: the reader left, nothing to report
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except OSError as exc:  # a folder that cannot be written, a disk that is full
            echo(f"错误：{exc.strerror or exc}（{exc.filename or ''}）", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def unit_option(value: str | None) -> str | None:
    if value is None:
        return None
    unit = parse_unit(value)
    if unit is None:
        raise click.BadParameter(f"{value!r}：应为 元、万元 或 亿元")
    return unit


def _print_findings(findings: Sequence[Finding], label: str = "警告") -> None:
    for finding in findings[:MAX_LISTED]:
        echo(f"{label}：{finding.render()}")
    if len(findings) > MAX_LISTED:
        echo(f"……另有 {len(findings) - MAX_LISTED} 条{label}未列出（均已随导入记录保存）")


def _table(rows: list[list[Any]], headers: list[str], **options: Any) -> str:
    """A table for `echo(…, block=True)`: every text cell escaped, so rows stay rows."""
    options = {"disable_numparse": True, "stralign": "right", **options}
    return tabulate(safe_rows(rows), headers=headers, **options)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="配置文件（默认 ./config.toml，其次 $FUNDMON_CONFIG）",
)
@click.option("--db", help="存储数据库的 SQLAlchemy URL（覆盖配置与 $FUNDMON_DB）")
@click.version_option(package_name="fund-risk-monitor")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, db: str | None) -> None:
    """医保基金运行风险监测预警（fund-risk-monitor）。"""
    # Whatever this process creates (the store, its journal, exports, bulletins, mail) is the
    # user's alone unless a writer says otherwise (monitor.safe_files: an archive group).
    os.umask(0o077)
    ctx.obj = Context(config_path, db)
    ctx.call_on_close(ctx.obj.close)


# ---------------------------------------------------------------- import
@main.command("import")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--unit",
    callback=lambda c, p, v: unit_option(v),
    help="金额单位：元、万元 或 亿元（文件未注明时必须给出）",
)
@click.option("--sheet", help="只读取这个工作表（默认：每个像台账的工作表）")
@click.option(
    "--refunds",
    multiple=True,
    metavar="COLUMN",
    help="允许该列为负数（退费/冲销），如 --refunds expenditure；可重复",
)
@click.option("--check", is_flag=True, help="只校验并显示将发生的变化，不写入")
@click.option("--from-sql", is_flag=True, help="从 config.toml [source] 配置的源数据库读取")
@click.pass_obj
@reports_errors
def import_cmd(
    obj: Context,
    files: tuple[str, ...],
    unit: str | None,
    sheet: str | None,
    refunds: tuple[str, ...],
    check: bool,
    from_sql: bool,
) -> None:
    """导入台账（.xlsx/.xls/.csv），或用 --from-sql 从源数据库读取。全部成功才写入。"""
    from monitor.ledger_import import import_files
    from monitor.sql_source import import_from_sql

    if bool(files) == from_sql:
        raise click.UsageError("请给出台账文件，或使用 --from-sql（二者选一）")
    bad = [r for r in refunds if r not in BY_NAME or BY_NAME[r].kind != "amount"]
    if bad:
        raise click.BadParameter(f"{bad} 不是金额列", param_hint="--refunds")
    engine = obj.engine()
    if from_sql:
        result = import_from_sql(
            engine, config=obj.config, unit=unit, refunds=refunds, check=check, now=now()
        )
    else:
        result = import_files(
            engine,
            files,
            config=obj.config,
            unit=unit,
            sheet=sheet,
            refunds=refunds,
            check=check,
            now=now(),
            isolated=True,  # a file that crashes its reader is refused by name, not fatal
        )
    _print_import(result, check, obj.config.funds)


def _print_import(result: Any, check: bool, funds: Any) -> None:
    from monitor.ledger_import import describe_changes

    lines = describe_changes(result.changes, result.region_names, funds)
    for line in lines[:MAX_LISTED]:
        echo(f"更正：{line}")
    if len(lines) > MAX_LISTED:
        echo(f"……另有 {len(lines) - MAX_LISTED} 个月的更正未列出（`fundmon ledger history` 可查）")
    _print_findings(result.warnings)
    verb = "校验通过（--check，未写入）" if check else f"已导入（导入编号 #{result.import_id}）"
    echo(
        f"{verb}：{result.rows} 行；新增 {result.inserted}，更正 {result.replaced}，"
        f"未变 {result.unchanged}；警告 {len(result.warnings)} 条；"
        f"单位 {'/'.join(sorted(result.units))}"
    )


# ---------------------------------------------------------------- ledger
@main.group()
def ledger() -> None:
    """查看、导出已存储的台账。"""


def _series_frame(obj: Context, region: str | None, fund: str | None) -> tuple[pd.DataFrame, Any]:
    """Stored ledger plus roll-ups for the store's regions."""
    from monitor.rollup import rollup
    from monitor.store import read_ledger, read_regions

    with obj.engine().connect() as conn:
        regions = read_regions(conn)
        data = read_ledger(conn, fund=fund)
    combined, findings = rollup(data, regions)
    if region:
        combined = combined[combined["region_code"] == region]
    return combined, (regions, findings)


@ledger.command("show")
@click.option("--region", required=True, help="统筹区编码，如 341721（上级无台账时显示下级汇总）")
@click.option("--fund", required=True, help="险种，如 employee、resident")
@click.option("--from", "start", help="起始月份 YYYY-MM")
@click.option("--to", "end", help="截止月份 YYYY-MM")
@click.option("--unit", default="万元", callback=lambda c, p, v: unit_option(v), show_default=True)
@click.pass_obj
@reports_errors
def ledger_show(
    obj: Context, region: str, fund: str, start: str | None, end: str | None, unit: str
) -> None:
    """打印一个统筹区、一个险种的月度序列（含可支付月数）。"""
    from monitor.indicators import payable_months

    key = obj.config.funds.key_for(fund)
    if key is None:
        raise click.BadParameter(
            f"未知险种 {fund!r}：{obj.config.funds.describe()}", param_hint="--fund"
        )
    data, (regions, findings) = _series_frame(obj, region, key)
    if data.empty:
        raise NotFound(
            f"没有 {region} {key} 的台账数据（用 `fundmon ledger regions` 查看已有统筹区）"
        )
    data = data.merge(payable_months(data), on=["region_code", "fund", "month"])
    if start:
        data = data[data["month"] >= start]
    if end:
        data = data[data["month"] <= end]
    name = dict(zip(regions["code"], regions["name"], strict=True)).get(region, region)
    derived = bool(data["derived"].any())
    echo(
        f"{name}（{region}）{obj.config.funds[key].short}"
        f"{'（下级汇总）' if derived else ''}，金额单位：{unit}"
    )
    rows = [
        [
            r.month,
            format_amount(r.income, unit),
            format_amount(r.expenditure, unit),
            format_amount(r.balance, unit),
            f"{r.payable_months:.1f}" + ("*" if r.short_history else ""),
        ]
        for r in data.assign(
            income=data["income"] / 100,
            expenditure=data["expenditure"] / 100,
            balance=data["balance"] / 100,
        ).itertuples()
    ]
    echo(_table(rows, ["月份", "本期收入", "本期支出", "期末累计结余", "可支付月数"]), block=True)
    if data["short_history"].any():
        echo("* 不足 12 个月的支出，按已有月份的平均值计算")
    relevant = [f for f in findings if f.region_code == region or region in f.message]
    _print_findings(relevant)


@ledger.command("regions")
@click.pass_obj
@reports_errors
def ledger_regions(obj: Context) -> None:
    """列出统筹区、层级、上级，以及各险种已有的月份范围。"""
    data, (regions, _) = _series_frame(obj, None, None)
    spans = data.groupby(["region_code", "fund"])["month"].agg(["min", "max", "size"]).reset_index()
    spans["derived"] = data.groupby(["region_code", "fund"])["derived"].any().to_numpy()
    level_zh = {"province": "省", "city": "市", "county": "县区"}
    rows = []
    for r in regions.itertuples():
        mine = spans[spans["region_code"] == r.code]
        funds = (
            "；".join(
                f"{s.fund} {s['min']}～{s['max']}"
                f"（{s['size']} 个月{'，汇总' if s.derived else ''}）"
                for _, s in mine.iterrows()
            )
            or "—"
        )
        rows.append([r.code, r.name, level_zh.get(r.level, r.level), r.parent_code or "", funds])
    echo(_table(rows, ["编码", "名称", "层级", "上级", "台账"], stralign="left"), block=True)


@ledger.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), required=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--region", help="统筹区编码或通配（3417*）")
@click.option("--fund", help="险种")
@click.option("--from", "start", help="起始月份 YYYY-MM")
@click.option("--to", "end", help="截止月份 YYYY-MM")
@click.pass_obj
@reports_errors
def ledger_export(
    obj: Context,
    fmt: str,
    out: str,
    region: str | None,
    fund: str | None,
    start: str | None,
    end: str | None,
) -> None:
    """导出标准列（险种为键，金额单位：元），可按统筹区、险种、月份筛选。"""
    from monitor.ledger_export import export_ledger

    key = None
    if fund:
        key = obj.config.funds.key_for(fund)
        if key is None:
            raise click.BadParameter(f"未知险种 {fund!r}", param_hint="--fund")
    with obj.engine().connect() as conn:
        n = export_ledger(conn, Path(out), fmt=fmt, region=region, fund=key, start=start, end=end)
    echo(f"已导出 {n} 行到 {out}（金额单位：元；重新导入时请加 --unit 元）")


@ledger.command("history")
@click.option("--region", required=True)
@click.option("--fund", required=True)
@click.option("--month", required=True, help="YYYY-MM")
@click.pass_obj
@reports_errors
def ledger_history(obj: Context, region: str, fund: str, month: str) -> None:
    """显示一个月份的各个版本：谁、何时、来自哪个文件，改了什么。"""
    from monitor.ledger_import import Change, describe_changes
    from monitor.months import parse_month
    from monitor.schema import VALUE_COLUMNS
    from monitor.store import read_history

    key = obj.config.funds.key_for(fund) or fund
    m = parse_month(month)
    if m is None:
        raise click.BadParameter(f"{month!r} 不是月份", param_hint="--month")
    with obj.engine().connect() as conn:
        hist = read_history(conn, region, key, m)
    if hist.empty:
        raise NotFound(f"没有 {region} {key} {m} 的台账记录")
    prev: dict[str, Any] | None = None
    for r in hist.itertuples():
        when = local_time(r.started_at)
        current = "（当前）" if r.Index == len(hist) - 1 else ""
        echo(f"第 {r.revision} 版{current}：导入 #{r.import_id}，{r.user}，{when}，来源 {r.source}")
        values = {c: None if pd.isna(getattr(r, c)) else int(getattr(r, c)) for c in VALUE_COLUMNS}
        if prev is None:
            for c in ("income", "expenditure", "balance"):
                echo(f"    {BY_NAME[c].label}：{yuan_grouped(values[c])} 元")
        else:
            changes = [
                Change(region, key, m, c, prev[c], values[c])
                for c in VALUE_COLUMNS
                if prev[c] != values[c]
            ]
            for line in describe_changes(changes, {}, obj.config.funds):
                for part in line.split("：", 1)[1].split("；"):  # one change per line
                    echo("    " + part)
        prev = values


# ---------------------------------------------------------------- forecast
def _levels(_c: Any, _p: Any, value: str) -> tuple[int, ...]:
    try:
        levels = tuple(sorted({int(v) for v in value.split(",") if v.strip()}))
    except ValueError:
        raise click.BadParameter(f"{value!r}：应为以逗号分隔的百分数，如 80,95") from None
    if not levels or any(not 50 <= v < 100 for v in levels):
        raise click.BadParameter(f"{value!r}：区间水平应在 50 到 99 之间")
    return levels


@main.command()
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False),
    help="长表 CSV：series_id,month,value（任意月度序列）",
)
@click.option("--output", type=click.Path(dir_okay=False), help="预测结果 CSV（与 --input 一起用）")
@click.option(
    "--accuracy",
    "accuracy_path",
    type=click.Path(dir_okay=False),
    help="另存每个序列的模型与回测精度（MASE、sMAPE、区间覆盖率）",
)
@click.option("--region", help="统筹区编码：预测已存储基金的收支、结余与可支付月数")
@click.option("--fund", help="险种（与 --region 一起用）")
@click.option(
    "--horizon",
    type=click.IntRange(1, 120),
    default=None,
    help="预测月数（--input 时必填；基金预测默认 24）",
)
@click.option("--season", type=click.IntRange(1, 52), default=12, show_default=True)
@click.option(
    "--levels", default="80,95", show_default=True, callback=_levels, help="区间水平（百分数）"
)
@click.option(
    "--workers", type=click.IntRange(1, 256), default=None, help="并行进程数（默认：CPU 核数）"
)
@click.option(
    "--paths",
    "n_paths",
    type=click.IntRange(100, 100_000),
    default=2000,
    show_default=True,
    help="基金预测的模拟路径数",
)
@click.option("--seed", type=int, default=0, show_default=True, help="模拟的随机种子")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_obj
@reports_errors
def forecast(
    obj: Context,
    input_path: str | None,
    output: str | None,
    accuracy_path: str | None,
    region: str | None,
    fund: str | None,
    horizon: int | None,
    season: int,
    levels: tuple[int, ...],
    workers: int | None,
    n_paths: int,
    seed: int,
    fmt: str,
) -> None:
    """预测：任意月度序列文件（--input），或一个已存储基金的前景（--region --fund）。"""
    if input_path:
        if region or fund:
            raise click.UsageError("--input 与 --region/--fund 只能二选一")
        if not output or horizon is None:
            raise click.UsageError("--input 需要同时给出 --output 和 --horizon")
        _forecast_file(input_path, output, accuracy_path, horizon, season, levels, workers)
        return
    if not (region and fund):
        raise click.UsageError("请给出 --input FILE，或 --region CODE --fund KEY")
    key = obj.config.funds.key_for(fund)
    if key is None:
        raise click.BadParameter(
            f"未知险种 {fund!r}：{obj.config.funds.describe()}", param_hint="--fund"
        )
    _forecast_fund(obj, region, key, horizon or 24, n_paths, seed, fmt)


def _forecast_file(
    input_path: str,
    output: str,
    accuracy_path: str | None,
    horizon: int,
    season: int,
    levels: tuple[int, ...],
    workers: int | None,
) -> None:
    from monitor.forecast import forecast_frame, read_series_csv

    series, failures = read_series_csv(input_path)
    result = forecast_frame(series, horizon, season=season, levels=levels, workers=workers)
    failures = failures + result.failures
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_frame(result.forecasts, out, "%.6g")
    if accuracy_path:
        _write_frame(result.accuracy, Path(accuracy_path), "%.4g")
    for failure in failures:
        echo(f"错误：{input_path}：{failure}", err=True)
    done = len(series) - len(result.failures)
    echo(
        f"已预测 {done} 个序列（{horizon} 个月）→ {output}"
        + (f"；{len(failures)} 个序列未能预测" if failures else "")
    )
    if failures:
        sys.exit(1)


def _write_frame(frame: pd.DataFrame, path: Path, float_format: str) -> None:
    """Series ids come from the user's file: written so no spreadsheet runs one as a formula."""
    from monitor.text_safety import write_csv

    with path.open("w", encoding="utf-8", newline="") as f:
        rows = frame.itertuples(index=False, name=None)
        write_csv(f, list(frame.columns), rows, float_format=float_format)


def _forecast_fund(
    obj: Context, region: str, fund: str, horizon: int, n_paths: int, seed: int, fmt: str
) -> None:
    import json

    from monitor.forecast import fund_outlook_from_history, fund_series
    from monitor.forecast_report import outlook_json, outlook_lines
    from monitor.store import read_regions

    with obj.engine().connect() as conn:
        history = fund_series(conn, region, fund)
        names = dict(zip(read_regions(conn)["code"], read_regions(conn)["name"], strict=True))
    outlook, income, expenditure, notes = fund_outlook_from_history(
        history, series_id=f"{region}:{fund}", horizon=horizon, n_paths=n_paths, seed=seed
    )
    title = f"{names.get(region, region)}（{region}）{obj.config.funds[fund].short}"
    if fmt == "json":
        echo(
            json.dumps(
                outlook_json(
                    outlook, income, expenditure, history, region=region, fund=fund, notes=notes
                ),
                ensure_ascii=False,
                indent=2,
            ),
            block=True,
        )
        return
    for line in outlook_lines(outlook, income, expenditure, history, title=title, notes=notes):
        echo(line, block=True)


# ---------------------------------------------------------------- evaluate
def _month_option(_c: Any, _p: Any, value: str | None) -> str | None:
    from monitor.months import parse_month

    if value is None:
        return None
    month = parse_month(value)
    if month is None:
        raise click.BadParameter(f"{value!r} 不是月份（应如 2024-12）")
    return month


def _profile(obj: Context, path: str | None) -> tuple[Any, str]:
    from monitor.thresholds import load_profile

    if path:
        return load_profile(path, funds=list(obj.config.funds.funds)), str(path)
    profile = obj.config.load_profile()
    return profile, str(obj.config.profile_path or f"national（内置：{profile.name}）")


@main.command()
@click.option("--month", callback=_month_option, help="评估月份（默认：有数据的最新月份）")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
)
@click.option(
    "--replay",
    "replay_range",
    metavar="FROM..TO",
    help="逐月回放（只用截至当月的数据），报告提前量与误报；不写入",
)
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False),
    help="阈值配置文件（默认：config.toml 中的 [thresholds] profile）",
)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option(
    "--changed-only",
    is_flag=True,
    help="只评估自上次评估以来数据有变化的基金（新月份、更正），各按其最新月份；其余保留",
)
@click.pass_obj
@reports_errors
def evaluate(
    obj: Context,
    month: str | None,
    fmt: str,
    replay_range: str | None,
    profile_path: str | None,
    lang: str,
    changed_only: bool,
) -> None:
    """各统筹区、各险种的指标、预测与风险级别；结果写入级别历史。"""
    from monitor import evaluate as ev
    from monitor.evaluate_report import replay_lines, results_csv, results_json, results_table

    profile, profile_name = _profile(obj, profile_path)
    if replay_range:
        start, sep, end = replay_range.partition("..")
        start_m, end_m = _month_option(None, None, start), _month_option(None, None, end)
        if not sep or start_m is None or end_m is None or start_m > end_m:
            raise click.BadParameter(
                f"{replay_range!r}：应如 2019-01..2024-12", param_hint="--replay"
            )
        with obj.engine().connect() as conn:
            replayed = ev.replay(conn, config=obj.config, profile=profile, start=start_m, end=end_m)
        for line in replay_lines(replayed, profile, obj.config.funds, start=start_m, end=end_m):
            echo(line, block=True)
        return
    with obj.engine().begin() as conn:
        results = ev.evaluate(
            conn,
            config=obj.config,
            profile=profile,
            profile_name=profile_name,
            month=month,
            now=now(),
            changed_only=changed_only,
        )
        from monitor.outbox import queue_alerts

        queued = queue_alerts(conn, results, config=obj.config, profile=profile, now=now())
        if fmt == "table":  # json and csv stay machine-readable: nothing else on either stream
            echo(queued.line(), err=True)
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
    elif fmt == "csv":
        echo(results_csv(results, lang), nl=False, block=True)
    elif len(results) > 200:  # a province or the country: counts and the most severe
        from monitor.evaluate_report import results_summary

        summary = results_summary(results, obj.config.funds, lang=lang, color=color)
        echo(summary, block=True, styled=color)
    else:
        table = results_table(results, obj.config.funds, lang=lang, color=color)
        echo(table, block=True, styled=color)


@main.group()
def thresholds() -> None:
    """阈值配置：检查与解释。"""


@thresholds.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_obj
@reports_errors
def thresholds_check(obj: Context, file: str) -> None:
    """检查阈值配置文件；有问题时逐条列出行号与原因，退出码 1。"""
    from monitor.thresholds import load_profile

    profile = load_profile(file, funds=list(obj.config.funds.funds))
    levels = sorted({r.level.value if r.level else "notice" for r in profile.rules})
    echo(f"{file}：通过检查，{len(profile.rules)} 条规则（{', '.join(levels)}）")


@thresholds.command("explain")
@click.option("--region", required=True)
@click.option("--fund", required=True)
@click.option("--month", callback=_month_option, help="默认：该基金有数据的最新月份")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.pass_obj
@reports_errors
def thresholds_explain(
    obj: Context, region: str, fund: str, month: str | None, profile_path: str | None, lang: str
) -> None:
    """逐条显示规则：当前值、是否触发、离触发还有多远。"""
    from monitor import evaluate as ev
    from monitor.classify import explain
    from monitor.evaluate_report import explain_lines
    from monitor.indicators import indicator_values

    key = obj.config.funds.key_for(fund)
    if key is None:
        raise click.BadParameter(f"未知险种 {fund!r}", param_hint="--fund")
    profile, _ = _profile(obj, profile_path)
    with obj.engine().connect() as conn:
        inputs = ev.load_inputs(conn)
    rows = ev.current_rows(inputs, (region, key))
    if rows.empty:
        raise NotFound(f"没有 {region} {key} 的台账数据")
    month = month or str(rows["month"].max())
    at = rows[rows["month"] == month]
    if at.empty:
        raise NotFound(f"{region} {key} 没有 {month} 的数据")
    jobs = ev.forecast_jobs(inputs, [((region, key), month)], profile, obj.config)
    forecast = {}
    for _, _, values, _ in ev.run_forecasts(jobs, workers=1, progress=False):
        forecast = values
    name = inputs.names.get(region, region)
    echo(f"{name}（{region}）{obj.config.funds[key].short} {month}")
    values = indicator_values(at.iloc[0], forecast)
    for line in explain_lines(explain(profile, region, key, values), lang):
        echo(line, block=True)


# ---------------------------------------------------------------- db
@main.group()
def db() -> None:
    """存储数据库的结构版本。"""


@db.command("upgrade")
@click.pass_obj
@reports_errors
def db_upgrade(obj: Context) -> None:
    """把数据库结构升级到最新版本（PostgreSQL 需手动执行；SQLite 首次使用时自动执行）。"""
    from monitor.store import create_store_engine, safe_url, upgrade

    engine = create_store_engine(obj.config.store_url)
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    echo(f"{safe_url(obj.config.store_url)}：{before or '空'} → {after}")


@db.command("current")
@click.pass_obj
@reports_errors
def db_current(obj: Context) -> None:
    """显示数据库当前的结构版本与程序需要的版本。"""
    from monitor.store import create_store_engine, current_revision, head_revision, safe_url

    engine = create_store_engine(obj.config.store_url)
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
    finally:
        engine.dispose()
    echo(f"{safe_url(obj.config.store_url)}：当前 {current or '空'}，需要 {head_revision()}")


# ---------------------------------------------------------------- demo
@main.command()
@click.option(
    "--out",
    default="fundmon-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="演示输出目录（台账文件、演示数据库）",
)
@click.option(
    "--world",
    type=click.Choice(["city", "province", "national"]),
    default="city",
    show_default=True,
    help="city：演示城市（完整流程）；province / national：合成的一个省 / 全国"
    "（约 9,300 个基金）的导入与评估",
)
@click.pass_obj
@reports_errors
def demo(obj: Context, out: str, world: str) -> None:
    """主流程演示：生成演示城市台账 → 导入 → 打印各统筹区最新月份的收支、结余与可支付月数。"""
    from monitor.demo import run_demo, run_world_demo

    color = sys.stdout.isatty()

    def say(text: str = "") -> None:  # the demo's own tables, of its own synthetic data
        echo(text, block=True, styled=color)

    if world != "city":
        run_world_demo(
            Path(out),
            world,
            db=obj.db,
            config=obj.config,
            now=now(),
            echo=say,
            color=color,
        )
        return
    run_demo(
        Path(out),
        db=obj.db,
        config=obj.config,
        now=now(),
        echo=say,
        color=color,
    )


from monitor.cli_alerts import alerts, outbox  # noqa: E402

main.add_command(alerts)
main.add_command(outbox)


from monitor.cli_bulletin import bulletin  # noqa: E402

main.add_command(bulletin)


from monitor.cli_service import run, status  # noqa: E402

main.add_command(run)
main.add_command(status)
