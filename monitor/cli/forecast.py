"""`fundmon forecast`: any file of monthly or quarterly series, or one stored fund's outlook."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import click
import pandas as pd

from monitor.cli.common import (
    Context,
    echo,
    reports_errors,
)
from monitor.cli.help_text import command, english, option


def _levels(_c: Any, _p: Any, value: str) -> tuple[int, ...]:
    try:
        levels = tuple(sorted({int(v) for v in value.split(",") if v.strip()}))
    except ValueError:
        raise click.BadParameter(f"{value!r}：应为以逗号分隔的百分数，如 80,95") from None
    if not levels or any(not 50 <= v < 100 for v in levels):
        raise click.BadParameter(f"{value!r}：区间水平应在 50 到 99 之间")
    return levels


@command()
@option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False),
    help="长表 CSV：series_id,month,value（任意月度序列；季度序列写 2024Q1、2024-Q1 或 "
    "2024年第1季度，列名可为 period）",
    en="Long-format CSV: series_id,month,value (any monthly series; quarterly series written "
    "2024Q1 or 2024-Q1, or in Chinese, the column may be named period)",
)
@option(
    "--output",
    type=click.Path(dir_okay=False),
    help="预测结果 CSV（与 --input 一起用）",
    en="CSV of the forecasts (with --input)",
)
@option(
    "--accuracy",
    "accuracy_path",
    type=click.Path(dir_okay=False),
    help="另存每个序列的模型与回测精度（MASE、sMAPE、区间覆盖率）",
    en="Also save each series' model and back-test accuracy (MASE, sMAPE, interval coverage)",
)
@option(
    "--region",
    help="统筹区编码：预测已存储基金的收支、结余与可支付月数",
    en="Region code: forecast a stored fund's income, expenditure, balance and payable months",
)
@option("--fund", help="险种（与 --region 一起用）", en="Fund (with --region)")
@option(
    "--horizon",
    type=click.IntRange(1, 120),
    default=None,
    help="预测期数（--input 时必填，按文件的频率计：月或季度；基金预测默认 24 个月）",
    en="Periods to forecast (required with --input, in the file's frequency: months or "
    "quarters; 24 months for a fund unless given)",
)
@option(
    "--freq",
    type=click.Choice(["M", "Q"], case_sensitive=False),
    default=None,
    help="序列频率：M 月度、Q 季度（默认按文件自动识别，与 --input 一起用）",
    en="Frequency: M monthly, Q quarterly (default: detected from the file; with --input)",
)
@option(
    "--season",
    type=click.IntRange(1, 52),
    default=None,
    help="季节周期（期数；默认月度 12、季度 4，与 --input 一起用）",
    en="Seasonal period in periods (default 12 for monthly, 4 for quarterly; with --input)",
)
@option(
    "--levels",
    default="80,95",
    show_default=True,
    callback=_levels,
    help="区间水平（百分数）",
    en="Interval levels (percent)",
)
@option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="并行进程数（默认：CPU 核数）",
    en="Parallel processes (default: the number of CPU cores)",
)
@option(
    "--paths",
    "n_paths",
    type=click.IntRange(100, 100_000),
    default=2000,
    show_default=True,
    help="基金预测的模拟路径数",
    en="Simulated paths of a fund's forecast",
)
@option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="模拟的随机种子",
    en="Random seed of the simulation",
)
@option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="基金预测的输出格式",
    en="Output format of a fund's forecast",
)
@click.pass_obj
@reports_errors
@english(
    "Forecast: any file of monthly or quarterly series (--input), or a stored fund's outlook "
    "(--region --fund)."
)
def forecast(
    obj: Context,
    input_path: str | None,
    output: str | None,
    accuracy_path: str | None,
    region: str | None,
    fund: str | None,
    horizon: int | None,
    freq: str | None,
    season: int | None,
    levels: tuple[int, ...],
    workers: int | None,
    n_paths: int,
    seed: int,
    fmt: str,
) -> None:
    """预测：任意月度或季度序列文件（--input），或一个已存储基金的前景（--region --fund）。"""
    if input_path:
        if region or fund:
            raise click.UsageError("--input 与 --region/--fund 只能二选一")
        if not output or horizon is None:
            raise click.UsageError("--input 需要同时给出 --output 和 --horizon")
        _forecast_file(input_path, output, accuracy_path, horizon, freq, season, levels, workers)
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
    freq: str | None,
    season: int | None,
    levels: tuple[int, ...],
    workers: int | None,
) -> None:
    from monitor.core.vocabulary import fallback_summary
    from monitor.pipeline.forecasts import forecast_frame, read_periods_csv

    read = read_periods_csv(input_path, freq.upper() if freq else None)
    series = read.series
    season = season or (4 if read.freq == "Q" else 12)
    result = forecast_frame(series, horizon, season=season, levels=levels, workers=workers)
    failures = read.failures + result.failures
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    forecasts = result.forecasts
    if read.freq == "Q" or read.column != "month":  # periods written as the input wrote them
        forecasts = forecasts.assign(month=forecasts["month"].map(read.period_text))
        forecasts = forecasts.rename(columns={"month": read.column})
    _write_frame(forecasts, out)
    if accuracy_path:
        _write_frame(result.accuracy, Path(accuracy_path))
    for failure in failures:
        echo(f"错误：{input_path}：{failure}", err=True)
    done = len(series) - len(result.failures)
    unit = "个季度" if read.freq == "Q" else "个月"
    echo(
        f"已预测 {done} 个序列（{horizon} {unit}，季节周期 {season}）→ {output}"
        + (f"；{len(failures)} 个序列未能预测" if failures else "")
    )
    fallbacks = result.accuracy.get("fallback", pd.Series(dtype=str))
    used = [f for f in fallbacks if f]
    if used:
        echo(fallback_summary(used))
    if failures:
        sys.exit(1)


# Accuracy columns: MASE a ratio, sMAPE in percent, coverage a share of outcomes.
ACCURACY_DIGITS = {"mase": 3, "smape": 2, "coverage80": 3, "coverage95": 3}


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    """A forecast or accuracy table as CSV for Excel (UTF-8 with BOM), numbers rounded per
    column (`value_digits` for the forecast values, `ACCURACY_DIGITS`); series ids come from
    the user's file: written so no spreadsheet runs one as a formula."""
    from monitor.core.text_safety import write_csv_file

    digits = {c: d for c, d in ACCURACY_DIGITS.items() if c in frame.columns}
    if "mean" in frame.columns:
        values = [c for c in frame.columns if c == "mean" or c[:2] in ("lo", "hi")]
        digits |= dict.fromkeys(values, value_digits(frame))
    rows = frame.itertuples(index=False, name=None)
    write_csv_file(path, list(frame.columns), rows, digits=digits)


