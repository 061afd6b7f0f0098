"""Threshold profiles: the rules that raise red / orange / yellow levels and notices.

A profile is a TOML file (the shipped default is `thresholds/national.toml`). The pure
`parse_profile(mapping)` turns the parsed TOML into a `ThresholdProfile` value object and
refuses a bad profile with every problem at once (`ThresholdProfileError`); `load_profile(path)`
reads the file and names the file and line of each problem.

Profile language::

    name = "national"                  # optional
    description = "…"                  # optional
    [defaults]                         # optional
    for = 1                            # consecutive months a condition must hold to fire
    clear_for = 2                      # consecutive months clear before its level may fall

    [[rules]]
    id = "payable_red"                 # unique
    level = "red"                      # red | orange | yellow | notice
    indicator = "payable_months"       # see monitor.core.indicators.INDICATORS
    op = "<"                           # < | <= | > | >=
    value = 3
    for = 1                            # optional, default [defaults].for
    clear_for = 2                      # optional, default [defaults].clear_for
    text_zh = "…{value}…{threshold}…"  # optional templates; generated when absent
    text_en = "…"
    label_zh = "结余过多"              # optional short label (notices)
    label_en = "excess balance"
    funds = ["employee"]               # optional: the rule applies to these funds only
    regions = ["3417*"]                # optional: …and to these region codes (globs) only

    [[rules.overrides]]                # optional, any number, after the rule's own keys
    fund = "resident"                  # and/or region = "3417*" (glob on the 6-digit code)
    value = 2.5                        # and/or values = { payable_months = 8 }, for,
                                       # clear_for, enabled = false

Forecast indicators take parameters next to `indicator`: `forecast.p_payable_below` needs
`threshold` (payable months) and `within` (months); `forecast.p_depletion` needs `within`;
`forecast.payable_months` needs `horizon` (also written `forecast.payable_months_6`);
`forecast.months_to_ytd_deficit` has none. Combined conditions replace `indicator`/`op`/`value`
with `all = [ {indicator = …, op = …, value = …}, … ]` or `any = [ … ]` (nestable).

Semantics: the level is the most severe colour rule that fires (green when none);
notices never colour. A rule fires after its condition held `for` consecutive evaluable
months, and keeps its level until it has been clear `clear_for` consecutive months. Overrides
that match a region and fund apply from the least to the most specific, each field taken from
the most specific override that sets it: one naming both fund and region beats one naming
one; a region glob beats a fund; a glob with more literal digits beats one with fewer; a tie
goes to the later override in the file.

Text templates are Python format strings with `{value}`, `{threshold}` (formatted with units),
`{level}`, `{name}` (the indicator in words), `{streak}` (months in a row), `{for}`,
`{clear_for}`, `{region}`, `{fund}` and, for combined conditions, `{values[NAME]}` and
`{thresholds[NAME]}`. `{value}`/`{threshold}` refer to the last condition listed.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import importlib.resources
import itertools
import math
import operator
import os
import re
import string
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeGuard

from monitor.core.errors import Problem, ThresholdProfileError
from monitor.core.funds import DEFAULT_FUNDS
from monitor.core.indicators import (
    INDICATORS,
    PARAM_TYPES,
    Key,
    indicator_key,
    key_label,
    key_name,
    key_params,
)
from monitor.core.toml_lines import TomlLines
from monitor.core.vocabulary import level_label


# ---------------------------------------------------------------- levels and operators
class Level(Enum):
    """Risk level, ordered green < yellow < orange < red."""

    GREEN = "green"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def rank(self) -> int:
        return _RANK[self.value]

    def label(self, lang: str = "zh") -> str:
        """'红色' / 'red'; green is '正常' / 'normal' (monitor.core.vocabulary)."""
        return level_label(self.value, lang)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank >= other.rank


_RANK = {"green": 0, "yellow": 1, "orange": 2, "red": 3}
NOTICE = "notice"
RULE_LEVELS: dict[str, Level | None] = {
    "red": Level.RED,
    "orange": Level.ORANGE,
    "yellow": Level.YELLOW,
    NOTICE: None,
}
COLOUR_LEVELS = (Level.YELLOW, Level.ORANGE, Level.RED)


def level_word(level: Level | None, lang: str = "zh") -> str:
    """'红色' / 'red'; a notice (None) is '提示' / 'notice'."""
    if level is None:
        return level_label(NOTICE, lang)
    return level.label(lang)


OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
BELOW = ("<", "<=")


# ---------------------------------------------------------------- value objects
@dataclass(frozen=True)
class Condition:
    """`indicator op value`, e.g. payable_months < 3; `key` as in monitor.core.indicators."""

    key: Key
    op: str
    value: float
    line: int | None = field(default=None, compare=False, repr=False)

    @property
    def name(self) -> str:
        return key_name(self.key)

    @property
    def unit(self) -> str:
        return INDICATORS[self.name].unit

    @property
    def below(self) -> bool:
        return self.op in BELOW

    def test(self, x: float) -> bool:
        return OPERATORS[self.op](x, self.value)

    def conditions(self) -> Iterator[Condition]:
        yield self

    def __str__(self) -> str:
        return f"{key_label(self.key)} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Combination:
    """`all` (every part holds) or `any` (at least one part holds) of conditions."""

    mode: str  # "all" | "any"
    parts: tuple[Condition | Combination, ...]

    def conditions(self) -> Iterator[Condition]:
        for part in self.parts:
            yield from part.conditions()

    def __str__(self) -> str:
        joiner = " and " if self.mode == "all" else " or "
        return "(" + joiner.join(str(p) for p in self.parts) + ")"


When = Condition | Combination


@dataclass(frozen=True)
class Override:
    """Values of a rule that differ for a fund and/or a region glob."""

    fund: str | None = None
    region: str | None = None
    value: float | None = None
    values: tuple[tuple[str, float], ...] = ()  # indicator name → value, for all/any rules
    for_months: int | None = None
    clear_for: int | None = None
    enabled: bool | None = None
    line: int | None = field(default=None, compare=False, repr=False)

    def matches(self, region: str | None, fund: str | None) -> bool:
        if self.fund is not None and self.fund != fund:
            return False
        return self.region is None or (
            region is not None and fnmatch.fnmatchcase(region, self.region)
        )

    @property
    def specificity(self) -> tuple[int, int]:
        named = (self.fund is not None) + (self.region is not None)
        return named, (_literal_digits(self.region) + 1 if self.region is not None else 0)


def _literal_digits(glob: str | None) -> int:
    return sum(ch.isdigit() for ch in glob or "")


@dataclass(frozen=True)
class Rule:
    id: str
    level: Level | None  # None: a notice (no colour)
    when: When
    for_months: int = 1
    clear_for: int = 2
    text_zh: str | None = None
    text_en: str | None = None
    label_zh: str | None = None
    label_en: str | None = None
    funds: tuple[str, ...] = ()  # empty: every fund
    regions: tuple[str, ...] = ()  # globs; empty: every region
    overrides: tuple[Override, ...] = ()
    line: int | None = field(default=None, compare=False, repr=False)

    @property
    def is_notice(self) -> bool:
        return self.level is None

    def conditions(self) -> list[Condition]:
        return list(self.when.conditions())

    def applies_to(self, region: str | None, fund: str | None) -> bool:
        if self.funds and fund not in self.funds:
            return False
        return not self.regions or (
            region is not None and any(fnmatch.fnmatchcase(region, g) for g in self.regions)
        )

    def resolve(self, region: str | None, fund: str | None) -> Rule | None:
        """This rule as it applies to a region and fund: overrides folded in, or None."""
        if not self.applies_to(region, fund):
            return None
        matching = [o for o in self.overrides if o.matches(region, fund)]
        # stable sort keeps file order among equals: the later one is applied last and wins
        matching.sort(key=lambda o: o.specificity)
        rule = dataclasses.replace(self, overrides=())
        enabled = True
        for o in matching:
            if o.enabled is not None:
                enabled = o.enabled
            changes: dict[str, Any] = {}
            if o.for_months is not None:
                changes["for_months"] = o.for_months
            if o.clear_for is not None:
                changes["clear_for"] = o.clear_for
            new_values = dict(o.values)
            if o.value is not None and isinstance(rule.when, Condition):
                new_values[rule.when.name] = o.value
            if new_values:
                changes["when"] = _replace_values(rule.when, new_values, o.line)
            rule = dataclasses.replace(rule, **changes)
        return rule if enabled else None


def _replace_values(when: When, values: Mapping[str, float], line: int | None) -> When:
    if isinstance(when, Condition):
        if when.name in values:
            return dataclasses.replace(when, value=float(values[when.name]), line=line)
        return when
    return Combination(when.mode, tuple(_replace_values(p, values, line) for p in when.parts))


@dataclass(frozen=True)
class ThresholdProfile:
    rules: tuple[Rule, ...]
    name: str = ""
    description: str = ""
    source: str | None = field(default=None, compare=False)
    _cache: dict[tuple[str, str], tuple[Rule, ...]] = field(
        default_factory=dict, compare=False, repr=False, hash=False
    )

    def rules_for(self, region: str, fund: str) -> tuple[Rule, ...]:
        """The rules that apply to one region and fund, with their overrides folded in."""
        key = (region, fund)
        if key not in self._cache:
            resolved = (r.resolve(region, fund) for r in self.rules)
            self._cache[key] = tuple(r for r in resolved if r is not None)
        return self._cache[key]

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def __repr__(self) -> str:
        levels = {level_word(r.level, "en") for r in self.rules}
        return (
            f"ThresholdProfile(name={self.name!r}, rules={len(self.rules)}, "
            f"levels={sorted(levels)}, source={self.source!r})"
        )


# ---------------------------------------------------------------- what the forecast must give
def required_forecasts(profile: ThresholdProfile) -> tuple[set[float], set[int]]:
    """(thresholds, windows) of every `forecast.p_payable_below` condition, to hand to the
    simulation (`simulate_fund(thresholds=…, windows=…)`); overrides cannot change them."""
    thresholds: set[float] = set()
    windows: set[int] = set()
    for rule in profile.rules:
        for c in rule.conditions():
            if c.name == "forecast.p_payable_below":
                params = key_params(c.key)
                thresholds.add(float(params["threshold"]))
                windows.add(int(params["within"]))
    return thresholds, windows


def required_horizon(profile: ThresholdProfile) -> int:
    """The forecast horizon (months) the profile's forecast rules need; 0 without any."""
    needed = 0
    for rule in profile.rules:
        for c in rule.conditions():
            for p in ("within", "horizon"):
                if p in key_params(c.key):
                    needed = max(needed, int(key_params(c.key)[p]))
    return needed


