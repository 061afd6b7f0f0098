"""The monthly bulletin (基金运行风险监测月报): its context and its renderings.

Everything here is pure. The edge (`monitor.pipeline.bulletin`) reads the store into a
`BulletinInputs` value; `build_context` turns that into a `BulletinContext`, the one object
both editions are rendered from: `render_html` gives the standalone HTML bulletin (inline
CSS and SVG charts, no script, nothing fetched), `build_bulletin_email` the e-mail edition
(text and HTML alternatives, inline CSS, PNG charts by Content-ID). `archive_context`
describes the archive index of a folder of bulletins.

Its settings (`[bulletin]`) are `monitor.config.bulletin`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from monitor.config.bulletin import BulletinSettings
from monitor.core import vocabulary as v
from monitor.core.findings import Finding
from monitor.core.funds import FundCatalogue
from monitor.core.indicators import INDICATORS, format_threshold, key_text
from monitor.core.money import amount_figure, unit_label
from monitor.core.months import month_from_index
from monitor.core.thresholds import ThresholdProfile
from monitor.core.vocabulary import model_text as model_text
from monitor.core.vocabulary import review_word
from monitor.render.charts import (
    ChartView,
    chart_png,
    fund_charts,
    payable_thresholds,
)
from monitor.render.reliability import ReliabilityView, reliability_view
from monitor.render.templating import environment

LEVELS = ("red", "orange", "yellow", "green")  # most severe first
RANK = {"green": 0, "yellow": 1, "orange": 2, "red": 3}
HISTORY_MONTHS = 24  # months of history in each chart
MAX_FINDINGS = 50  # data-quality findings listed (the rest are counted)
SectionKey = tuple[str, str]  # (region code, fund)


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    parent_code: str | None
    level: str  # province | city | county


@dataclass(frozen=True)
class Evaluation:
    """One stored evaluation row (table `evaluations`)."""

    region_code: str
    fund: str
    level: str
    previous_level: str
    data_missing: bool
    decision: Mapping[str, Any]  # {"zh": {...}, "en": {...}}
    indicators: Mapping[str, Any]
    forecast: Mapping[str, Any] | None
    profile: str = ""
    stale: bool = False  # the ledger was corrected after this evaluation


@dataclass(frozen=True)
class MonthFigures:
    month: str
    income: float  # yuan
    expenditure: float
    balance: float
    payable_months: float | None


@dataclass(frozen=True)
class ImportInfo:
    id: int
    started_at: dt.datetime
    user: str
    kind: str
    source: str
    warnings: int


@dataclass(frozen=True)
class AlertRecord:
    """An acknowledged alert or a silence, as read from the alert tables."""

    state: str  # "acknowledged" | "silenced"
    region_code: str | None
    fund: str | None  # None: every fund
    level: str | None
    who: str | None
    at: dt.datetime | None  # acknowledged at / silenced from
    until: dt.datetime | None  # silences: the end (None: until lifted)
    note: str | None


@dataclass(frozen=True)
class BulletinInputs:
    month: str
    scope: str
    lang: str
    regions: tuple[Region, ...]  # the scope and every region under it
    evaluations: tuple[Evaluation, ...]  # of `month`, for regions in scope
    history: Mapping[SectionKey, tuple[MonthFigures, ...]]  # months up to `month`, oldest first
    profile: ThresholdProfile
    funds: FundCatalogue
    generated_at: dt.datetime
    settings: BulletinSettings = field(default_factory=BulletinSettings)
    imports: tuple[ImportInfo, ...] = ()
    findings: tuple[Finding, ...] = ()
    alerts: tuple[AlertRecord, ...] | None = None  # None: the store has no alert tables
    not_evaluated: tuple[SectionKey, ...] = ()
    derived: frozenset[SectionKey] = frozenset()  # funds whose ledger is a roll-up of children


# ---------------------------------------------------------------- the context (what templates see)
@dataclass(frozen=True)
class LevelCount:
    level: str
    label: str
    count: int


@dataclass(frozen=True)
class KpiRow:
    anchor: str  # id of the fund's section
    region_code: str
    region_name: str
    depth: int  # 0 the scope, 1 its children …
    derived: bool  # a roll-up of its children
    fund: str
    fund_name: str
    level: str
    level_label: str
    change: str  # "由黄色升为橙色", or ""
    change_dir: str  # "up" | "down" | ""
    ytd_income: str
    ytd_expenditure: str
    ytd_surplus: str
    ytd_surplus_rate: str
    deficit: bool
    balance: str
    payable: str
    payable_delta: str
    income_growth: str
    expenditure_growth: str
    growth_gap: str
    flags: tuple[str, ...]


@dataclass(frozen=True)
class ReasonView:
    level: str  # red | orange | yellow | notice
    level_label: str
    text: str


@dataclass(frozen=True)
class ProbabilityView:
    label: str
    value: str
    high: bool  # ≥ 50 %


@dataclass(frozen=True)
class WarningView:
    anchor: str
    title: str
    level: str
    level_label: str
    change: str
    reasons: tuple[ReasonView, ...]
    probabilities: tuple[ProbabilityView, ...]
    outlook: str


@dataclass(frozen=True)
class ModelView:
    series: str
    model: str
    accuracy: str


@dataclass(frozen=True)
class FundSection:
    anchor: str
    region_code: str
    region_name: str
    fund: str
    fund_name: str
    level: str
    level_label: str
    headline: str
    outlook: tuple[str, ...]
    charts: tuple[ChartView, ...]
    models: tuple[ModelView, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class AlertView:
    region: str
    fund: str
    level_label: str
    who: str
    when: str
    until: str
    note: str


@dataclass(frozen=True)
class AlertsView:
    available: bool  # the store has the alert tables
    acknowledged: tuple[AlertView, ...]
    silenced: tuple[AlertView, ...]


@dataclass(frozen=True)
class FindingView:
    severity: str
    where: str
    text: str


@dataclass(frozen=True)
class FindingsView:
    imports: tuple[str, ...]
    items: tuple[FindingView, ...]
    more: int  # findings not listed


@dataclass(frozen=True)
class RuleView:
    level: str
    level_label: str
    text: str


@dataclass(frozen=True)
class MethodView:
    formulas: tuple[tuple[str, str], ...]  # (name, formula)
    rules: tuple[RuleView, ...]
    forecast: tuple[str, ...]
    accuracy: tuple[str, ...]
    reliability: ReliabilityView | None = None  # how the probabilities fared in a replay


@dataclass(frozen=True)
class MailView:
    kpi: tuple[KpiRow, ...]  # the scope and the regions directly under it
    funds: tuple[FundSection, ...]  # the funds whose charts the e-mail carries
    omitted_rows: int
    omitted_funds: int
    bulletin_file: str  # the full bulletin's file name in the archive
    # the e-mail's own section headings, numbered in the order it shows them (warnings before
    # the indicators): summary, warnings, kpi, alerts, findings → '一、总体情况' …
    headings: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BulletinContext:
    """Everything the bulletin templates use, already in words and formatted numbers."""

    lang: str = field(metadata={"help": "zh | en"})
    html_lang: str = field(metadata={"help": "the <html lang> value: zh-CN | en"})
    t: Mapping[str, str] = field(
        metadata={"help": "the fixed words of the templates in `lang` (LABELS)"}
    )
    issuer: str = field(metadata={"help": "the issuing office at the head (红头)"})
    issue: str = field(metadata={"help": "the issue line: 2024年第12期"})
    title: str = field(metadata={"help": "某市医保基金运行风险监测月报（2024年12月）"})
    month: str = field(metadata={"help": "YYYY-MM"})
    month_label: str = field(metadata={"help": "2024年12月 / December 2024"})
    scope_code: str = field(metadata={"help": "the 6-digit code of the region the bulletin covers"})
    scope_name: str = field(metadata={"help": "its name (data from the ledgers: escaped in HTML)"})
    generated: str = field(metadata={"help": "when the bulletin was made, Beijing time"})
    profile: str = field(metadata={"help": "the threshold profile the levels were evaluated with"})
    counts: tuple[LevelCount, ...] = field(metadata={"help": "funds per colour, red first"})
    kpi_unit: str = field(
        metadata={"help": "the unit of the KPI tables' amounts: 万元 or 亿元 (CNY million/billion)"}
    )
    total_funds: int = field(
        metadata={"help": "funds in the bulletin (regions × funds, roll-ups included)"}
    )
    summary: tuple[str, ...] = field(
        metadata={"help": "the summary paragraphs, generated from the data"}
    )
    notes: tuple[str, ...] = field(
        metadata={"help": "caveats: evaluations made stale by corrections, gaps"}
    )
    kpi: tuple[KpiRow, ...] = field(metadata={"help": "the KPI table: one row per region and fund"})
    warnings: tuple[WarningView, ...] = field(
        metadata={"help": "funds at yellow or worse, most severe first"}
    )
    notices: tuple[WarningView, ...] = field(
        metadata={"help": "notices without a colour (excess balance …)"}
    )
    funds: tuple[FundSection, ...] = field(
        metadata={"help": "one section per fund, with its charts"}
    )
    alerts: AlertsView = field(metadata={"help": "acknowledged and silenced alerts"})
    findings: FindingsView = field(
        metadata={"help": "data-quality findings of the imports behind the month"}
    )
    method: MethodView = field(
        metadata={"help": "formulas, threshold rules, forecast models and accuracy"}
    )
    mail: MailView = field(metadata={"help": "what the e-mail edition carries of the above"})

    def template_vars(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class ArchiveEntry:
    month: str
    month_label: str
    scope_code: str
    scope_name: str
    lang: str
    title: str
    counts: tuple[LevelCount, ...]
    html: str
    eml: str | None
    pdf: str | None
    generated: str


@dataclass(frozen=True)
class ArchiveContext:
    """What the archive index (index.html of a bulletin folder) shows."""

    html_lang: str = field(metadata={"help": "the <html lang> value"})
    t: Mapping[str, str] = field(metadata={"help": "the fixed words of the templates in `lang`"})
    title: str = field(metadata={"help": "the page title"})
    entries: tuple[ArchiveEntry, ...] = field(
        metadata={"help": "every bulletin in the folder, newest first"}
    )
    generated: str = field(metadata={"help": "when the index was written, Beijing time"})

    def template_vars(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ---------------------------------------------------------------- words
# Level labels as badges and table cells show them ('Normal'); running text lowers them.
LEVEL_LABELS = {
    lang: {lv: v.level_badge(lv, lang) for lv in v.LEVEL_LABELS[lang]} for lang in v.LEVEL_LABELS
}

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "doc_kind": "医保基金运行风险监测月报",
        "colon": "：",
        "sep": "；",
        "list_sep": v.list_separator("zh"),
        "lparen": "（",
        "rparen": "）",
        "month_data": "数据截至",
        "scope": "范围",
        "generated": "生成时间",
        "profile": "阈值配置",
        "contents": "目录",
        "s_summary": "一、总体情况",
        "s_kpi": "二、主要指标",
        "s_warnings": "三、风险预警",
        "s_funds": "四、分基金运行情况",
        "s_alerts": "五、预警处理情况",
        "s_findings": "六、数据质量",
        "s_method": "七、方法说明",
        "funds_unit": "个基金",
        "unit": "金额单位",
        "region": "统筹区",
        "fund": "险种",
        "level": "级别",
        "ytd_income": "当年累计收入",
        "ytd_expenditure": "当年累计支出",
        "ytd_surplus": "当年累计结余",
        "ytd_surplus_rate": "结余率",
        "balance": "期末累计结余",
        "payable": "可支付月数",
        "payable_delta": "较上月",
        "ytd_group": "当年累计（1月至本月）",
        "growth_group": "同比增速",
        "col_income": "收入",
        "col_expenditure": "支出",
        "col_surplus": "结余",
        "col_months": "月数",
        "col_gap": "增速差",
        "income_growth": "收入增速",
        "expenditure_growth": "支出增速",
        "growth_gap": "增速差（百分点）",
        "kpi_note": (
            "收入、支出、结余为当年1月至本月累计，增速为与上年同期相比，"
            "增速差为支出增速减收入增速（百分点）；"
            "可支付月数 = 期末累计结余 ÷ 近 12 个月月均支出。“汇总”为下级统筹区之和。"
        ),
        "derived": "汇总",
        "no_warnings": "本月没有黄色及以上预警。",
        "reasons": "触发原因",
        "probabilities": "预测概率",
        "notices": "提示（不定颜色）",
        "see_fund": "详见",
        "charts_note": "灰色底为预测期；预测区间由收入、支出的联合模拟得出。",
        "models": "预测模型与回测精度",
        "acknowledged": "已确认的预警",
        "silenced": "静默中的预警",
        "alerts_unavailable": "无（本系统尚未记录预警的确认与静默）",
        "none": "无",
        "who": "操作人",
        "when": "时间",
        "until": "截至",
        "note": "说明",
        "imports": "本月数据来自",
        "no_findings": "本月台账没有数据质量问题。",
        "more_findings": "另有 {n} 条未列出（`fundmon ledger` 与导入记录中可查）。",
        "severity": "类别",
        "where": "位置",
        "finding": "内容",
        "formulas": "指标口径",
        "rules": "预警规则",
        "forecast_method": "预测方法",
        "accuracy": "预测精度（回测）",
        "mail_full": "完整月报（含全部统筹区的指标和图表）见归档文件",
        "mail_omitted_rows": "另有 {n} 行下级统筹区指标见完整月报。",
        "mail_omitted_funds": "另有 {n} 个基金的图表见完整月报。",
        "mail_charts": "重点基金图表",
        "footer": (
            "本月报由基金运行风险监测预警系统（fund-risk-monitor）根据台账数据自动生成，"
            "预测与分级供决策参考，请结合实际情况研判。"
        ),
        "archive_title": "医保基金运行风险监测月报归档",
        "archive_month": "月份",
        "archive_scope": "范围",
        "archive_lang": "语言",
        "archive_counts": "各颜色基金数",
        "archive_files": "文件",
        "archive_empty": "尚无月报。",
        "html_file": "网页版",
        "eml_file": "邮件版",
        "pdf_file": "PDF",
        "lang_zh": "中文",
        "lang_en": "英文",
    },
    "en": {
        "doc_kind": "Medical Insurance Fund Risk Monitoring Bulletin",
        "colon": ": ",
        "sep": "; ",
        "list_sep": v.list_separator("en"),
        "lparen": " (",
        "rparen": ")",
        "month_data": "Data as of",
        "scope": "Scope",
        "generated": "Generated",
        "profile": "Threshold profile",
        "contents": "Contents",
        "s_summary": "1. Overview",
        "s_kpi": "2. Key indicators",
        "s_warnings": "3. Warnings",
        "s_funds": "4. Funds in detail",
        "s_alerts": "5. Alert handling",
        "s_findings": "6. Data quality",
        "s_method": "7. Method",
        "funds_unit": "funds",
        "unit": "Amounts in",
        "region": "Region",
        "fund": "Fund",
        "level": "Level",
        "ytd_income": "YTD income",
        "ytd_expenditure": "YTD expenditure",
        "ytd_surplus": "YTD surplus",
        "ytd_surplus_rate": "Rate",
        "balance": "Balance",
        "payable": "Payable months",
        "payable_delta": "Change",
        "ytd_group": "Year to date",
        "growth_group": "Growth (year on year)",
        "col_income": "Income",
        "col_expenditure": "Expenditure",
        "col_surplus": "Surplus",
        "col_months": "Months",
        "col_gap": "Gap",
        "income_growth": "Income growth",
        "expenditure_growth": "Expenditure growth",
        "growth_gap": "Growth gap (pp)",
        "kpi_note": (
            "Amounts are year to date (January to this month); growth is against the same "
            "months a year before; payable months = cumulative balance ÷ mean monthly "
            "expenditure of the last 12 months. “Roll-up” is the sum of the regions below."
        ),
        "derived": "roll-up",
        "no_warnings": "No fund is at yellow or worse this month.",
        "reasons": "Why",
        "probabilities": "Forecast probabilities",
        "notices": "Notices (no colour)",
        "see_fund": "See",
        "charts_note": (
            "The shaded part is the forecast; its bands come from joint simulations of "
            "income and expenditure."
        ),
        "models": "Forecast models and backtest accuracy",
        "acknowledged": "Acknowledged alerts",
        "silenced": "Silenced alerts",
        "alerts_unavailable": "None (alert acknowledgement and silencing are not recorded yet)",
        "none": "None",
        "who": "By",
        "when": "When",
        "until": "Until",
        "note": "Note",
        "imports": "This month's data came from",
        "no_findings": "The ledgers of this month have no data-quality findings.",
        "more_findings": "{n} more not listed (see the import records).",
        "severity": "Kind",
        "where": "Where",
        "finding": "Finding",
        "formulas": "Indicators",
        "rules": "Warning rules",
        "forecast_method": "Forecasting",
        "accuracy": "Forecast accuracy (backtests)",
        "mail_full": (
            "The full bulletin (every region's indicators and charts) is in the archive file"
        ),
        "mail_omitted_rows": "{n} more rows of lower-level regions are in the full bulletin.",
        "mail_omitted_funds": "Charts of {n} more funds are in the full bulletin.",
        "mail_charts": "Charts of the main funds",
        "footer": (
            "Generated by fund-risk-monitor from the fund ledgers. Forecasts and levels "
            "support decisions; weigh them against what you know."
        ),
        "archive_title": "Archive of fund risk monitoring bulletins",
        "archive_month": "Month",
        "archive_scope": "Scope",
        "archive_lang": "Language",
        "archive_counts": "Funds per colour",
        "archive_files": "Files",
        "archive_empty": "No bulletins yet.",
        "html_file": "Web",
        "eml_file": "E-mail",
        "pdf_file": "PDF",
        "lang_zh": "Chinese",
        "lang_en": "English",
    },
}  # fmt: skip


def bulletin_basename(month: str, scope: str, lang: str) -> str:
    """The archive's file stem of one bulletin: bulletin-2024-12-341700-zh."""
    return f"bulletin-{month}-{scope}-{lang}"


