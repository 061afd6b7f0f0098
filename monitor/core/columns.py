"""The canonical ledger columns and the header texts accepted for each.

Offices export with Chinese headers, sometimes with the unit in the header
("本期收入（万元）"); `match_header` strips such a unit and returns it separately. A detail
is often marked "其中：征缴收入" and numbered ("1.住院"); the mark and the number are not
part of the name. Headers of two or three rows (a group such as 基金收入 merged over
本期收入 | 其中：征缴收入 | …) are read by `match_header_parts`, top part first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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
        ("收入", "基金收入", "本月收入", "当期收入", "本期基金收入", "收入合计", "基金收入合计"),
    ),
    Column(
        "expenditure",
        "本期支出",
        "amount",
        True,
        (
            "支出",
            "基金支出",
            "本月支出",
            "当期支出",
            "本期基金支出",
            "支出合计",
            "基金支出合计",
            "expense",
            "expenses",
        ),
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
        ("基本医疗保险费收入", "保险费收入", "缴费收入", "contribution"),
    ),
    Column(
        "income_subsidy",
        "财政补助收入",
        "amount",
        False,
        ("财政补助", "财政补贴收入", "财政补贴", "subsidy"),
    ),
    Column("income_interest", "利息收入", "amount", False, ("利息", "interest")),
    Column("income_other", "其他收入", "amount", False, ()),
    # expenditure by kind
    Column(
        "exp_inpatient",
        "住院支出",
        "amount",
        False,
        ("住院费用支出", "住院费用", "住院", "inpatient"),
    ),
    Column(
        "exp_outpatient",
        "普通门诊支出",
        "amount",
        False,
        ("普通门诊", "普通门诊费用", "门诊支出", "outpatient"),
    ),
    Column(
        "exp_chronic",
        "门诊慢特病支出",
        "amount",
        False,
        ("门诊慢特病", "门诊慢特病费用支出", "门诊慢特病费用", "chronic"),
    ),
    Column(
        "exp_pharmacy",
        "药店支出",
        "amount",
        False,
        ("定点药店支出", "定点零售药店支出", "定点药店", "药店", "pharmacy"),
    ),
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
# "其中：住院", "1.住院", "（一）住院", "一、住院": a detail's mark and number are not its name
_MARK = re.compile(r"^\s*(?:其中\s*[:：]?|[\(（]?[0-9一二三四五六七八九十]{1,3}[\)）、.．]\s*)+")
# A part of a multi-row header that only says "the group's own total"
TOTAL_WORDS = frozenset(
    {"合计", "小计", "总计", "计", "本期", "本月", "当期", "本期合计", "本月合计", "金额",
     "本期金额", "本月金额", "本期发生额", "本月发生额"}
)  # fmt: skip
# A group that makes its columns something else than this month's figures ("本年累计",
# "上年同期", "预算"): they are not ledger columns, whatever the sub-header says.
_NOT_THIS_MONTH = re.compile("累计|本年|上年|去年|同期|年初|预算|计划|同比|增长|增减|占比|比例")
# The total a detail belongs to; a detail under another group is not that detail.
PARENT: dict[str, str] = {
    **{name: "income" for name in ("income_contribution", "income_subsidy", "income_interest",
                                   "income_other")},
    **{name: "expenditure" for name in ("exp_inpatient", "exp_outpatient", "exp_chronic",
                                        "exp_pharmacy", "exp_other")},
    **{name: "insured" for name in ("insured_active", "insured_retired")},
}  # fmt: skip
# a group's kind as a word that completes a short sub-header: 基金收入 / 其他 → 其他收入
_GROUP_WORD = {"income": ("收入",), "expenditure": ("支出",), "insured": ("参保人数", "人数")}
HEADER_JOIN = "/"  # how the parts of a multi-row header are shown: "基金收入/其中：征缴收入"


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]", "", text).lower()


_LOOKUP: dict[str, str] = {}
for _c in COLUMNS:
    for _text in (_c.name, _c.label, *_c.aliases):
        _LOOKUP.setdefault(_norm(_text), _c.name)


def strip_mark(text: str) -> str:
    """'其中：征缴收入' → '征缴收入'; '1.住院' → '住院' (text that is only a mark stays)."""
    bare = _MARK.sub("", str(text)).strip()
    return bare or str(text).strip()


# what a row of units under a header says of a column that is not money: persons, a share
_OTHER_UNITS = frozenset({"人", "人次", "户", "个", "%", "‰"})


def unit_word(text: str) -> tuple[bool, str | None]:
    """Whether a header part only states a unit ("万元", "（元）", "人"), and the money unit."""
    bare = re.sub(r"^[\(（\[【]\s*(?:单位[:：]?\s*)?|\s*[\)）\]】]$", "", str(text).strip())
    unit = parse_unit(bare)
    return unit is not None or bare in _OTHER_UNITS, unit


def _split_unit(text: str) -> tuple[str, str | None]:
    """(text without a known unit suffix, the unit); a part that is only a unit → ('', unit)."""
    only, unit = unit_word(text)
    if only:
        return "", unit
    m = _UNIT_SUFFIX.search(text)
    if m:
        unit = parse_unit(m.group(1))
        if unit:
            return text[: m.start()], unit
    return text, None


def match_header(text: str) -> tuple[str | None, str | None]:
    """Header cell text → (canonical column name or None, unit stated in it or None).

    >>> match_header("本期收入（万元）")
    ('income', '万元')
    >>> match_header("region_code (统筹区编码)")
    ('region_code', None)
    >>> match_header("其中：住院")
    ('exp_inpatient', None)
    """
    text = strip_mark(str(text).strip())
    m = _UNIT_SUFFIX.search(text)
    if m and not parse_unit(m.group(1)):
        # "region_code (统筹区编码)": an English name with its Chinese alias in brackets
        name = _LOOKUP.get(_norm(text[: m.start()])) or _LOOKUP.get(_norm(m.group(1)))
        if name:
            return name, None
    text, unit = _split_unit(text)
    return _LOOKUP.get(_norm(text)), unit


def match_header_parts(parts: Sequence[str]) -> tuple[str | None, str | None]:
    """The header of one column over several rows, top part first → (column, unit).

    The bottom part names the column ("本期收入", "其中：征缴收入") unless it only says
    "total" ("合计"), when the group above does ("基金收入"); a short bottom part is read
    with its group ("统筹区" / "编码" → 统筹区编码, "基金支出" / "其他" → 其他支出,
    "参保人数" / "在职" → 在职参保人数). A column under a group such as "本年累计" or
    "上年同期" is not a ledger column, and a detail under a group of another kind (a 支出
    detail under 基金收入) is not that detail. A unit may be stated in any part.

    >>> match_header_parts(["基金收入（万元）", "其中：征缴收入"])
    ('income_contribution', '万元')
    >>> match_header_parts(["基金支出", "合计"])
    ('expenditure', None)
    """
    texts: list[str] = []
    unit: str | None = None
    for part in parts:
        bare, stated = _split_unit(strip_mark(part))
        unit = unit or stated
        if _MARK.fullmatch(bare):
            continue  # "其中" alone over the details: a mark, not a group
        if bare and (not texts or texts[-1] != bare):  # a cell merged down repeats its text
            texts.append(bare)
    if not texts:
        return None, unit
    *groups, last = texts
    if not groups:
        return match_header(last)[0], unit
    group = next((n for g in reversed(groups) if (n := match_header(g)[0])), None)
    if any(_NOT_THIS_MONTH.search(g) for g in groups) and group != "balance":
        return None, unit
    if _norm(last) in TOTAL_WORDS:
        return group, unit
    candidates = [last, groups[-1] + last, "".join(texts)]
    candidates += [last + word for word in _GROUP_WORD.get(group or "", ())]
    for text in candidates:
        name = match_header(text)[0]
        if name is None:
            continue
        if group in _GROUP_WORD and name in PARENT and PARENT[name] != group:
            return None, unit  # 基金收入 / 住院: not the inpatient expenditure
        return name, unit
    return None, unit