# ---------------------------------------------------------------- locating lines in the text
class _Locator:
    """The lines of a profile's rules and keys (tomllib gives no positions): tables and keys
    through `TomlLines`, plus what only a profile needs — the n-th `key =` of a rule (the
    conditions of a combination each write `indicator`), and a rule written as an inline table,
    found by its `id = "…"` line."""

    def __init__(self, text: str | None) -> None:
        self.toml = TomlLines(text)

    def _rule(self, index: int, rule_id: str | None) -> tuple[int, int] | None:
        """0-based [first, end) lines of a rule: its `[[rules]]` table with its sub-tables, or
        the line of its id."""
        span = self.toml.span(("rules", index))
        if span is not None or not rule_id:
            return span
        pattern = re.compile(rf"""(^|[{{,\s])id\s*=\s*["']{re.escape(rule_id)}["']""")
        for i, text in enumerate(self.toml.lines):
            if pattern.search(text):
                return i, i + 1
        return None

    def rule(self, index: int, rule_id: str | None = None) -> int | None:
        span = self._rule(index, rule_id)
        return span[0] + 1 if span else None

    def override(self, index: int, rule_id: str | None, n: int) -> int | None:
        """The rule's n-th `[[rules.overrides]]`, else its `overrides =` line, else the rule."""
        if self.toml.span(("rules", index)) is None:  # an inline rule: its line
            return self.rule(index, rule_id)
        return self.toml.line(("rules", index, "overrides", n))

    def key(
        self,
        index: int,
        rule_id: str | None,
        key: str,
        occurrence: int = 0,
        override: int | None = None,
    ) -> int | None:
        """The line of the n-th `key =` in a rule's own keys (or in its n-th override)."""
        span = self._rule(index, rule_id)
        if span is None:
            return None
        start, end = span
        if override is not None:
            sub = self.toml.span(("rules", index, "overrides", override))
            if sub is None:
                return self.override(index, rule_id, override)
            start, end = sub
        else:  # the rule's own keys precede its [[rules.overrides]]
            end = min(
                [at for at, where in self.toml.headers
                 if start < at < end and where[:3] == ("rules", index, "overrides")],
                default=end,
            )
        pattern = re.compile(rf"""(^|[{{,\s])["']?{re.escape(key)}["']?\s*=""")
        seen = 0
        for i in range(start, end):
            text = self.toml.lines[i]
            if text.lstrip().startswith("#"):
                continue
            for _ in pattern.finditer(text):
                if seen == occurrence:
                    return i + 1
                seen += 1
        return None

    def top_key(self, key: str) -> int | None:
        return self.toml.line((key,))

    def table(self, name: str) -> int | None:
        return self.toml.line((name,))