def title_of(scope_name: str, month: str, lang: str) -> str:
    if lang == "zh":
        return f"{scope_name}{LABELS['zh']['doc_kind']}（{v.month_label(month, 'zh')}）"
    return f"{scope_name} {LABELS['en']['doc_kind']} ({v.month_label(month, 'en')})"


def _anchor(region: str, fund: str) -> str:
    return f"f-{region}-{re.sub(r'[^A-Za-z0-9_-]', '_', fund)}"


# ---------------------------------------------------------------- building the context
@dataclass(frozen=True)
class _Fund:
    """One evaluated fund with what the context needs, gathered once."""

    region: Region
    depth: int
    fund: str
    ev: Evaluation
    history: tuple[MonthFigures, ...]

    @property
    def key(self) -> SectionKey:
        return (self.region.code, self.fund)

    @property
    def rank(self) -> int:
        return RANK.get(self.ev.level, 0)

    @property
    def payable(self) -> float | None:
        return v.number(self.ev.indicators.get("payable_months"))

    @property
    def p12(self) -> float:
        dep = (self.ev.forecast or {}).get("depletion") or {}
        return v.number(dep.get("p12")) or 0.0

    def severity(self) -> tuple[float, float, float]:
        payable = self.payable
        return (-self.rank, -self.p12, payable if payable is not None else math.inf)


