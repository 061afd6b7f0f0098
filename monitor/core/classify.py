"""Risk classification of one fund's months against a threshold profile (pure).

Values come per month as a plain mapping keyed as in `monitor.core.indicators` (names for
current indicators, tuples for forecast indicators with parameters)::

    {"payable_months": 2.7, "ytd_surplus": -1.2e7, …,
     ("forecast.p_payable_below", 3.0, 12): 0.63, ("forecast.p_depletion", 12): 0.2}

`indicator_values(row, forecast)` builds one from a `current_indicators` row and a dict of
forecast values; `{DATA_MISSING: True}` (or None) marks a month without data.

Per rule, the classifier keeps a streak of months its condition held, a streak of months it
has been clear, and whether it is active (has fired and not yet been released):

- a rule fires when its condition has held `for` consecutive evaluable months;
- an active rule is released after its condition has been clear `clear_for` consecutive
  months; until then its level is held and the reasons say so;
- a rule whose value is missing is not evaluable: both streaks are frozen (it neither
  fires nor counts as clear) and the month carries a note;
- a month with no data at all keeps every streak and so the previous level, with a
  `data_missing` notice.

The level is the most severe active colour rule (green when none); active notice rules
give notices. `State` is what carries over between months; it is JSON-serialisable
(`to_dict` / `from_dict`) so the evaluator can store it and classify only a new month.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.core.aberrant import Review
from monitor.core.indicators import (
    DATA_MISSING,
    INDICATORS,
    SHORT_HISTORY,
    Key,
    as_number,
    format_near,
    format_threshold,
    format_value,
    key_name,
    key_params,
    key_text,
)
from monitor.core.money import format_amount
from monitor.core.thresholds import (
    BELOW,
    Combination,
    Condition,
    Level,
    Rule,
    ThresholdProfile,
    When,
    level_word,
)
from monitor.core.vocabulary import month_label

Values = Mapping[Key, object]
STATE_VERSION = 1


# ---------------------------------------------------------------- results
def _json_number(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


@dataclass(frozen=True)
class ConditionResult:
    """One condition of a rule on one month's values; `holds` None: value missing."""

    key: Key
    op: str
    threshold: float
    value: float | None
    holds: bool | None

    @property
    def indicator(self) -> str:
        return key_name(self.key)

    @property
    def unit(self) -> str:
        return INDICATORS[self.indicator].unit

    def to_dict(self) -> dict[str, Any]:
        return {
            "indicator": self.indicator,
            "params": key_params(self.key),
            "value": _json_number(self.value),
            "comparison": self.op,
            "threshold": self.threshold,
            "holds": self.holds,
        }


@dataclass(frozen=True)
class Reason:
    """Why a level is what it is: one active rule, its values, and the words for a leader.

    For all/any rules, `indicator`, `value`, `op` and `threshold` are those of the last
    condition listed (the headline one); `conditions` has all of them.
    """

    rule_id: str
    level: Level | None  # None: a notice
    indicator: str
    params: tuple[tuple[str, object], ...]
    value: float | None
    op: str
    threshold: float
    text_zh: str
    text_en: str
    held: bool = False  # the condition no longer holds; the level waits for clear_for
    streak: int = 0  # consecutive months the condition held (0 while held)
    conditions: tuple[ConditionResult, ...] = ()

    def text(self, lang: str = "zh") -> str:
        return self.text_zh if lang == "zh" else self.text_en

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "indicator": self.indicator,
            "params": dict(self.params),
            "value": _json_number(self.value),
            "comparison": self.op,
            "threshold": self.threshold,
            "level": self.level.value if self.level else "notice",
            "text": self.text(lang),
            "held": self.held,
            "streak": self.streak,
            "conditions": [c.to_dict() for c in self.conditions],
        }