# ---------------------------------------------------------------- parsing
TOP_KEYS = ("name", "description", "defaults", "rules")
DEFAULT_KEYS = ("for", "clear_for")
PARAM_KEYS = ("threshold", "within", "horizon")
CONDITION_KEYS = ("indicator", "op", "value", *PARAM_KEYS)
RULE_KEYS = (
    "id",
    "level",
    *CONDITION_KEYS,
    "all",
    "any",
    "for",
    "clear_for",
    "text_zh",
    "text_en",
    "label_zh",
    "label_en",
    "funds",
    "regions",
    "overrides",
    "description",
)
OVERRIDE_KEYS = ("fund", "region", "value", "values", "for", "clear_for", "enabled")
TEMPLATE_FIELDS = (
    "value",
    "threshold",
    "level",
    "name",
    "streak",
    "for",
    "clear_for",
    "region",
    "fund",
    "values",
    "thresholds",
)
_HORIZON_SUFFIX = re.compile(r"^forecast\.payable_months_(\d+)$")
_GLOB = re.compile(r"^[0-9*?]+$")


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "布尔值"
    return {
        str: "字符串",
        int: "整数",
        float: "小数",
        list: "数组",
        dict: "表",
    }.get(type(value), type(value).__name__)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_positive_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _valid_glob(glob: str) -> bool:
    if not _GLOB.match(glob):
        return False
    fixed = sum(ch != "*" for ch in glob)
    return fixed <= 6 if "*" in glob else fixed == 6