def _ordered_regions(regions: Sequence[Region], scope: str) -> list[tuple[Region, int]]:
    """The scope, then each child followed by its own children (depth-first, by code)."""
    children: dict[str | None, list[Region]] = {}
    by_code = {r.code: r for r in regions}
    for r in regions:
        children.setdefault(r.parent_code, []).append(r)
    out: list[tuple[Region, int]] = []
    stack = [(by_code[scope], 0)] if scope in by_code else []
    while stack:
        region, depth = stack.pop()
        out.append((region, depth))
        kids = sorted(children.get(region.code, []), key=lambda r: r.code, reverse=True)
        stack += [(k, depth + 1) for k in kids]
    return out


def _fund_order(funds: FundCatalogue) -> dict[str, int]:
    return {f.key: i for i, f in enumerate(funds)}


def build_context(inputs: BulletinInputs) -> BulletinContext:
    """The bulletin's context from values read at the edge (pure)."""
    lang = inputs.lang
    t = LABELS[lang]
    levels = LEVEL_LABELS[lang]
    ordered = _ordered_regions(inputs.regions, inputs.scope)
    if not ordered:
        raise ValueError(f"scope {inputs.scope} is not among the regions given")
    scope_region = ordered[0][0]
    by_region: dict[str, list[Evaluation]] = {}
    for e in inputs.evaluations:
        by_region.setdefault(e.region_code, []).append(e)
    order = _fund_order(inputs.funds)
    funds: list[_Fund] = []
    for region, depth in ordered:
        for e in sorted(
            by_region.get(region.code, []), key=lambda e: (order.get(e.fund, 99), e.fund)
        ):
            history = inputs.history.get((e.region_code, e.fund), ())
            funds.append(_Fund(region, depth, e.fund, e, history))

    counts = tuple(
        LevelCount(lv, levels[lv], sum(1 for f in funds if f.ev.level == lv)) for lv in LEVELS
    )
    sections = [_fund_section(f, inputs) for f in funds]
    unit, kpi_unit, digits = _table_unit(funds, lang)
    kpi = tuple(_kpi_row(f, inputs, (unit, digits)) for f in funds)
    severe = sorted((f for f in funds if f.rank > 0), key=_Fund.severity)
    warnings = tuple(_warning(f, inputs) for f in severe)
    notices = tuple(
        _notice(f, inputs)
        for f in funds
        if f.ev.decision.get(lang, {}).get("notices") and f.rank == 0
    )
    ctx_issuer = inputs.settings.issuer_for(inputs.scope) or (
        f"{scope_region.name}医疗保障局"
        if lang == "zh"
        else f"{scope_region.name} Healthcare Security Administration"
    )
    mail_sections = _mail_sections(funds, sections, inputs.settings.mail_charts)
    mail_kpi = tuple(row for row, f in zip(kpi, funds, strict=True) if f.depth <= 1)
    year, mon = inputs.month[:4], int(inputs.month[5:7])
    profiles = sorted({e.profile for e in inputs.evaluations if e.profile})
    return BulletinContext(
        lang=lang,
        html_lang="zh-CN" if lang == "zh" else "en",
        t=t,
        issuer=ctx_issuer,
        issue=f"{year}年 第{mon}期" if lang == "zh" else f"Issue {inputs.month}",
        title=title_of(scope_region.name, inputs.month, lang),
        month=inputs.month,
        month_label=v.month_label(inputs.month, lang),
        scope_code=scope_region.code,
        scope_name=scope_region.name,
        generated=v.local_time(inputs.generated_at) + v.TIME_ZONE_NOTE[lang],
        profile=v.list_separator(lang).join(profiles),
        counts=counts,
        kpi_unit=kpi_unit,
        total_funds=len(funds),
        summary=_summary(funds, counts, inputs, scope_region, ordered),
        notes=_notes(funds, inputs),
        kpi=kpi,
        warnings=warnings,
        notices=notices,
        funds=tuple(sections),
        alerts=_alerts(inputs),
        findings=_findings(inputs),
        method=_method(funds, inputs),
        mail=MailView(
            kpi=mail_kpi,
            funds=mail_sections,
            omitted_rows=len(kpi) - len(mail_kpi),
            omitted_funds=len(sections) - len(mail_sections),
            bulletin_file=bulletin_basename(inputs.month, inputs.scope, lang) + ".html",
            headings=numbered_headings(MAIL_SECTIONS, t, lang),
        ),
    )


