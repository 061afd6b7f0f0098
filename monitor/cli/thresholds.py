"""`fundmon thresholds check|explain`: a threshold profile checked, and what fires for a fund."""

from __future__ import annotations

import click

from monitor.cli.common import (
    Context,
    echo,
    month_option,
    profile_option,
    reports_errors,
)
from monitor.cli.help_text import english, group, lang_option, option
from monitor.core.errors import NotFound
from monitor.core.vocabulary import fund_name, region_label


@group()
@english("Threshold profiles: check and explain.")
def thresholds() -> None:
    """阈值配置：检查与解释。"""


@thresholds.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_obj
@reports_errors
@english(
    "Check a threshold profile file; when it has problems, list each with its line and"
    " reason, exit code 1."
)
def thresholds_check(obj: Context, file: str) -> None:
    """检查阈值配置文件；有问题时逐条列出行号与原因，退出码 1。"""
    from monitor.core.thresholds import load_profile

    profile = load_profile(file, funds=list(obj.config.funds.funds))
    levels = sorted({r.level.value if r.level else "notice" for r in profile.rules})
    echo(f"{file}：通过检查，{len(profile.rules)} 条规则（{', '.join(levels)}）")


@thresholds.command("explain")
@option("--region", required=True, help="统筹区编码，如 341721", en="Region code, e.g. 341721")
@option(
    "--fund",
    required=True,
    help="险种，如 employee、resident",
    en="Fund, e.g. employee, resident",
)
@option(
    "--month",
    callback=month_option,
    help="月份 YYYY-MM（默认：该基金有数据的最新月份）",
    en="Month YYYY-MM (default: the fund's latest month with data)",
)
@option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False),
    help="阈值配置文件（默认：config.toml 中的 [thresholds] profile）",
    en="Threshold profile file (default: the [thresholds] profile of config.toml)",
)
@lang_option()
@click.pass_obj
@reports_errors
@english("Rule by rule: the current value, whether it fires, and how far it is from firing.")
def thresholds_explain(
    obj: Context, region: str, fund: str, month: str | None, profile_path: str | None, lang: str
) -> None:
    """逐条显示规则：当前值、是否触发、离触发还有多远。"""
    from monitor.core.classify import explain
    from monitor.core.indicators import indicator_values
    from monitor.pipeline import evaluate as ev
    from monitor.render.evaluation import explain_lines

    key = obj.config.funds.key_for(fund)
    if key is None:
        raise click.BadParameter(f"未知险种 {fund!r}", param_hint="--fund")
    profile = profile_option(obj, profile_path)
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
    gap = "" if lang == "zh" else " "  # 石台县（341722）居民医保 / 石台县 (341722) resident
    echo(f"{region_label(name, region, lang)}{gap}{fund_name(obj.config.funds, key, lang)} {month}")
    indicators = indicator_values(at.iloc[0], forecast)
    for line in explain_lines(explain(profile, region, key, indicators), lang):
        echo(line, block=True)