@dataclass(frozen=True)
class Notice:
    """A notice without a colour: a notice rule (e.g. excess balance) or missing data."""

    id: str  # the rule id, or "data_missing"
    label_zh: str
    label_en: str
    text_zh: str
    text_en: str
    reason: Reason | None = None

    def label(self, lang: str = "zh") -> str:
        return self.label_zh if lang == "zh" else self.label_en

    def text(self, lang: str = "zh") -> str:
        return self.text_zh if lang == "zh" else self.text_en

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "label": self.label(lang), "text": self.text(lang)}
        if self.reason is not None:
            out["reason"] = self.reason.to_dict(lang)
        return out


@dataclass(frozen=True)
class Note:
    """For the analyst: a rule not evaluable, a rule on its way to firing, short history."""

    code: str  # "not_evaluable" | "pending" | "short_history"
    text_zh: str
    text_en: str
    rule_id: str | None = None

    def text(self, lang: str = "zh") -> str:
        return self.text_zh if lang == "zh" else self.text_en


@dataclass(frozen=True)
class Decision:
    region: str
    fund: str
    month: str | None
    level: Level
    previous_level: Level
    reasons: tuple[Reason, ...] = ()  # active colour rules, most severe first
    notices: tuple[Notice, ...] = ()
    notes: tuple[Note, ...] = ()
    data_missing: bool = False
    # months this level reads that were flagged at import and not yet confirmed or corrected
    # (monitor.core.aberrant): the level stands on them, its alert mail waits
    pending_review: tuple[Review, ...] = ()

    @property
    def changed(self) -> bool:
        return self.level != self.previous_level

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        return {
            "region_code": self.region,
            "fund": self.fund,
            "month": self.month,
            "level": self.level.value,
            "previous_level": self.previous_level.value,
            "data_missing": self.data_missing,
            "notices": [n.to_dict(lang) for n in self.notices],
            "reasons": [r.to_dict(lang) for r in self.reasons],
            "notes": [n.text(lang) for n in self.notes],
            "pending_review": [r.summary(lang) for r in self.pending_review],
        }


# ---------------------------------------------------------------- state
@dataclass(frozen=True)
class RuleState:
    streak: int = 0  # consecutive evaluable months the condition held
    clear: int = 0  # consecutive evaluable months clear while active
    active: bool = False

    @property
    def idle(self) -> bool:
        return self == RuleState()