# The e-mail edition's sections in the order it shows them; the full bulletin's order is that
# of its own numbered headings (t["s_…"]).
MAIL_SECTIONS = ("summary", "warnings", "kpi", "alerts", "findings")
_ZH_NUMERALS = "一二三四五六七八九十"


def numbered_headings(keys: Sequence[str], t: Mapping[str, str], lang: str) -> dict[str, str]:
    """Section headings numbered 一、二、三… ('1.', '2.' in English) in the order of `keys`,
    each heading's words those of the full bulletin's t["s_<key>"] without its number."""
    out = {}
    for i, key in enumerate(keys):
        words = re.sub(r"^\s*(?:[一二三四五六七八九十]+、|\d+\.\s*)", "", t[f"s_{key}"])
        number = f"{_ZH_NUMERALS[i]}、" if lang == "zh" else f"{i + 1}. "
        out[key] = number + words
    return out


def _mail_sections(
    funds: Sequence[_Fund], sections: Sequence[FundSection], limit: int
) -> tuple[FundSection, ...]:
    """The scope's own funds first, then the most severe others, up to `limit` funds."""
    by_key = {(s.region_code, s.fund): s for s in sections}
    own = [f for f in funds if f.depth == 0]
    others = sorted((f for f in funds if f.depth > 0 and f.rank > 0), key=_Fund.severity)
    picked = [*own, *others][:limit]
    return tuple(by_key[f.key] for f in picked)


def _fund_title(f: _Fund, inputs: BulletinInputs, full: bool = False) -> str:
    name = v.fund_name(inputs.funds, f.fund, inputs.lang, full=full)
    if inputs.lang == "zh":
        return f"{f.region.name}{'·' if full else ''}{name}"
    return f"{f.region.name} · {name}"


def _change(f: _Fund, lang: str) -> tuple[str, str]:
    old, new = f.ev.previous_level, f.ev.level
    if old == new or old not in RANK:
        return "", ""
    words = LEVEL_LABELS[lang]
    up = RANK[new] > RANK[old]
    if lang == "zh":
        return f"由{words[old]}{'升' if up else '降'}为{words[new]}", "up" if up else "down"
    return f"{'up' if up else 'down'} from {words[old].lower()}", "up" if up else "down"


def _table_unit(funds: Sequence[_Fund], lang: str) -> tuple[str, str, int]:
    """One unit for a whole table, its heading and its decimals: 万元 (CNY million) so that a
    county's small fund keeps its digits beside the province's; whole 万元 once amounts reach
    100 亿元, where the cents of a 万元 say nothing."""
    biggest = 0.0
    for f in funds:
        for name in ("ytd_income", "ytd_expenditure"):
            biggest = max(biggest, abs(v.number(f.ev.indicators.get(name)) or 0.0))
        if f.history:
            biggest = max(biggest, abs(f.history[-1].balance))
    digits = 0 if biggest >= 1e10 else 2
    return "万元", unit_label("万元", lang), digits


def _scaled(yuan: Any, unit: tuple[str, int], lang: str) -> str:
    x = v.number(yuan)
    return v.MISSING if x is None else amount_figure(x, unit[0], unit[1], lang)


def _kpi_row(f: _Fund, inputs: BulletinInputs, scale: tuple[str, int]) -> KpiRow:
    lang = inputs.lang
    ind = f.ev.indicators
    last = f.history[-1] if f.history and f.history[-1].month == inputs.month else None
    prev = _previous(f.history, inputs.month)
    payable = f.payable
    delta = v.MISSING
    if payable is not None and prev is not None and prev.payable_months is not None:
        delta = v.decimal(payable - prev.payable_months, signed=True)
    change, direction = _change(f, lang)
    flags: list[str] = []
    decision = f.ev.decision.get(lang, {})
    flags += [n.get("label", "") for n in decision.get("notices", [])]
    if ind.get("short_history"):
        flags.append("不足12个月" if lang == "zh" else "< 12 months of data")
    if f.ev.stale:
        flags.append("评估后台账已更正" if lang == "zh" else "corrected since evaluated")
    gap = v.number(ind.get("growth_gap"))
    surplus = v.number(ind.get("ytd_surplus"))
    return KpiRow(
        anchor=_anchor(*f.key),
        region_code=f.region.code,
        region_name=f.region.name,
        depth=f.depth,
        derived=f.key in inputs.derived,
        fund=f.fund,
        fund_name=v.fund_name(inputs.funds, f.fund, lang),
        level=f.ev.level,
        level_label=LEVEL_LABELS[lang].get(f.ev.level, f.ev.level),
        change=change,
        change_dir=direction,
        ytd_income=_scaled(ind.get("ytd_income"), scale, lang),
        ytd_expenditure=_scaled(ind.get("ytd_expenditure"), scale, lang),
        ytd_surplus=_scaled(surplus, scale, lang),
        ytd_surplus_rate=v.percent(ind.get("ytd_surplus_rate")),
        deficit=surplus is not None and surplus < 0,
        balance=_scaled(last.balance if last else None, scale, lang),
        payable=v.payable(payable, lang),
        payable_delta=delta,
        income_growth=v.growth(ind.get("income_growth")),
        expenditure_growth=v.growth(ind.get("expenditure_growth")),
        growth_gap=v.decimal(gap, signed=True),
        flags=tuple(x for x in flags if x),
    )


def _previous(history: Sequence[MonthFigures], month: str) -> MonthFigures | None:
    idx = int(month[:4]) * 12 + int(month[5:7]) - 1
    before = month_from_index(idx - 1)
    for row in reversed(history):
        if row.month == before:
            return row
        if row.month < before:
            return None
    return None


def _reasons(f: _Fund, lang: str) -> tuple[ReasonView, ...]:
    words = LEVEL_LABELS[lang]
    out = []
    for r in f.ev.decision.get(lang, {}).get("reasons", []):
        level = r.get("level", "notice")
        out.append(ReasonView(level, words.get(level, level), str(r.get("text", ""))))
    return tuple(out)