class _Parser:
    def __init__(self, text: str | None, funds: Iterable[str] | None) -> None:
        self.at = _Locator(text)
        self.problems: list[Problem] = []
        self.funds = set(funds) if funds is not None else {f.key for f in DEFAULT_FUNDS}

    def problem(self, message: str, line: int | None, rule_id: str | None = None) -> None:
        self.problems.append(Problem(message, line, rule_id))

    # -- profile
    def profile(self, data: Mapping[str, Any], source: str | None) -> ThresholdProfile:
        if not isinstance(data, Mapping):
            self.problem(f"阈值配置应为表，实为{_type_name(data)}", None)
            raise ThresholdProfileError(self.problems, source=source)
        for key in data:
            if key not in TOP_KEYS:
                self.problem(
                    f"未知的键 {key!r}（可用：{', '.join(TOP_KEYS)}）",
                    self.at.top_key(key) or self.at.table(key),
                )
        name = self._text(data, "name", self.at.top_key("name"))
        description = self._text(data, "description", self.at.top_key("description"))
        defaults = self._defaults(data.get("defaults", {}))
        raw_rules = data.get("rules", [])
        if not isinstance(raw_rules, list):
            self.problem(
                f"rules 应为表的数组（[[rules]]），实为{_type_name(raw_rules)}",
                self.at.top_key("rules"),
            )
            raw_rules = []
        rules: list[Rule] = []
        declared: set[str] = set()
        first_seen: dict[str, int | None] = {}
        for index, raw in enumerate(raw_rules):
            rule_id = raw.get("id") if isinstance(raw, Mapping) else None
            rule_id = rule_id if isinstance(rule_id, str) and rule_id else None
            if rule_id is not None:
                if rule_id in first_seen:
                    seen = first_seen[rule_id]
                    self.problem(
                        f"规则编号 {rule_id!r} 重复" + (f"（第 {seen} 行已使用）" if seen else ""),
                        self.at.key(index, None, "id") or self.at.rule(index),
                        rule_id,
                    )
                else:
                    first_seen[rule_id] = self.at.rule(index, rule_id)
            if isinstance(raw, Mapping):
                # an unknown level may be the missing one: do not report it missing as well
                level = raw.get("level")
                known = isinstance(level, str) and level in RULE_LEVELS
                declared.add(str(level) if known else "*")
            rule = self._rule(index, raw, defaults)
            if rule is not None:
                rules.append(rule)
        missing = [lv for lv in ("red", "orange", "yellow") if lv not in declared]
        if missing and "*" not in declared:
            self.problem(
                "缺少级别的规则："
                + "、".join(f"{lv}（{level_label(lv)}）" for lv in missing)
                + "；阈值配置须有红、橙、黄三级规则",
                None,
            )
        self._check_order(rules)  # on the rules that parsed, so all problems come together
        if self.problems:
            # in file order; problems of the whole profile (no line) last
            self.problems.sort(key=lambda p: (p.line is None, p.line or 0))
            raise ThresholdProfileError(self.problems, source=source)
        return ThresholdProfile(
            rules=tuple(rules), name=name or "", description=description or "", source=source
        )

    def _text(
        self, data: Mapping[str, Any], key: str, line: int | None, rule_id: str | None = None
    ) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.problem(f"{key} 应为字符串，实为{_type_name(value)}", line, rule_id)
            return None
        return value

    def _defaults(self, raw: object) -> dict[str, int]:
        defaults = {"for": 1, "clear_for": 2}
        line = self.at.table("defaults")
        if not isinstance(raw, Mapping):
            self.problem(f"defaults 应为表，实为{_type_name(raw)}", line)
            return defaults
        for key, value in raw.items():
            if key not in DEFAULT_KEYS:
                self.problem(f"[defaults] 中未知的键 {key!r}（可用：for、clear_for）", line)
            elif not _is_positive_int(value):
                self.problem(f"[defaults] {key} 应为正整数，实为 {value!r}", line)
            else:
                defaults[key] = value
        return defaults

    # -- rules
    def _rule(self, index: int, raw: object, defaults: Mapping[str, int]) -> Rule | None:
        if not isinstance(raw, Mapping):
            self.problem(f"第 {index + 1} 条规则应为表，实为{_type_name(raw)}", self.at.rule(index))
            return None
        n_before = len(self.problems)
        rule_id = raw.get("id")
        rid = rule_id if isinstance(rule_id, str) and rule_id else None
        label = rid or f"#{index + 1}"

        def line(key: str | None = None, occurrence: int = 0) -> int | None:
            found = self.at.key(index, rid, key, occurrence) if key else None
            return found or self.at.rule(index, rid)

        def problem(message: str, key: str | None = None) -> None:
            self.problem(message, line(key), label)

        if rule_id is None:
            problem("缺少 id（规则编号）")
        elif not isinstance(rule_id, str) or not rule_id.strip():
            problem(f"id 应为非空字符串，实为 {rule_id!r}", "id")
        for key in raw:
            if key not in RULE_KEYS:
                problem(f"未知的键 {key!r}（可用：{', '.join(RULE_KEYS)}）", key)

        level_raw = raw.get("level")
        level: Level | None = None
        if level_raw is None:
            problem("缺少 level（red、orange、yellow 或 notice）")
        elif not isinstance(level_raw, str) or level_raw not in RULE_LEVELS:
            problem(f"未知级别 {level_raw!r}（可用：red、orange、yellow、notice）", "level")
        else:
            level = RULE_LEVELS[level_raw]

        when = self._when(index, rid, label, raw)
        counts: dict[str, int] = {}
        for key in ("for", "clear_for"):
            value = raw.get(key, defaults[key])
            if not _is_positive_int(value):
                problem(f"{key} 应为正整数（连续月数），实为 {value!r}", key)
            else:
                counts[key] = value
        texts = {
            k: self._text(raw, k, line(k), label)
            for k in ("text_zh", "text_en", "label_zh", "label_en")
        }
        funds = self._names(raw, "funds", line("funds"), label, self._check_fund)
        regions = self._names(raw, "regions", line("regions"), label, self._check_glob)

        overrides: list[Override] = []
        raw_overrides = raw.get("overrides", [])
        if not isinstance(raw_overrides, list):
            problem(
                f"overrides 应为表的数组（[[rules.overrides]]），实为{_type_name(raw_overrides)}",
                "overrides",
            )
            raw_overrides = []
        for n, raw_o in enumerate(raw_overrides):
            o = self._override(index, rid, label, n, raw_o, when)
            if o is not None:
                overrides.append(o)

        if when is not None:
            for key in ("text_zh", "text_en"):
                template = texts[key]
                if template is not None:
                    self._check_template(template, when, line(key), label, key)
        if len(self.problems) > n_before or when is None or rid is None:
            return None
        return Rule(
            id=rid,
            level=level,
            when=when,
            for_months=counts["for"],
            clear_for=counts["clear_for"],
            text_zh=texts["text_zh"],
            text_en=texts["text_en"],
            label_zh=texts["label_zh"],
            label_en=texts["label_en"],
            funds=funds,
            regions=regions,
            overrides=tuple(overrides),
            line=self.at.rule(index, rid),
        )

    def _names(
        self,
        raw: Mapping[str, Any],
        key: str,
        line: int | None,
        rule_id: str,
        check: Callable[[str], str | None],
    ) -> tuple[str, ...]:
        value = raw.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(f"{key} 应为字符串数组，实为 {value!r}", line, rule_id)
            return ()
        for v in value:
            message = check(v)
            if message:
                self.problem(message, line, rule_id)
        return tuple(value)

    def _check_fund(self, fund: str) -> str | None:
        if fund not in self.funds:
            return f"未知险种 {fund!r}（可用：{', '.join(sorted(self.funds))}）"
        return None

    def _check_glob(self, glob: str) -> str | None:
        if not _valid_glob(glob):
            return (
                f"统筹区通配符 {glob!r} 无效：应为 6 位行政区划代码，可用 * 和 ?，"
                "如 341702、3417*、34????"
            )
        return None

    # -- conditions
    def _when(self, index: int, rid: str | None, label: str, raw: Mapping[str, Any]) -> When | None:
        counter = [0]  # conditions in document order, to find the n-th `indicator =` line
        forms = [k for k in ("indicator", "all", "any") if k in raw]
        if len(forms) != 1:
            message = (
                "缺少条件：须写 indicator/op/value，或 all = [...]、any = [...]"
                if not forms
                else f"条件写法冲突：{'、'.join(forms)} 只能用其一"
            )
            self.problem(message, self.at.rule(index, rid), label)
            return None
        if forms[0] == "indicator":
            return self._condition(index, rid, label, raw, counter, simple=True)
        stray = [k for k in CONDITION_KEYS if k in raw]
        if stray:
            self.problem(
                f"{forms[0]} 条件的规则不能同时写 {'、'.join(stray)}（请写在各条件内）",
                self.at.key(index, rid, stray[0]) or self.at.rule(index, rid),
                label,
            )
        return self._combination(index, rid, label, forms[0], raw[forms[0]], counter)

    def _combination(
        self, index: int, rid: str | None, label: str, mode: str, parts: object, counter: list[int]
    ) -> Combination | None:
        line = self.at.key(index, rid, mode) or self.at.rule(index, rid)
        if not isinstance(parts, list) or not parts:
            self.problem(f"{mode} 应为非空的条件数组，实为 {parts!r}", line, label)
            return None
        out: list[Condition | Combination] = []
        ok = True
        for part in parts:
            if not isinstance(part, Mapping):
                self.problem(f"{mode} 的元素应为表（条件），实为{_type_name(part)}", line, label)
                ok = False
                continue
            nested = [k for k in ("all", "any") if k in part]
            sub: Condition | Combination | None
            if nested:
                if len(part) != 1:
                    self.problem(f"嵌套的 {nested[0]} 条件只能含 {nested[0]} 一个键", line, label)
                    ok = False
                    continue
                sub = self._combination(index, rid, label, nested[0], part[nested[0]], counter)
            else:
                sub = self._condition(index, rid, label, part, counter, simple=False)
            if sub is None:
                ok = False
            else:
                out.append(sub)
        return Combination(mode, tuple(out)) if ok else None

    def _condition(
        self,
        index: int,
        rid: str | None,
        label: str,
        raw: Mapping[str, Any],
        counter: list[int],
        *,
        simple: bool,
    ) -> Condition | None:
        occurrence = counter[0]
        counter[0] += 1

        def line(key: str) -> int | None:
            if simple:
                return self.at.key(index, rid, key) or self.at.rule(index, rid)
            return self.at.key(index, rid, "indicator", occurrence) or self.at.rule(index, rid)

        n_before = len(self.problems)
        if not simple:
            for written in raw:
                if written not in CONDITION_KEYS:
                    self.problem(
                        f"条件中未知的键 {written!r}（可用：{', '.join(CONDITION_KEYS)}）",
                        line(written),
                        label,
                    )
        name = raw.get("indicator")
        params: dict[str, object] = {k: raw[k] for k in PARAM_KEYS if k in raw}
        spec = None
        if not isinstance(name, str):
            self.problem(
                f"indicator 应为指标名称（字符串），实为 {name!r}", line("indicator"), label
            )
        else:
            m = _HORIZON_SUFFIX.match(name)
            if m:
                if "horizon" in params:
                    self.problem(f"{name} 已含预测期，不能再写 horizon", line("horizon"), label)
                name, params["horizon"] = "forecast.payable_months", int(m.group(1))
            spec = INDICATORS.get(name)
            if spec is None:
                self.problem(
                    f"未知指标 {name!r}（可用：{', '.join(INDICATORS)}）", line("indicator"), label
                )
        key: Key | None = None
        if spec is not None:
            values: list[float] = []
            for p in params:
                if p not in spec.params:
                    taken = "、".join(spec.params) if spec.params else "无"
                    self.problem(
                        f"指标 {spec.name} 不接受参数 {p}（它的参数：{taken}）", line(p), label
                    )
            for p in spec.params:
                if p not in params:
                    self.problem(f"指标 {spec.name} 须写参数 {p}", line("indicator"), label)
                    continue
                v = params[p]
                if PARAM_TYPES[p] is int:
                    if _is_positive_int(v):
                        values.append(v)
                    else:
                        self.problem(f"{p} 应为正整数（月数），实为 {v!r}", line(p), label)
                elif _is_number(v) and v > 0:
                    values.append(float(v))
                else:
                    self.problem(f"{p} 应为正数（可支付月数），实为 {v!r}", line(p), label)
            if len(values) == len(spec.params):
                key = indicator_key(spec.name, **dict(zip(spec.params, values, strict=True)))
        op = raw.get("op")
        if op is None:
            self.problem("缺少 op（<、<=、>、>=）", line("indicator"), label)
        elif not isinstance(op, str) or op not in OPERATORS:
            self.problem(f"未知的比较符 {op!r}（可用：<、<=、>、>=）", line("op"), label)
        value = raw.get("value")
        threshold = None
        if value is None:
            self.problem("缺少 value（阈值）", line("indicator"), label)
        elif not _is_number(value):
            self.problem(f"value 应为数字，实为{_type_name(value)} {value!r}", line("value"), label)
        else:
            threshold = float(value)
            if spec is not None:
                self._check_range(spec.name, threshold, line("value"), label)
        if len(self.problems) > n_before or key is None or threshold is None:
            return None
        return Condition(key=key, op=str(op), value=threshold, line=line("value"))

    def _check_range(self, name: str, value: float, line: int | None, label: str) -> None:
        if INDICATORS[name].unit == "probability" and not 0 <= value <= 1:
            self.problem(
                f"{name} 是概率，value 应在 0 到 1 之间（如 0.5），实为 {value:g}", line, label
            )

    # -- overrides
    def _override(
        self, index: int, rid: str | None, label: str, n: int, raw: object, when: When | None
    ) -> Override | None:
        head = self.at.override(index, rid, n) or self.at.rule(index, rid)

        def line(key: str) -> int | None:
            return self.at.key(index, rid, key, override=n) or head

        if not isinstance(raw, Mapping):
            self.problem(f"overrides 的元素应为表，实为{_type_name(raw)}", head, label)
            return None
        n_before = len(self.problems)
        for key in raw:
            if key not in OVERRIDE_KEYS:
                self.problem(
                    f"覆盖中未知的键 {key!r}（可用：{', '.join(OVERRIDE_KEYS)}）", line(key), label
                )
        fund, region = raw.get("fund"), raw.get("region")
        if fund is None and region is None:
            self.problem("覆盖须写 fund（险种）或 region（统筹区通配符），或两者", head, label)
        if fund is not None:
            message = (
                self._check_fund(fund)
                if isinstance(fund, str)
                else f"fund 应为字符串，实为 {fund!r}"
            )
            if message:
                self.problem(message, line("fund"), label)
        if region is not None:
            message = (
                self._check_glob(region)
                if isinstance(region, str)
                else f"region 应为字符串，实为 {region!r}"
            )
            if message:
                self.problem(message, line("region"), label)
        names = [c.name for c in when.conditions()] if when is not None else []
        value = raw.get("value")
        if value is not None:
            if not _is_number(value):
                self.problem(
                    f"value 应为数字，实为{_type_name(value)} {value!r}", line("value"), label
                )
            elif isinstance(when, Combination):
                self.problem("all/any 规则的覆盖请写 values = { 指标 = 值 }", line("value"), label)
            elif when is not None:
                self._check_range(when.name, float(value), line("value"), label)
        pairs: list[tuple[str, float]] = []
        raw_values = raw.get("values", {})
        if not isinstance(raw_values, Mapping):
            self.problem(f"values 应为表（指标 = 值），实为 {raw_values!r}", line("values"), label)
            raw_values = {}
        for name, v in raw_values.items():
            if when is not None and name not in names:
                self.problem(
                    f"values 中的指标 {name!r} 不在本规则的条件中（有：{'、'.join(names)}）",
                    line("values"),
                    label,
                )
            elif names.count(name) > 1:
                self.problem(
                    f"本规则有多个 {name} 条件，values 无法确定要覆盖哪一个", line("values"), label
                )
            elif not _is_number(v):
                self.problem(
                    f"values.{name} 应为数字，实为{_type_name(v)} {v!r}", line("values"), label
                )
            else:
                if when is not None:
                    self._check_range(name, float(v), line("values"), label)
                pairs.append((name, float(v)))
        counts: dict[str, int | None] = {}
        for key in ("for", "clear_for"):
            v = raw.get(key)
            if v is not None and not _is_positive_int(v):
                self.problem(f"{key} 应为正整数（连续月数），实为 {v!r}", line(key), label)
            counts[key] = v
        enabled = raw.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            self.problem(f"enabled 应为 true 或 false，实为 {enabled!r}", line("enabled"), label)
        if len(self.problems) > n_before:
            return None
        return Override(
            fund=fund,
            region=region,
            value=float(value) if value is not None else None,
            values=tuple(pairs),
            for_months=counts["for"],
            clear_for=counts["clear_for"],
            enabled=enabled,
            line=head,
        )

    # -- templates
    def _check_template(
        self, template: str, when: When, line: int | None, label: str, key: str
    ) -> None:
        names = {c.name: "x" for c in when.conditions()}
        sample = {f: "x" for f in TEMPLATE_FIELDS} | {"values": names, "thresholds": names}
        try:
            for _, field_name, _, _ in string.Formatter().parse(template):
                if field_name is not None:
                    root = re.split(r"[.\[]", field_name, maxsplit=1)[0]
                    if root not in TEMPLATE_FIELDS:
                        raise KeyError(root)
            template.format(**sample)
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            detail = f"未知的占位符 {{{exc.args[0]}}}" if isinstance(exc, KeyError) else str(exc)
            fields = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
            self.problem(
                f"{key} 模板无效：{detail}（可用：{fields}）",
                line,
                label,
            )

    # -- orange stricter than yellow, red stricter than orange
    def _check_order(self, rules: Sequence[Rule]) -> None:
        scenarios: list[tuple[str | None, str | None]] = [(None, None)]
        funds: set[str] = set()
        globs: set[str] = set()
        for r in rules:
            funds.update(r.funds)
            globs.update(r.regions)
            for o in r.overrides:
                if o.fund:
                    funds.add(o.fund)
                if o.region:
                    globs.add(o.region)
        regions = {g: _representative(g) for g in sorted(globs)}
        scenarios += [(None, f) for f in sorted(funds)]
        scenarios += [(rep, None) for rep in regions.values()]
        scenarios += [(rep, f) for rep in regions.values() for f in sorted(funds)]
        reported: set[tuple[object, ...]] = set()
        for region, fund in scenarios:
            resolved = [x for x in (r.resolve(region, fund) for r in rules) if x is not None]
            for problem in _order_problems(resolved):
                ident = (problem.rule_id, problem.message)
                if ident in reported:
                    continue
                reported.add(ident)
                scope = "、".join(x for x in (fund, region) if x)
                if scope:
                    problem = dataclasses.replace(
                        problem, message=f"{problem.message}（适用于 {scope}）"
                    )
                self.problems.append(problem)