def value_digits(forecasts: pd.DataFrame) -> int:
    """Decimals for forecast values in the input's own unit, which the file does not name:
    two (yuan to the fen, persons, counts), more when a series is of small numbers, so that
    its typical value keeps four significant digits (a rate of 0.01234 → 0.01234), at most
    six."""
    typical = forecasts["mean"].abs().groupby(forecasts["series_id"]).median()
    typical = typical[typical > 0]
    if typical.empty:
        return 2
    return int(min(max(3 - math.floor(math.log10(float(typical.min()))), 2), 6))


def _forecast_fund(
    obj: Context, region: str, fund: str, horizon: int, n_paths: int, seed: int, fmt: str
) -> None:

    from monitor.core.vocabulary import fund_name
    from monitor.pipeline.forecasts import fund_outlook_from_history, fund_series
    from monitor.render.outlook import outlook_json, outlook_lines
    from monitor.store.db import read_regions

    with obj.engine().connect() as conn:
        history = fund_series(conn, region, fund)
        names = dict(zip(read_regions(conn)["code"], read_regions(conn)["name"], strict=True))
    outlook, income, expenditure, notes = fund_outlook_from_history(
        history, series_id=f"{region}:{fund}", horizon=horizon, n_paths=n_paths, seed=seed
    )
    title = f"{names.get(region, region)}（{region}）{fund_name(obj.config.funds, fund)}"
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