def _probabilities(f: _Fund, lang: str) -> tuple[ProbabilityView, ...]:
    fc = f.ev.forecast or {}
    out: list[ProbabilityView] = []
    dep = fc.get("depletion") or {}
    h = len(fc.get("months") or [])
    for key, months in (("p6", 6), ("p12", 12), ("p_h", h)):
        p = v.number(dep.get(key))
        if p is None or (key == "p_h" and h in (6, 12)) or months > h:
            continue
        label = v.depletion_label(months, lang)
        out.append(ProbabilityView(label, v.probability(p), p >= 0.5))
    for row in sorted(
        fc.get("prob_below") or [], key=lambda r: (r.get("window", 0), r.get("threshold", 0))
    ):
        p = v.number(row.get("probability"))
        if p is None:
            continue
        thr, win = float(row.get("threshold", 0)), int(row.get("window", 0))
        label = v.payable_below_label(thr, win, lang)
        out.append(ProbabilityView(label, v.probability(p), p >= 0.5))
    deficit = fc.get("ytd_deficit") or {}
    p = v.number(deficit.get("probability"))
    if p is not None and p > 0:
        label = v.ytd_deficit_label(deficit.get("median_month"), lang)
        out.append(ProbabilityView(label, v.probability(p), p >= 0.5))
    return tuple(out)


def _outlook(f: _Fund, lang: str) -> str:
    fc = f.ev.forecast
    if not fc:
        notes = f.ev.decision.get(lang, {}).get("notes", [])
        failed = [n for n in notes if "预测" in n or "forecast" in n.lower()]
        if failed:
            return failed[0]
        return "本月没有预测结果。" if lang == "zh" else "No forecast this month."
    return v.forecast_outlook(fc, lang)  # the alert mail's sentence too: written once


def _warning(f: _Fund, inputs: BulletinInputs) -> WarningView:
    lang = inputs.lang
    change, _ = _change(f, lang)
    return WarningView(
        anchor=_anchor(*f.key),
        title=_fund_title(f, inputs),
        level=f.ev.level,
        level_label=LEVEL_LABELS[lang].get(f.ev.level, f.ev.level),
        change=change,
        reasons=_reasons(f, lang),
        probabilities=_probabilities(f, lang),
        outlook=_outlook(f, lang),
    )


def _notice(f: _Fund, inputs: BulletinInputs) -> WarningView:
    lang = inputs.lang
    notices = f.ev.decision.get(lang, {}).get("notices", [])
    return WarningView(
        anchor=_anchor(*f.key),
        title=_fund_title(f, inputs),
        level="notice",
        level_label=LEVEL_LABELS[lang]["notice"],
        change="",
        reasons=tuple(
            ReasonView("notice", str(n.get("label", "")), str(n.get("text", ""))) for n in notices
        ),
        probabilities=(),
        outlook="",
    )


# ---------------------------------------------------------------- charts
def _charts(f: _Fund, inputs: BulletinInputs) -> tuple[ChartView, ...]:
    return fund_charts(
        f.history[-HISTORY_MONTHS:],
        (f.ev.forecast or {}).get("months") or [],
        payable_thresholds(inputs.profile, *f.key),
        lang=inputs.lang,
        chart_id=_anchor(*f.key),
        cid_tail=f"{inputs.month}.{inputs.lang}@fundmon",
        title=_fund_title(f, inputs),
    )


def _accuracy(series: Mapping[str, Any] | None, lang: str) -> str:
    bt = (series or {}).get("backtest")
    if not bt:
        return "序列过短，未回测" if lang == "zh" else "too short to backtest"
    mase, smape = v.number(bt.get("mase")), v.number(bt.get("smape"))
    cov = v.number(bt.get("coverage80"))
    origins, horizon = bt.get("origins"), bt.get("horizon")
    if lang == "zh":
        return (
            f"MASE {v.decimal(mase, 2)}，sMAPE {v.percent(smape)}，"
            f"80% 区间覆盖 {v.probability(cov)}"
            f"（{origins} 个回测起点，{horizon} 个月）"
        )
    return (
        f"MASE {v.decimal(mase, 2)}, sMAPE {v.percent(smape)}, "
        f"80% band coverage {v.probability(cov)}"
        f" ({origins} origins, {horizon} months)"
    )


def _fund_section(f: _Fund, inputs: BulletinInputs) -> FundSection:
    lang = inputs.lang
    fc = f.ev.forecast or {}
    last = f.history[-1] if f.history and f.history[-1].month == inputs.month else None
    balance = v.amount(last.balance if last else None, lang)
    if lang == "zh":
        headline = (
            f"截至{v.month_label(inputs.month, 'zh')}，期末累计结余 {balance}，"
            f"可支付 {v.months_text(f.payable, 'zh')}"
        )
        surplus = v.number(f.ev.indicators.get("ytd_surplus"))
        if surplus is not None:
            headline += (
                f"；当年累计{'结余' if surplus >= 0 else '赤字'} {v.amount(abs(surplus), 'zh')}"
            )
        headline += "。"
    else:
        headline = (
            f"At the end of {v.month_label(inputs.month, 'en')}: cumulative balance {balance}, "
            f"payable months {v.months_text(f.payable, 'en')}"
        )
        surplus = v.number(f.ev.indicators.get("ytd_surplus"))
        if surplus is not None:
            word = "surplus" if surplus >= 0 else "deficit"
            headline += f"; year-to-date {word} {v.amount(abs(surplus), 'en')}"
        headline += "."
    models = []
    for key, zh, en in (("income", "收入", "Income"), ("expenditure", "支出", "Expenditure")):
        series = fc.get(key)
        if series:
            models.append(
                ModelView(
                    zh if lang == "zh" else en,
                    model_text(str(series.get("model", "")), lang),
                    _accuracy(series, lang),
                )
            )
    decision = f.ev.decision.get(lang, {})
    review = _review_line(decision.get("pending_review") or (), lang)
    # the 待核实 note (with its commands, for the analyst) is said for leaders by `review`
    notes = tuple(
        str(n) for n in decision.get("notes", []) if not str(n).startswith(review_word(lang))
    )
    return FundSection(
        anchor=_anchor(*f.key),
        region_code=f.region.code,
        region_name=f.region.name,
        fund=f.fund,
        fund_name=v.fund_name(inputs.funds, f.fund, lang, full=True),
        level=f.ev.level,
        level_label=LEVEL_LABELS[lang].get(f.ev.level, f.ev.level),
        headline=headline,
        outlook=(*review, _outlook(f, lang)),
        charts=_charts(f, inputs),
        models=tuple(models),
        notes=notes,
    )


def _review_line(pending: Sequence[Mapping[str, Any]], lang: str) -> tuple[str, ...]:
    """A level standing on months flagged at import as far outside their pattern: one line."""
    if not pending:
        return ()
    texts = [str(p.get("text", "")) for p in pending]
    if lang == "zh":
        return (f"{review_word(lang)}：{'；'.join(texts)}。本月级别按现有数据计算，数据尚待核实。",)
    return (
        f"{review_word(lang).capitalize()}: {'; '.join(texts)}. This month's level is computed "
        "on these figures, which are still to be confirmed.",
    )


# ---------------------------------------------------------------- summary
def _join(items: Sequence[str], lang: str) -> str:
    if lang == "zh":
        return "、".join(items)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