def _representative(glob: str) -> str:
    """A region code matched by the glob, to resolve overrides for the order check."""
    code = glob.replace("?", "0").replace("*", "0" * 6)
    return code[:6].ljust(6, "0")


def _order_problems(rules: Sequence[Rule]) -> list[Problem]:
    """More severe levels must use stricter thresholds on the same indicator and direction.

    For each (indicator, direction) the loosest condition of a level is compared with the
    loosest of the nearest less severe level that has one: below (<, <=) a more severe
    threshold must not be higher (nor `<=` at the same value where the other is `<`); above
    (>, >=) it must not be lower.
    """
    loosest: dict[tuple[Key, bool], dict[Level, tuple[Condition, Rule]]] = {}
    for rule in rules:
        if rule.level is None:
            continue
        for c in rule.conditions():
            slot = loosest.setdefault((c.key, c.below), {})
            current = slot.get(rule.level)
            if current is None or _looser(c, current[0]):
                slot[rule.level] = (c, rule)
    problems = []
    for (key, _below), by_level in loosest.items():
        present = [lv for lv in COLOUR_LEVELS if lv in by_level]
        for lower, higher in itertools.pairwise(present):
            c_hi, r_hi = by_level[higher]
            c_lo, r_lo = by_level[lower]
            if _looser(c_hi, c_lo):
                where = f"，第 {c_lo.line or r_lo.line} 行" if (c_lo.line or r_lo.line) else ""
                problems.append(
                    Problem(
                        f"{higher.label()}阈值 {key_label(key)} {c_hi.op} {c_hi.value:g} "
                        f"比{lower.label()}阈值 {c_lo.op} {c_lo.value:g}（规则 {r_lo.id}{where}）"
                        f"更宽松：级别越严重，阈值须越严格",
                        c_hi.line or r_hi.line,
                        r_hi.id,
                    )
                )
    return problems


