"""The canonical ledger columns and the header texts accepted for each.

Offices export with Chinese headers, sometimes with the unit in the header
("本期收入（万元）"); `match_header` strips such a unit and returns it separately.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from monitor.core.money import parse_unit

Kind = Literal["code", "text", "fund", "month", "amount", "count"]


@dataclass(frozen=True)
class Column:
    name: str
    label: str  # the Chinese header we write and show
    kind: Kind
    required: bool
    aliases: tuple[str, ...]


COLUMNS: tuple[Column, ...] = (
    Column(
        "region_code",
        "统筹区编码",
        "code",
        True,
        ("统筹区代码", "区划代码", "行政区划代码", "地区编码", "地区代码", "code", "region"),
    ),
    Column(
        "region_name",
        "统筹区名称",
        "text",
        False,
        ("统筹区", "地区", "地区名称", "区划名称", "name"),
    ),
    Column(
        "parent_code",
        "上级编码",
        "code",
        False,
        ("上级代码", "上级区划代码", "上级统筹区编码", "parent"),
    ),
    Column("parent_name", "上级名称", "text", False, ("上级统筹区名称", "上级区划名称")),
    Column("fund", "险种", "fund", True, ("基金", "险种名称", "基金名称", "险种类型")),
    Column("month", "月份", "month", True, ("年月", "期间", "所属期", "统计期", "月度", "period")),
    Column(
        "income",
        "本期收入",
        "amount",
        True,
        ("收入", "基金收入", "本月收入", "当期收入", "本期基金收入"),
    ),
    Column(
        "expenditure",
        "本期支出",
        "amount",
        True,
        ("支出", "基金支出", "本月支出", "当期支出", "本期基金支出", "expense", "expenses"),
    ),
    Column(
        "balance",
        "期末累计结余",
        "amount",
        True,
        ("累计结余", "期末结余", "期末滚存结余", "滚存结余", "累计结存", "closing_balance"),
    ),
    # optional details: income by source
    Column(
        "income_contribution",
        "征缴收入",
        "amount",
        False,
        ("基本医疗保险费收入", "保险费收入", "contribution"),
    ),
    Column(
        "income_subsidy", "财政补助收入", "amount", False, ("财政补助", "财政补贴收入", "subsidy")
    ),
    Column("income_interest", "利息收入", "amount", False, ("利息", "interest")),
    Column("income_other", "其他收入", "amount", False, ()),
    # expenditure by kind
    Column("exp_inpatient", "住院支出", "amount", False, ("住院费用支出", "住院", "inpatient")),
    Column(
        "exp_outpatient", "普通门诊支出", "amount", False, ("普通门诊", "门诊支出", "outpatient")
    ),
    Column(
        "exp_chronic",
        "门诊慢特病支出",
        "amount",
        False,
        ("门诊慢特病", "门诊慢特病费用支出", "chronic"),
    ),
    Column("exp_pharmacy", "药店支出", "amount", False, ("定点药店支出", "药店", "pharmacy")),
    Column("exp_other", "其他支出", "amount", False, ()),
    # insured persons
    Column("insured", "参保人数", "count", False, ("参保人员", "insured_persons")),
    Column(
        "insured_active", "在职参保人数", "count", False, ("在职人数", "在职职工人数", "active")
    ),
    Column("insured_retired", "退休参保人数", "count", False, ("退休人数", "退休人员", "retired")),
)

# The nine columns every canonical ledger file has, in order (details may follow).
BASIC: tuple[str, ...] = tuple(c.name for c in COLUMNS[:9])
BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
REQUIRED: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.required)
AMOUNTS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind == "amount")
COUNTS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind == "count")
DETAIL_AMOUNTS: tuple[str, ...] = tuple(a for a in AMOUNTS if a not in REQUIRED)

# A unit in brackets at the end of a header: "本期收入（万元）", "income (yuan)", "支出[万元]"
_UNIT_SUFFIX = re.compile(r"[\(（\[【]\s*(?:单位[:：]?\s*)?([^\)）\]】]+?)\s*[\)）\]】]\s*$")


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]", "", text).lower()


_LOOKUP: dict[str, str] = {}
for _c in COLUMNS:
    for _text in (_c.name, _c.label, *_c.aliases):
        _LOOKUP.setdefault(_norm(_text), _c.name)


def match_header(text: str) -> tuple[str | None, str | None]:
    """Header cell text → (canonical column name or None, unit stated in it or None).

    >>> match_header("本期收入（万元）")
    ('income', '万元')
    >>> match_header("region_code (统筹区编码)")
    ('region_code', None)
    """
    text = str(text).strip()
    unit = None
    m = _UNIT_SUFFIX.search(text)
    if m:
        inner = m.group(1)
        if parse_unit(inner):
            unit = parse_unit(inner)
            text = text[: m.start()]
        else:
            # "region_code (统筹区编码)": an English name with its Chinese alias in brackets
            name = _LOOKUP.get(_norm(text[: m.start()])) or _LOOKUP.get(_norm(inner))
            if name:
                return name, None
    return _LOOKUP.get(_norm(text)), unit