def _summary(
    funds: Sequence[_Fund],
    counts: Sequence[LevelCount],
    inputs: BulletinInputs,
    scope: Region,
    ordered: Sequence[tuple[Region, int]],
) -> tuple[str, ...]:
    lang = inputs.lang
    words = LEVEL_LABELS[lang]
    month = v.month_label(inputs.month, lang)
    n_regions = len({f.region.code for f in funds})
    fund_kinds = []
    for f in funds:
        name = v.fund_name(inputs.funds, f.fund, lang)
        if name not in fund_kinds:
            fund_kinds.append(name)
    c = {x.level: x.count for x in counts}
    paras = []
    if not funds:
        return (
            (f"{month}，{scope.name}没有评估结果。",)
            if lang == "zh"
            else (f"{scope.name} has no evaluation for {month}.",)
        )
    below = n_regions - 1
    w = v.LEVEL_LABELS[lang]  # in running text: lower case in English
    if lang == "zh":
        who = f"{scope.name}及所辖 {below} 个统筹区" if below > 0 else scope.name
        text = (
            f"{month}，{who}共 {len(funds)} 个基金（{'、'.join(fund_kinds)}）纳入监测。"
            f"按阈值配置评估：{w['red']}预警 {c['red']} 个、{w['orange']} {c['orange']} 个、"
            f"{w['yellow']} {c['yellow']} 个，{c['green']} 个运行{w['green']}。"
        )
        if not any(c[lv] for lv in ("red", "orange", "yellow")):
            text += "本月未触发任何颜色预警。"
    else:
        who = f"{scope.name} and the {below} regions under it" if below > 0 else scope.name
        text = (
            f"In {month}, {len(funds)} funds of {who} ({', '.join(fund_kinds)}) were monitored: "
            f"{c['red']} {w['red']}, {c['orange']} {w['orange']}, {c['yellow']} {w['yellow']} "
            f"and {c['green']} {w['green']}."
        )
    paras.append(text)

    changed = []
    for f in sorted(funds, key=_Fund.severity):
        change, _ = _change(f, lang)
        if change:
            changed.append(
                f"{_fund_title(f, inputs)}{change}"
                if lang == "zh"
                else f"{_fund_title(f, inputs)} ({change})"
            )
    drops = []
    for f in funds:
        prev = _previous(f.history, inputs.month)
        if f.payable is not None and prev is not None and prev.payable_months is not None:
            drops.append((f.payable - prev.payable_months, f))
    drops.sort(key=lambda x: x[0])
    if lang == "zh":
        text = (
            f"与上月相比，{'；'.join(changed[:8])}" + ("等" if len(changed) > 8 else "") + "。"
            if changed
            else "与上月相比，各基金的预警级别没有变化。"
        )
        if drops and drops[0][0] < -0.05:
            d, f = drops[0]
            text += f"可支付月数降幅最大的是{_fund_title(f, inputs)}，减少 {v.months_text(-d)}。"
    else:
        text = (
            "Since last month: "
            + "; ".join(changed[:8])
            + ("; …" if len(changed) > 8 else "")
            + "."
            if changed
            else "No fund changed its level since last month."
        )
        if drops and drops[0][0] < -0.05:
            d, f = drops[0]
            text += (
                f" The largest fall in payable months was {_fund_title(f, inputs)}: "
                f"{v.months_text(-d, lang)}."
            )
    paras.append(text)

    severe = sorted((f for f in funds if f.rank > 0), key=_Fund.severity)
    if severe:
        f = severe[0]
        reasons = [r.text for r in _reasons(f, lang) if r.level == f.ev.level][:2]
        if lang == "zh":
            text = (
                f"风险最突出的是{_fund_title(f, inputs)}（{words[f.ev.level]}）："
                + "；".join(reasons)
                + "。预测显示，"
                + _outlook(f, lang)
            )
        else:
            text = (
                f"The most serious case is {_fund_title(f, inputs)} ({words[f.ev.level].lower()}): "
                + "; ".join(r[:1].lower() + r[1:] for r in reasons)
                + ". "
                + _outlook(f, lang)
            )
        paras.append(text)

    own = [f for f in funds if f.depth == 0]
    if own:
        parts = []
        for f in own:
            last = f.history[-1] if f.history and f.history[-1].month == inputs.month else None
            name = v.fund_name(inputs.funds, f.fund, lang)
            if last is None:
                continue
            if lang == "zh":
                parts.append(
                    f"{name}期末累计结余 {v.amount(last.balance, lang)}，"
                    f"可支付 {v.months_text(f.payable, lang)}"
                    f"，当年累计收入 {v.amount(f.ev.indicators.get('ytd_income'), lang)}、"
                    f"支出 {v.amount(f.ev.indicators.get('ytd_expenditure'), lang)}"
                )
            else:
                parts.append(
                    f"{name}: balance {v.amount(last.balance, lang)}, "
                    f"{v.months_text(f.payable, lang)} payable, "
                    f"year-to-date income {v.amount(f.ev.indicators.get('ytd_income'), lang)} "
                    f"and expenditure {v.amount(f.ev.indicators.get('ytd_expenditure'), lang)}"
                )
        if parts:
            paras.append(
                f"{scope.name}：" + "；".join(parts) + "。"
                if lang == "zh"
                else f"{scope.name} — " + "; ".join(parts) + "."
            )

    excess = [
        f
        for f in funds
        if any(
            n.get("id") != "data_missing" for n in f.ev.decision.get(lang, {}).get("notices", [])
        )
    ]
    missing = [f for f in funds if f.ev.data_missing]
    extra = []
    if excess:
        names = [_notice_phrase(f, inputs) for f in excess[:5]]
        extra.append(
            f"另有 {len(excess)} 个基金有提示："
            f"{'；'.join(names)}{'等' if len(excess) > 5 else ''}。"
            if lang == "zh"
            else f"{len(excess)} fund{'s carry' if len(excess) > 1 else ' carries'} a notice: "
            f"{_join(names, lang)}."
        )
    if missing:
        extra.append(
            f"{len(missing)} 个基金本月缺少台账数据，沿用上月级别。"
            if lang == "zh"
            else f"{len(missing)} funds have no ledger data this month and keep last month's level."
        )
    n_findings = len(inputs.findings)
    if n_findings:
        extra.append(
            f"本月台账有 {n_findings} 条数据质量提示，见第六部分。"
            if lang == "zh"
            else f"The ledgers of this month have {n_findings} data-quality findings (section 6)."
        )
    if extra:
        paras.append("".join(extra) if lang == "zh" else " ".join(extra))
    return tuple(paras)


def _notice_phrase(f: _Fund, inputs: BulletinInputs) -> str:
    lang = inputs.lang
    labels = [
        str(n.get("label", ""))
        for n in f.ev.decision.get(lang, {}).get("notices", [])
        if n.get("id") != "data_missing"
    ]
    payable = v.months_text(f.payable, lang)
    if lang == "zh":
        return f"{_fund_title(f, inputs)}{'、'.join(labels)}（可支付 {payable}）"
    return f"{_fund_title(f, inputs)}: {', '.join(labels)} ({payable} payable)"