def _looser(a: Condition, b: Condition) -> bool:
    """Does `a` fire on values where `b` does not (same indicator, same direction)?"""
    if a.below:
        return a.value > b.value or (a.value == b.value and a.op == "<=" and b.op == "<")
    return a.value < b.value or (a.value == b.value and a.op == ">=" and b.op == ">")


# ---------------------------------------------------------------- entry points
def parse_profile(
    mapping: Mapping[str, Any],
    *,
    source: str | None = None,
    text: str | None = None,
    funds: Iterable[str] | None = None,
) -> ThresholdProfile:
    """A parsed TOML mapping → ThresholdProfile (pure).

    `source` names the file in errors; `text`, the TOML text the mapping came from, lets
    errors carry line numbers; `funds` are the configured fund keys (default: the built-in
    catalogue).

    :raises ThresholdProfileError: with every problem found, not just the first.
    """
    return _Parser(text, funds).profile(mapping, source)


def parse_profile_text(
    text: str, *, source: str | None = None, funds: Iterable[str] | None = None
) -> ThresholdProfile:
    """TOML text → ThresholdProfile (pure); syntax errors become a ThresholdProfileError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ThresholdProfileError(
            [Problem(f"TOML 语法错误：{exc}", int(m.group(1)) if m else None)], source=source
        ) from exc
    return parse_profile(data, source=source, text=text, funds=funds)


def load_profile(
    path: str | os.PathLike[str] | Traversable, *, funds: Iterable[str] | None = None
) -> ThresholdProfile:
    """Read and parse a profile file.

    :raises ThresholdProfileError: the file cannot be read, is not UTF-8 or TOML, or the
        profile is invalid; every message names the file and, where it can, the line.
    """
    source = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)
    target: Path | Traversable = Path(path) if isinstance(path, (str, os.PathLike)) else path
    try:
        raw = target.read_bytes()
    except OSError as exc:
        raise ThresholdProfileError(
            [Problem(f"无法读取文件：{exc.strerror or exc}")], source=source
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ThresholdProfileError(
            [Problem(f"文件须为 UTF-8 编码（{exc.reason}，第 {exc.start} 字节）")], source=source
        ) from exc
    return parse_profile_text(text, source=source, funds=funds)


def default_profile_path() -> Path | Traversable:
    """The shipped national profile: the package resource `monitor/profiles/national.toml`
    when installed that way, else the repository's `thresholds/national.toml`."""
    try:
        resource = (
            importlib.resources.files("monitor").joinpath("profiles").joinpath("national.toml")
        )
        if resource.is_file():
            return resource
    except (ModuleNotFoundError, OSError):  # pragma: no cover - unusual installs
        pass
    return Path(__file__).resolve().parents[2] / "thresholds" / "national.toml"


@functools.cache
def default_profile() -> ThresholdProfile:
    """The shipped national profile, loaded once."""
    return load_profile(default_profile_path())


def __getattr__(name: str) -> ThresholdProfile:
    # DEFAULT_PROFILE is loaded on first use, so importing this module never reads a file.
    if name == "DEFAULT_PROFILE":
        return default_profile()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def current_thresholds(profile: ThresholdProfile) -> dict[Level, float]:
    """Per colour, the payable-months threshold of its current-value rule (`payable_months <`)."""
    out: dict[Level, float] = {}
    for rule in profile.rules:
        if rule.level is None or rule.is_notice:
            continue
        for c in rule.conditions():
            if c.name == "payable_months" and c.op in ("<", "<="):
                out[rule.level] = max(out.get(rule.level, -math.inf), float(c.value))
    return out