@dataclass(frozen=True)
class State:
    """What carries over from one month to the next for one region and fund.

    JSON form (`to_dict`)::

        {"version": 1, "region": "341700", "fund": "employee", "month": "2024-05",
         "level": "red", "rules": {"payable_red": {"streak": 3, "clear": 0, "active": true}}}

    Rules with nothing to remember are left out; rules no longer in the profile are
    dropped, new ones start from zero.
    """

    region: str
    fund: str
    month: str | None = None  # the last month classified
    level: Level = Level.GREEN
    rules: Mapping[str, RuleState] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "region": self.region,
            "fund": self.fund,
            "month": self.month,
            "level": self.level.value,
            "rules": {
                rid: {"streak": rs.streak, "clear": rs.clear, "active": rs.active}
                for rid, rs in self.rules.items()
                if not rs.idle
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> State:
        """:raises ValueError: not a state this version wrote."""
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unknown classifier state version {data.get('version')!r}")
        try:
            rules = {
                str(rid): RuleState(int(r["streak"]), int(r["clear"]), bool(r["active"]))
                for rid, r in dict(data.get("rules") or {}).items()
            }
            return cls(
                region=str(data["region"]),
                fund=str(data["fund"]),
                month=data.get("month"),
                level=Level(data.get("level", "green")),
                rules=rules,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed classifier state: {exc}") from exc


def initial_state(region: str, fund: str) -> State:
    return State(region=region, fund=fund)


def _coerce_state(state: State | Mapping[str, Any]) -> State:
    return state if isinstance(state, State) else State.from_dict(state)


# ---------------------------------------------------------------- evaluation
def _lookup(values: Values, key: Key) -> float | None:
    v = values.get(key)
    return None if isinstance(v, bool) else as_number(v)


def _evaluate(when: When, values: Values) -> tuple[bool | None, list[ConditionResult]]:
    """Kleene logic: all() is False if a part is False, unknown if a part is unknown."""
    if isinstance(when, Condition):
        x = _lookup(values, when.key)
        holds = None if x is None else when.test(x)
        return holds, [ConditionResult(when.key, when.op, when.value, x, holds)]
    results: list[ConditionResult] = []
    outcomes = []
    for part in when.parts:
        h, r = _evaluate(part, values)
        outcomes.append(h)
        results += r
    if when.mode == "all":
        holds = False if False in outcomes else (None if None in outcomes else True)
    else:
        holds = True if True in outcomes else (None if None in outcomes else False)
    return holds, results


def _mentioned(when: When, values: Values) -> list[ConditionResult]:
    """The conditions a firing rule's text names: all of an all(), the true ones of an any()."""
    if isinstance(when, Condition):
        return _evaluate(when, values)[1]
    out: list[ConditionResult] = []
    for part in when.parts:
        holds, _ = _evaluate(part, values)
        if when.mode == "all" or holds:
            out += _mentioned(part, values)
    return out


# ---------------------------------------------------------------- words
_CMP = {
    "zh": {"<": "低于{lv}阈值", "<=": "不高于{lv}阈值", ">": "高于{lv}阈值", ">=": "达到{lv}阈值"},
    "en": {
        "<": "below the {lv} threshold of",
        "<=": "at or below the {lv} threshold of",
        ">": "above the {lv} threshold of",
        ">=": "at or above the {lv} threshold of",
    },
}
_CMP_SHORT = {
    "zh": {"<": "低于", "<=": "不高于", ">": "高于", ">=": "不低于"},
    "en": {"<": "below", "<=": "at most", ">": "above", ">=": "at least"},
}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _subject(c: ConditionResult, lang: str) -> str:
    """The indicator and its value: '可支付月数 2.7 个月', '预计 12 个月内基金耗尽的概率为 63%'."""
    name = key_text(c.key, lang)
    if c.value is None:
        return name
    shown = format_near(c.unit, c.value, c.threshold, lang)
    if c.indicator == "growth_gap":
        size = shown.lstrip("-")
        if lang == "zh":
            return f"支出增速{'高于' if c.value >= 0 else '低于'}收入增速 {size}"
        word = "exceeds" if c.value >= 0 else "trails"
        return f"expenditure growth {word} income growth by {size}"
    if c.indicator == "forecast.months_to_ytd_deficit":
        if not math.isfinite(c.value):
            return (
                "预测期内预计不出现当年累计赤字"
                if lang == "zh"
                else "no year-to-date deficit expected within the horizon"
            )
        return (
            f"预计 {shown}后出现当年累计赤字"
            if lang == "zh"
            else (f"a year-to-date deficit expected in {shown}")
        )
    if c.unit == "probability":
        return f"{name}为 {shown}" if lang == "zh" else f"the {name} is {shown}"
    return f"{name} {shown}" if lang == "zh" else f"{name} at {shown}"


def _phrase(c: ConditionResult, level: Level | None, lang: str) -> str:
    """One condition in words: '可支付月数 2.7 个月，低于红色阈值 3 个月'."""
    if c.indicator == "ytd_surplus" and c.op in BELOW and c.threshold == 0:
        return "当年累计收支赤字" if lang == "zh" else "a year-to-date deficit"
    cmp = _CMP[lang][c.op].format(lv=level_word(level, lang))
    threshold = format_threshold(c.unit, c.threshold, lang)
    sep = "，" if lang == "zh" else ", "
    return f"{_subject(c, lang)}{sep}{cmp} {threshold}"


def _fields(
    rule: Rule, results: Sequence[ConditionResult], streak: int, region: str, fund: str, lang: str
) -> dict[str, Any]:
    primary = results[-1]
    return {
        "value": format_near(primary.unit, primary.value, primary.threshold, lang)
        if primary.value is not None
        else format_value(primary.unit, math.nan, lang),
        "threshold": format_threshold(primary.unit, primary.threshold, lang),
        "level": level_word(rule.level, lang),
        "name": key_text(primary.key, lang),
        "streak": streak,
        "for": rule.for_months,
        "clear_for": rule.clear_for,
        "region": region,
        "fund": fund,
        "values": {
            r.indicator: format_value(r.unit, r.value if r.value is not None else math.nan, lang)
            for r in results
        },
        "thresholds": {r.indicator: format_threshold(r.unit, r.threshold, lang) for r in results},
    }


def _fired_text(
    rule: Rule,
    mentioned: Sequence[ConditionResult],
    streak: int,
    region: str,
    fund: str,
    lang: str,
) -> str:
    template = rule.text_zh if lang == "zh" else rule.text_en
    if template:
        return template.format(**_fields(rule, mentioned, streak, region, fund, lang))
    if isinstance(rule.when, Combination) and rule.when.mode == "any":
        joiner = "；" if lang == "zh" else "; "
    else:
        joiner = "，且" if lang == "zh" else ", and "
    text = joiner.join(_phrase(c, rule.level, lang) for c in mentioned)
    if rule.for_months > 1:
        text += f"，已连续 {streak} 个月" if lang == "zh" else f", for {streak} months in a row"
    return text if lang == "zh" else _cap(text)


def _missing_names(results: Sequence[ConditionResult], lang: str) -> str:
    names = dict.fromkeys(key_text(r.key, lang) for r in results if r.value is None)
    return ("、" if lang == "zh" else ", ").join(names)


def _held_text(
    rule: Rule,
    rs: RuleState,
    results: Sequence[ConditionResult],
    data_missing: bool,
    lang: str,
) -> str:
    lv = level_word(rule.level, lang)
    if data_missing:
        return (
            f"{lv}预警保持中：本月无数据"
            if lang == "zh"
            else f"{_cap(lv)} held: no data this month"
        )
    if rs.clear == 0:  # not evaluable this month
        names = _missing_names(results, lang)
        if lang == "zh":
            return f"{lv}预警保持中：本月无法评估（缺少{names}）"
        return f"{_cap(lv)} held: cannot be evaluated this month ({names} missing)"
    primary = results[-1]
    detail = _subject(primary, lang) if primary.value is not None else ""
    if lang == "zh":
        text = f"{lv}预警保持中：条件已连续 {rs.clear} 个月解除，需连续 {rule.clear_for} 个月"
        return text + (f"（{detail}）" if detail else "")
    text = (
        f"{_cap(lv)} held: the condition has been clear for {rs.clear} month(s); "
        f"{rule.clear_for} in a row are needed"
    )
    return text + (f" ({detail})" if detail else "")


def _default_label(rule: Rule, lang: str) -> str:
    if isinstance(rule.when, Condition):
        c = rule.when
        unit = INDICATORS[c.name].unit
        sep = "" if lang == "zh" else " "
        return (
            f"{key_text(c.key, lang)}{sep}{_CMP_SHORT[lang][c.op]} "
            f"{format_threshold(unit, c.value, lang)}"
        )
    return rule.id


def _reason(
    rule: Rule,
    results: Sequence[ConditionResult],
    text_zh: str,
    text_en: str,
    *,
    held: bool,
    streak: int,
) -> Reason:
    primary = results[-1]
    return Reason(
        rule_id=rule.id,
        level=rule.level,
        indicator=primary.indicator,
        params=tuple(key_params(primary.key).items()),
        value=primary.value,
        op=primary.op,
        threshold=primary.threshold,
        text_zh=text_zh,
        text_en=text_en,
        held=held,
        streak=streak,
        conditions=tuple(results),
    )


# ---------------------------------------------------------------- classification
def classify_month(
    profile: ThresholdProfile,
    state: State | Mapping[str, Any],
    values: Values | None,
    *,
    month: str | None = None,
    explain: bool = True,
) -> tuple[Decision, State]:
    """Classify one month, continuing from `state` (the state after the previous month, or
    `initial_state(region, fund)`, or its `to_dict()` form). Returns the decision and the
    state to store for the next month. `explain=False`: the decision carries the level only
    (no reasons, notices or notes): replaying months for their state alone skips the texts,
    which are most of the cost.

    :raises ValueError: `month` is not after the state's month (classify a re-issued month
        from the state stored before it), or the state is malformed.
    """
    st = _coerce_state(state)
    if month and st.month and _month_number(month) <= _month_number(st.month):
        raise ValueError(
            f"state of {st.region}/{st.fund} is already at {st.month}; classify {month} "
            "from the state stored before it"
        )
    missing = values is None or bool(values.get(DATA_MISSING))
    vals: Values = {} if values is None else values
    rules = profile.rules_for(st.region, st.fund)

    new_rules: dict[str, RuleState] = {}
    reasons: list[tuple[int, int, Reason]] = []  # (-level rank, rule order, reason)
    notices: list[Notice] = []
    notes: list[Note] = []
    levels: list[Level] = []
    for order, rule in enumerate(rules):
        rs = st.rules.get(rule.id, RuleState())
        holds, results = (None, _blank(rule.when)) if missing else _evaluate(rule.when, vals)
        streak, clear, active = rs.streak, rs.clear, rs.active
        if holds is True:
            streak, clear = streak + 1, 0
            active = active or streak >= rule.for_months
        elif holds is False:
            streak = 0
            if active:
                clear += 1
                if clear >= rule.clear_for:
                    active, clear = False, 0
        rs = RuleState(streak, clear, active)
        new_rules[rule.id] = rs
        if not explain:
            if active and rule.level is not None:
                levels.append(rule.level)
            continue

        if holds is None and not missing:
            notes.append(
                Note(
                    "not_evaluable",
                    f"规则 {rule.id} 本月无法评估：缺少{_missing_names(results, 'zh')}",
                    f"rule {rule.id} cannot be evaluated this month: "
                    f"{_missing_names(results, 'en')} missing",
                    rule.id,
                )
            )
        if not active:
            if holds is True:  # on its way: held `streak` of `for` months
                lv_zh, lv_en = level_word(rule.level, "zh"), level_word(rule.level, "en")
                notes.append(
                    Note(
                        "pending",
                        f"规则 {rule.id}：条件已连续 {streak} 个月成立，"
                        f"需连续 {rule.for_months} 个月才触发{lv_zh}",
                        f"rule {rule.id}: the condition has held {streak} month(s); "
                        f"{rule.for_months} in a row are needed to raise {lv_en}",
                        rule.id,
                    )
                )
            continue

        if holds is True:
            mentioned = _mentioned(rule.when, vals)
            reason = _reason(
                rule,
                mentioned,
                _fired_text(rule, mentioned, streak, st.region, st.fund, "zh"),
                _fired_text(rule, mentioned, streak, st.region, st.fund, "en"),
                held=False,
                streak=streak,
            )
        else:
            reason = _reason(
                rule,
                results,
                _held_text(rule, rs, results, missing, "zh"),
                _held_text(rule, rs, results, missing, "en"),
                held=True,
                streak=0,
            )
        if rule.level is None:
            notices.append(
                Notice(
                    rule.id,
                    rule.label_zh or _default_label(rule, "zh"),
                    rule.label_en or _default_label(rule, "en"),
                    reason.text_zh,
                    reason.text_en,
                    reason,
                )
            )
        else:
            levels.append(rule.level)
            reasons.append((-rule.level.rank, order, reason))

    level = max(levels, default=Level.GREEN)
    if missing and explain:
        when = month_label(month) if month else "本月"
        notices.insert(
            0,
            Notice(
                "data_missing",
                "数据缺失",
                "data missing",
                f"{when}无数据，保持上月级别（{level.label('zh')}）",
                f"No data for {month_label(month, 'en') if month else 'this month'}; "
                f"the previous level ({level.label('en')}) is kept",
            ),
        )
    elif vals.get(SHORT_HISTORY) and explain:
        notes.append(
            Note(
                "short_history",
                "可支付月数按不足 12 个月的支出均值计算（历史较短）",
                "payable months use the mean of fewer than 12 months of expenditure",
            )
        )
    reasons.sort(key=lambda item: item[:2])  # most severe first, then in the profile's order
    decision = Decision(
        region=st.region,
        fund=st.fund,
        month=month,
        level=level,
        previous_level=st.level,
        reasons=tuple(r for _, _, r in reasons),
        notices=tuple(notices),
        notes=tuple(notes),
        data_missing=missing,
    )
    new_state = State(
        region=st.region,
        fund=st.fund,
        month=month if month is not None else st.month,
        level=level,
        rules={rid: rs for rid, rs in new_rules.items() if not rs.idle},
    )
    return decision, new_state


def _month_number(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def _blank(when: When) -> list[ConditionResult]:
    return [ConditionResult(c.key, c.op, c.value, None, None) for c in when.conditions()]


def classify_series(
    profile: ThresholdProfile,
    region: str,
    fund: str,
    months: Iterable[tuple[str, Values | None]],
    *,
    state: State | Mapping[str, Any] | None = None,
    explain: bool = True,
) -> tuple[list[Decision], State]:
    """Classify a series of months (oldest first; values None or {DATA_MISSING: True} for
    a month without data), from `state` or from scratch. Returns one decision per month and
    the state after the last one (`explain`: see `classify_month`).

    :raises ValueError: the state belongs to another region or fund, or months go backwards.
    """
    st = initial_state(region, fund) if state is None else _coerce_state(state)
    if (st.region, st.fund) != (region, fund):
        raise ValueError(f"state belongs to {st.region}/{st.fund}, not {region}/{fund}")
    decisions = []
    for month, values in months:
        decision, st = classify_month(profile, st, values, month=month, explain=explain)
        decisions.append(decision)
    return decisions, st


# ---------------------------------------------------------------- explain
@dataclass(frozen=True)
class ExplainRow:
    """One rule on one month's values: does its condition hold, and how far is it.

    `fires` is whether the condition holds now (True / False / None when not evaluable);
    with `for_months` > 1 the rule fires only after that many months in a row. `distance`
    is how far the value must still move to fire (indicator units, probabilities as
    fractions; 0 when it holds; None when not evaluable or several conditions are unmet).
    """

    rule_id: str
    level: Level | None
    indicator: str
    params: tuple[tuple[str, object], ...]
    value: float | None
    op: str
    threshold: float
    fires: bool | None
    for_months: int
    distance: float | None
    text_zh: str
    text_en: str
    conditions: tuple[ConditionResult, ...] = ()

    def text(self, lang: str = "zh") -> str:
        return self.text_zh if lang == "zh" else self.text_en

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "level": self.level.value if self.level else "notice",
            "indicator": self.indicator,
            "params": dict(self.params),
            "value": _json_number(self.value),
            "comparison": self.op,
            "threshold": self.threshold,
            "fires": self.fires,
            "for": self.for_months,
            "distance": _json_number(self.distance),
            "text": self.text(lang),
            "conditions": [c.to_dict() for c in self.conditions],
        }


def _amount_text(unit: str, diff: float, lang: str) -> str:
    """A distance in the indicator's unit; probabilities and percents in percentage points."""
    if unit == "yuan":
        return format_amount(diff, lang=lang)
    if unit in ("probability", "percent", "pp"):
        pp = diff * 100 if unit == "probability" else diff
        digits = 0 if unit == "probability" else 1
        while digits < 3 and pp > 0 and round(pp, digits) == 0:
            digits += 1
        return f"{pp:.{digits}f} 个百分点" if lang == "zh" else f"{pp:.{digits}f} pp"
    digits = 2 if unit == "ratio" else 1
    while digits < 4 and diff > 0 and round(diff, digits) == 0:
        digits += 1
    if unit == "months":
        return f"{diff:.{digits}f} 个月" if lang == "zh" else f"{diff:.{digits}f} months"
    return f"{diff:.{digits}f}"


def _move(c: ConditionResult, lang: str, named: bool) -> str:
    """What must still happen for one unmet condition: '再下降 0.4 个月'."""
    assert c.value is not None
    diff = abs(c.threshold - c.value)
    down = c.op in BELOW
    amount = _amount_text(c.unit, diff, lang)
    if lang == "zh":
        verb = ("减少" if down else "增加") if c.unit == "yuan" else ("下降" if down else "上升")
        prefix = key_text(c.key, "zh") if named else ("概率" if c.unit == "probability" else "")
        return f"{prefix}再稍有{verb}即" if diff == 0 else f"{prefix}再{verb} {amount}"
    noun = "fall" if down else "rise"
    where = (
        f" in {key_text(c.key, 'en')}"
        if named
        else (" in the probability" if c.unit == "probability" else "")
    )
    return f"any further {noun}{where}" if diff == 0 else f"a further {noun} of {amount}{where}"


def _explain_text(
    rule: Rule, holds: bool | None, results: Sequence[ConditionResult], lang: str
) -> str:
    lv = level_word(rule.level, lang)
    if holds is True:
        if rule.for_months > 1:
            if lang == "zh":
                return f"条件已满足，连续 {rule.for_months} 个月后触发{lv}"
            return f"condition holds; raises {lv} after {rule.for_months} months in a row"
        return f"已触发{lv}" if lang == "zh" else f"fires {lv}"
    if holds is None and all(r.holds is not False for r in results):
        names = _missing_names(results, lang)
        return f"缺少{names}，无法评估" if lang == "zh" else f"not evaluable: {names} missing"
    unmet = [r for r in results if r.holds is False]
    named = len(results) > 1
    moves = [_move(r, lang, named) for r in unmet]
    any_mode = isinstance(rule.when, Combination) and rule.when.mode == "any"
    if lang == "zh":
        text = ("或" if any_mode else "且").join(moves)
        text = f"{text}触发{lv}"
    else:
        text = f"triggers {lv} after " + (" or " if any_mode else " and ").join(moves)
        text = text.replace("after any further", "on any further")
    missing = _missing_names(results, lang)
    if missing:
        text += f"（缺少{missing}）" if lang == "zh" else f" ({missing} missing)"
    return text


def explain(profile: ThresholdProfile, region: str, fund: str, values: Values) -> list[ExplainRow]:
    """Every rule that applies to the region and fund, on one month's values: its value,
    whether it fires, and how far it is from firing, in words (zh and en)."""
    rows = []
    for rule in profile.rules_for(region, fund):
        holds, results = _evaluate(rule.when, values)
        primary = results[-1]
        unmet = [r for r in results if r.holds is False]
        if holds is True:
            distance: float | None = 0.0
        elif len(unmet) == 1 and unmet[0].value is not None:
            distance = abs(unmet[0].threshold - unmet[0].value)
        else:
            distance = None
        rows.append(
            ExplainRow(
                rule_id=rule.id,
                level=rule.level,
                indicator=primary.indicator,
                params=tuple(key_params(primary.key).items()),
                value=primary.value,
                op=primary.op,
                threshold=primary.threshold,
                fires=holds,
                for_months=rule.for_months,
                distance=distance,
                text_zh=_explain_text(rule, holds, results, "zh"),
                text_en=_explain_text(rule, holds, results, "en"),
                conditions=tuple(results),
            )
        )
    return rows


__all__ = [
    "ConditionResult",
    "Decision",
    "ExplainRow",
    "Note",
    "Notice",
    "Reason",
    "RuleState",
    "State",
    "classify_month",
    "classify_series",
    "explain",
    "initial_state",
]