def _notes(funds: Sequence[_Fund], inputs: BulletinInputs) -> tuple[str, ...]:
    lang = inputs.lang
    out = []
    stale = [f for f in funds if f.ev.stale]
    if stale:
        names = [_fund_title(f, inputs) for f in stale[:5]]
        out.append(
            f"{_join(names, lang)}{'等' if len(stale) > 5 else ''} 的台账在评估后有更正，"
            f"其级别可能已变化：请运行 `fundmon evaluate --month {inputs.month}` 后重新生成月报。"
            if lang == "zh"
            else f"The ledgers of {_join(names, lang)} were corrected after they were evaluated; "
            f"run `fundmon evaluate --month {inputs.month}` and make the bulletin again."
        )
    if inputs.not_evaluated:
        names = [
            f"{next((r.name for r in inputs.regions if r.code == code), code)}"
            f"{'' if lang == 'zh' else ' · '}{v.fund_name(inputs.funds, fund, lang)}"
            for code, fund in inputs.not_evaluated[:5]
        ]
        more = "等" if len(inputs.not_evaluated) > 5 else ""
        out.append(
            f"{_join(names, lang)}{more} 有本月台账但尚未评估，未列入本月报。"
            if lang == "zh"
            else f"{_join(names, lang)} have ledgers for this month but no evaluation; "
            "not included."
        )
    return tuple(out)


# ---------------------------------------------------------------- alerts, findings, method
def _alerts(inputs: BulletinInputs) -> AlertsView:
    if inputs.alerts is None:
        return AlertsView(False, (), ())
    lang = inputs.lang
    names = {r.code: r.name for r in inputs.regions}
    words = LEVEL_LABELS[lang]

    def view(a: AlertRecord) -> AlertView:
        region = names.get(
            a.region_code or "", a.region_code or ("全部" if lang == "zh" else "all")
        )
        return AlertView(
            region=f"{region}（{a.region_code}）" if a.region_code and lang == "zh" else region,
            fund=v.fund_name(inputs.funds, a.fund, lang)
            if a.fund
            else ("全部险种" if lang == "zh" else "all funds"),
            level_label=words.get(a.level or "", a.level or v.MISSING),
            who=a.who or v.MISSING,
            when=v.local_time(a.at) if a.at else v.MISSING,
            until=v.local_time(a.until)
            if a.until
            else ("解除前一直有效" if lang == "zh" else "until lifted"),
            note=a.note or "",
        )

    acked = tuple(view(a) for a in inputs.alerts if a.state == "acknowledged")
    silenced = tuple(view(a) for a in inputs.alerts if a.state == "silenced")
    return AlertsView(True, acked, silenced)


def _findings(inputs: BulletinInputs) -> FindingsView:
    lang = inputs.lang
    names = {r.code: r.name for r in inputs.regions}
    imports = []
    for imp in inputs.imports:
        if lang == "zh":
            imports.append(
                f"导入 #{imp.id}：{v.local_time(imp.started_at)}，{imp.user}，{imp.source}"
                f"（警告 {imp.warnings} 条）"
            )
        else:
            imports.append(
                f"import #{imp.id}: {v.local_time(imp.started_at)}, {imp.user}, {imp.source}"
                f" ({imp.warnings} warnings)"
            )
    items = []
    for f in inputs.findings[:MAX_FINDINGS]:
        where = []
        if f.region_code:
            where.append(f"{names.get(f.region_code, f.region_code)}（{f.region_code}）")
        if f.fund:
            where.append(v.fund_name(inputs.funds, f.fund, lang))
        if f.month:
            where.append(f.month)
        severity = {"error": "错误", "warning": "警告"} if lang == "zh" else {}
        items.append(
            FindingView(
                severity=severity.get(f.severity, f.severity),
                where=" ".join(where) or v.MISSING,
                text=f.render(),
            )
        )
    return FindingsView(tuple(imports), tuple(items), max(0, len(inputs.findings) - MAX_FINDINGS))


_OP_WORDS = {
    "zh": {"<": "低于", "<=": "不高于", ">": "高于", ">=": "达到"},
    "en": {"<": "below", "<=": "at most", ">": "above", ">=": "at least"},
}


def _rule_text(rule: Any, lang: str) -> str:
    ops = _OP_WORDS[lang]
    parts = []
    for c in rule.conditions():
        unit = INDICATORS[c.name].unit
        if unit == "yuan" and c.value == 0 and c.op in ("<", "<="):
            deficit = {"ytd_surplus": ("当年累计收支赤字", "a year-to-date deficit")}.get(c.name)
            if deficit:
                parts.append(deficit[0] if lang == "zh" else deficit[1])
                continue
        parts.append(
            f"{key_text(c.key, lang)}{' ' if lang == 'en' else ''}{ops[c.op]} "
            f"{format_threshold(unit, c.value, lang)}"
        )
    joiner = (
        ("，且" if lang == "zh" else " and ")
        if getattr(rule.when, "mode", "all") == "all"
        else ("，或" if lang == "zh" else " or ")
    )
    text = joiner.join(parts)
    if rule.for_months > 1:
        text += (
            f"，连续 {rule.for_months} 个月"
            if lang == "zh"
            else f", for {rule.for_months} months in a row"
        )
    return text


def _method(funds: Sequence[_Fund], inputs: BulletinInputs) -> MethodView:
    lang = inputs.lang
    words = LEVEL_LABELS[lang]
    if lang == "zh":
        formulas = (
            (
                "可支付月数",
                "期末累计结余 ÷（截至本月 12 个月的支出 ÷ 12）；"
                "不足 12 个月时按已有月份的平均值，并标注",
            ),
            ("当年累计结余", "当年累计收入 − 当年累计支出（1 月至本月）"),
            ("当年累计结余率", "当年累计结余 ÷ 当年累计收入 × 100%"),
            ("收入增速、支出增速", "（当年累计 ÷ 上年同期累计 − 1）× 100%"),
            ("增速差", "支出增速 − 收入增速（百分点）"),
            (
                "汇总",
                "上级统筹区无台账时，取各下级统筹区之和；有下级缺报的月份不汇总，并列为数据质量问题",
            ),
        )
    else:
        formulas = (
            (
                "Payable months",
                "cumulative balance ÷ (expenditure of the 12 months to this month ÷ 12); "
                "with fewer months, their mean, flagged",
            ),
            (
                "YTD surplus",
                "year-to-date income − year-to-date expenditure (January to this month)",
            ),
            ("YTD surplus rate", "YTD surplus ÷ YTD income × 100%"),
            (
                "Income and expenditure growth",
                "(year to date ÷ the same months a year before − 1) × 100%",
            ),
            ("Growth gap", "expenditure growth − income growth (percentage points)"),
            (
                "Roll-up",
                "a parent region without its own ledger is the sum of its children, "
                "for months in which every child reported",
            ),
        )
    rules = []
    for rule in sorted(
        inputs.profile.rules, key=lambda r: -RANK.get(r.level.value if r.level else "green", 0)
    ):
        level = rule.level.value if rule.level else "notice"
        rules.append(RuleView(level, words.get(level, level), _rule_text(rule, lang)))
    n_paths = next((int(f.ev.forecast.get("n_paths", 0)) for f in funds if f.ev.forecast), 0)
    horizon = max(
        (len(f.ev.forecast.get("months") or []) for f in funds if f.ev.forecast), default=0
    )
    if lang == "zh":
        forecast = (
            "每个基金的月度收入与支出分别建模："
            "以滚动起点回测比较季节 ETS、SARIMA、Theta 与季节朴素法，"
            "按回测误差选择或加权组合模型；预测区间按回测误差的经验分位数校准。",
            f"收入与支出的误差按回测估计的相关性联合模拟 {n_paths} 条路径，"
            "逐月累加到期末累计结余上，"
            f"得到未来 {horizon} 个月的结余、可支付月数及其 80%/95% 区间，"
            "并由路径直接读出跌破阈值与基金耗尽的概率。",
            "级别取触发规则中最严重的颜色；级别下降需规则连续解除规定的月数，避免反复跳变。",
        )
    else:
        forecast = (
            "Each fund's monthly income and expenditure are modelled separately: seasonal ETS, "
            "SARIMA, Theta and seasonal naive are compared in rolling-origin backtests and chosen "
            "or combined by their backtest errors; intervals are calibrated on those errors.",
            f"{n_paths} joint paths of income and expenditure (with the error correlation seen in "
            f"backtests) are accumulated onto the balance, giving {horizon} months of balance and "
            "payable months with 80%/95% bands, and the probabilities of crossing thresholds and "
            "of depletion read off the paths.",
            "A fund's level is the most severe rule that fires; a level falls only after its rule "
            "has been clear for the required months, so it does not flap.",
        )
    accuracy = []
    for key, zh, en in (("income", "收入", "Income"), ("expenditure", "支出", "Expenditure")):
        bts = [
            bt
            for f in funds
            if f.ev.forecast and (bt := (f.ev.forecast.get(key) or {}).get("backtest"))
        ]
        mases = [m for bt in bts if (m := v.number(bt.get("mase"))) is not None]
        smapes = [m for bt in bts if (m := v.number(bt.get("smape"))) is not None]
        covs = [m for bt in bts if (m := v.number(bt.get("coverage80"))) is not None]
        if not mases:
            continue
        worse = sum(1 for m in mases if m > 1)
        if lang == "zh":
            accuracy.append(
                f"{zh}：{len(mases)} 个序列，MASE 中位数 {v.decimal(statistics.median(mases), 2)}，"
                f"sMAPE 中位数 {v.percent(statistics.median(smapes))}，80% 区间覆盖率中位数 "
                f"{v.probability(statistics.median(covs))}"
                + (
                    f"；{worse} 个序列 MASE 大于 1（误差大于季节朴素法的样本内误差），参考时宜谨慎"
                    if worse
                    else ""
                )
                + "。"
            )
        else:
            accuracy.append(
                f"{en}: {len(mases)} series, median MASE {v.decimal(statistics.median(mases), 2)}, "
                f"median sMAPE {v.percent(statistics.median(smapes))}, median 80% band coverage "
                f"{v.probability(statistics.median(covs))}"
                + (
                    f"; {worse} series have MASE above 1 (worse than seasonal naive "
                    "in-sample): read them with care"
                    if worse
                    else ""
                )
                + "."
            )
    return MethodView(formulas, tuple(rules), forecast, tuple(accuracy), reliability_view(lang))


# ---------------------------------------------------------------- archive
def manifest_of(ctx: BulletinContext, files: Mapping[str, str | None]) -> dict[str, Any]:
    """What the archive keeps about one bulletin (written as JSON beside it)."""
    return {
        "version": 1,
        "month": ctx.month,
        "scope_code": ctx.scope_code,
        "scope_name": ctx.scope_name,
        "lang": ctx.lang,
        "title": ctx.title,
        "counts": {c.level: c.count for c in ctx.counts},
        "generated": ctx.generated,
        "files": dict(files),
    }


def archive_context(
    manifests: Sequence[Mapping[str, Any]], *, lang: str, generated_at: dt.datetime
) -> ArchiveContext:
    """The archive index: every bulletin of a folder, newest month first."""
    words = LEVEL_LABELS[lang]
    entries = []
    for m in manifests:
        counts = m.get("counts") or {}
        files = m.get("files") or {}
        entries.append(
            ArchiveEntry(
                month=str(m["month"]),
                month_label=v.month_label(str(m["month"]), lang),
                scope_code=str(m.get("scope_code", "")),
                scope_name=str(m.get("scope_name", "")),
                lang=LABELS[lang].get(f"lang_{m.get('lang')}", str(m.get("lang"))),
                title=str(m.get("title", "")),
                counts=tuple(LevelCount(lv, words[lv], int(counts.get(lv, 0))) for lv in LEVELS),
                html=str(files.get("html")),
                eml=files.get("eml"),
                pdf=files.get("pdf"),
                generated=str(m.get("generated", "")),
            )
        )
    entries.sort(key=lambda e: (e.scope_code, e.lang))
    entries.sort(key=lambda e: e.month, reverse=True)  # stable: newest month first
    return ArchiveContext(
        html_lang="zh-CN" if lang == "zh" else "en",
        t=LABELS[lang],
        title=LABELS[lang]["archive_title"],
        entries=tuple(entries),
        generated=v.local_time(generated_at) + v.TIME_ZONE_NOTE[lang],
    )


# ---------------------------------------------------------------- rendering (strings)
def render_html(ctx: BulletinContext, env: Any = None) -> str:
    """The standalone HTML bulletin."""
    env = env or environment()
    return env.select_template([f"bulletin.{ctx.lang}.html", "bulletin.html"]).render(
        ctx.template_vars()
    )


def render_archive(ctx: ArchiveContext, env: Any = None) -> str:
    env = env or environment()
    return env.get_template("archive_index.html").render(ctx.template_vars())


def render_mail(ctx: BulletinContext, env: Any = None) -> tuple[str, str]:
    """The e-mail edition's HTML (CSS inlined, images by cid:) and its plain text."""
    import css_inline

    env = env or environment()
    html = env.select_template([f"bulletin_mail.{ctx.lang}.html", "bulletin_mail.html"]).render(
        ctx.template_vars()
    )
    html = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False).inline(html)
    text = env.select_template([f"bulletin_mail.{ctx.lang}.txt", "bulletin_mail.txt"]).render(
        ctx.template_vars()
    )
    return html, text


def mail_subject(ctx: BulletinContext) -> str:
    c = {x.level: x.count for x in ctx.counts}
    w = v.LEVEL_LABELS[ctx.lang]
    if ctx.lang == "zh":
        return f"{ctx.title}：" + "、".join(f"{w[lv]} {c[lv]}" for lv in LEVELS[:3])
    return f"{ctx.title}: " + ", ".join(f"{c[lv]} {w[lv]}" for lv in LEVELS[:3])


def build_bulletin_email(
    ctx: BulletinContext,
    *,
    to: Sequence[str] = (),
    sender: str | None = None,
    date: dt.datetime | None = None,
    env: Any = None,
) -> EmailMessage:
    """The e-mail edition: multipart/alternative of text and HTML; the HTML part is
    multipart/related with each chart as a PNG referenced by its Content-ID. No script, no
    SVG, CSS inline. The subject carries the colour counts (RFC 2047-encoded on output).
    Without `sender`/`date`, From and Date are left to the outbox."""
    from email import policy

    html, text = render_mail(ctx, env)
    msg = EmailMessage(policy=policy.SMTP)
    msg["Subject"] = mail_subject(ctx)
    if sender:
        msg["From"] = sender
    if to:
        msg["To"] = ", ".join(to)
    stem = bulletin_basename(ctx.month, ctx.scope_code, ctx.lang)
    if date is not None:
        aware = date if date.tzinfo else date.replace(tzinfo=dt.UTC)
        msg["Date"] = format_datetime(aware.astimezone(v.DISPLAY_TZ))
        msg["Message-ID"] = f"<{stem}.{aware.astimezone(dt.UTC):%Y%m%d%H%M%S}@fundmon>"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="base64")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="base64")
    html_part = next(p for p in msg.iter_parts() if p.get_content_type() == "text/html")
    for section in ctx.mail.funds:
        for chart in section.charts:
            html_part.add_related(
                chart_png(chart.spec),
                maintype="image",
                subtype="png",
                cid=f"<{chart.cid}>",
                filename=f"{chart.id}.png",
                disposition="inline",
            )
    return msg
