"""Threshold profiles: the shipped national profile, the language, overrides, and refusals."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import monitor.core.thresholds as thresholds
from monitor.core.errors import MonitorError
from monitor.core.thresholds import (
    Combination,
    Condition,
    Level,
    ThresholdProfile,
    ThresholdProfileError,
    default_profile,
    default_profile_path,
    load_profile,
    parse_profile,
    parse_profile_text,
    required_forecasts,
    required_horizon,
)

# A minimal valid profile; tests append rules to it. Lines: [[rules]] at 1, 7 and 13.
BASE = """\
[[rules]]
id = "red_payable"
level = "red"
indicator = "payable_months"
op = "<"
value = 3
[[rules]]
id = "orange_payable"
level = "orange"
indicator = "payable_months"
op = "<"
value = 6
[[rules]]
id = "yellow_payable"
level = "yellow"
indicator = "payable_months"
op = "<"
value = 9
"""


def refused(tmp_path: Path, text: str) -> tuple[ThresholdProfileError, str]:
    path = tmp_path / "local.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ThresholdProfileError) as info:
        load_profile(path)
    return info.value, str(path)


def line_of(text: str, needle: str, occurrence: int = 0) -> int:
    lines = [i + 1 for i, s in enumerate(text.splitlines()) if needle in s]
    return lines[occurrence]


# ---------------------------------------------------------------- the shipped profile
def test_the_national_profile_implements_the_design_table() -> None:
    profile = default_profile()
    by_id = {r.id: r for r in profile.rules}
    assert by_id["payable_red"].when == Condition("payable_months", "<", 3)
    assert by_id["depletion_red"].when == Condition(("forecast.p_depletion", 12), ">=", 0.5)
    assert by_id["payable_orange"].when == Condition("payable_months", "<", 6)
    assert by_id["payable_below_3_forecast_orange"].when == Condition(
        ("forecast.p_payable_below", 3.0, 12), ">=", 0.5
    )
    assert by_id["payable_deficit_yellow"].when == Combination(
        "all", (Condition("ytd_surplus", "<", 0), Condition("payable_months", "<", 9))
    )
    assert by_id["growth_gap_yellow"].for_months == 3
    assert by_id["payable_excess_notice"].is_notice
    assert by_id["payable_excess_notice"].label_zh == "结余过多"
    assert {r.level for r in profile.rules} == {Level.RED, Level.ORANGE, Level.YELLOW, None}


def test_the_national_profile_says_where_its_numbers_come_from() -> None:
    header = Path(str(default_profile_path())).read_text(encoding="utf-8")[:1200]
    assert "6–9 个月" in header and "15 个月" in header and "3 个月" in header
    assert "confirm every number against your local policy document" in header.lower()


def test_default_profile_is_a_lazy_module_attribute() -> None:
    assert thresholds.DEFAULT_PROFILE is default_profile()
    assert default_profile().name == "national"


def test_profiles_are_value_objects() -> None:
    text = Path(str(default_profile_path())).read_text(encoding="utf-8")
    a = parse_profile(tomllib.loads(text))
    b = parse_profile_text(text, source="copy.toml")
    assert a == b == default_profile()  # the source does not count
    assert "rules=8" in repr(a) and "national" in repr(a)


def test_required_forecasts_are_what_the_rules_ask_for() -> None:
    assert required_forecasts(default_profile()) == ({3.0, 6.0}, {12})
    assert required_horizon(default_profile()) == 12


def test_levels_are_ordered() -> None:
    assert Level.GREEN < Level.YELLOW < Level.ORANGE < Level.RED
    assert max([Level.YELLOW, Level.RED, Level.GREEN]) is Level.RED
    assert Level.RED.label() == "红色" and Level.RED.label("en") == "red"


# ---------------------------------------------------------------- the language
def test_forecast_payable_months_can_name_its_horizon_in_the_indicator() -> None:
    profile = parse_profile_text(
        BASE
        + """
[[rules]]
id = "forecast_yellow"
level = "yellow"
indicator = "forecast.payable_months_6"
op = "<"
value = 6
"""
    )
    assert profile.rule("forecast_yellow").when.key == ("forecast.payable_months", 6)
    assert required_horizon(profile) == 6


def test_nested_any_inside_all() -> None:
    profile = parse_profile_text(
        BASE
        + """
[[rules]]
id = "combined"
level = "yellow"
all = [
    { indicator = "ytd_surplus", op = "<", value = 0 },
    { any = [
        { indicator = "payable_months", op = "<", value = 9 },
        { indicator = "forecast.p_depletion", within = 12, op = ">=", value = 0.5 },
    ] },
]
"""
    )
    when = profile.rule("combined").when
    assert isinstance(when, Combination) and when.mode == "all"
    assert isinstance(when.parts[1], Combination) and when.parts[1].mode == "any"
    assert required_forecasts(profile) == (set(), set())  # p_depletion needs no thresholds
    assert required_horizon(profile) == 12


OVERRIDES = (
    BASE
    + """
[[rules]]
id = "deficit"
level = "yellow"
all = [
    { indicator = "ytd_surplus", op = "<", value = 0 },
    { indicator = "payable_months", op = "<", value = 9 },
]

[[rules.overrides]]
fund = "resident"
values = { payable_months = 8 }

[[rules.overrides]]
region = "3417*"
values = { payable_months = 7 }
for = 2

[[rules.overrides]]
region = "341702"
fund = "resident"
values = { payable_months = 6.5 }

[[rules]]
id = "retirees"
level = "yellow"
indicator = "retiree_ratio"
op = "<"
value = 2
funds = ["employee"]

[[rules.overrides]]
region = "34????"
enabled = false
"""
)


def payable_threshold(profile: ThresholdProfile, region: str, fund: str) -> float:
    [rule] = [r for r in profile.rules_for(region, fund) if r.id == "deficit"]
    assert isinstance(rule.when, Combination)
    return rule.when.parts[1].value  # type: ignore[union-attr]


def test_overrides_most_specific_wins() -> None:
    profile = parse_profile_text(OVERRIDES)
    assert payable_threshold(profile, "110101", "employee") == 9  # no override
    assert payable_threshold(profile, "110101", "resident") == 8  # fund
    assert payable_threshold(profile, "341721", "employee") == 7  # region glob
    # region glob and fund both match: the region glob (more specific) wins
    assert payable_threshold(profile, "341721", "resident") == 7
    # an override naming both fund and region beats either
    assert payable_threshold(profile, "341702", "resident") == 6.5
    # fields merge: `for` comes from the glob even where the value comes from elsewhere
    [rule] = [r for r in profile.rules_for("341702", "resident") if r.id == "deficit"]
    assert rule.for_months == 2


def test_rule_scopes_and_disabled_overrides() -> None:
    profile = parse_profile_text(OVERRIDES)
    ids = lambda region, fund: {r.id for r in profile.rules_for(region, fund)}  # noqa: E731
    assert "retirees" in ids("110101", "employee")
    assert "retirees" not in ids("110101", "resident")  # funds = ["employee"]
    assert "retirees" not in ids("341721", "employee")  # disabled for 34????


def test_resolved_rules_keep_the_line_of_the_override() -> None:
    profile = parse_profile_text(OVERRIDES)
    [rule] = [r for r in profile.rules_for("341702", "resident") if r.id == "deficit"]
    assert rule.when.parts[1].line == line_of(OVERRIDES, "[[rules.overrides]]", 2)  # type: ignore[union-attr]


# ---------------------------------------------------------------- refusals, with lines
UNKNOWN_INDICATOR = BASE + '[[rules]]\nid = "x"\nlevel = "yellow"\nindicator = "payabel_months"\n'
UNKNOWN_INDICATOR += 'op = "<"\nvalue = 9\n'


@pytest.mark.parametrize(
    ("text", "needle", "reason"),
    [
        (UNKNOWN_INDICATOR, 'indicator = "payabel_months"', "未知指标 'payabel_months'"),
        (BASE.replace("value = 6", 'value = "6"'), 'value = "6"', "value 应为数字，实为字符串"),
        (BASE.replace('op = "<"\nvalue = 9', 'op = "=<"\nvalue = 9'), '"=<"', "未知的比较符"),
        (BASE.replace('level = "yellow"', 'level = "amber"'), '"amber"', "未知级别 'amber'"),
        (BASE.replace("value = 6", "value = 10"), "value = 10", "比黄色阈值 < 9"),
        (
            BASE.replace('id = "orange_payable"', 'id = "red_payable"'),
            'id = "red_payable"',
            "规则编号 'red_payable' 重复（第 1 行已使用）",
        ),
        (BASE.replace("value = 3", "value = 3\nfor = 0"), "for = 0", "for 应为正整数"),
        (
            BASE.replace("value = 3", "value = 3\nclear_for = 1.5"),
            "clear_for = 1.5",
            "clear_for 应为正整数",
        ),
        (BASE.replace("value = 3", "value = 3\nvaule = 4"), "vaule = 4", "未知的键 'vaule'"),
    ],
    ids=[
        "unknown indicator",
        "value of the wrong type",
        "unknown operator",
        "unknown level",
        "orange less strict than yellow",
        "duplicate rule id",
        "for not positive",
        "clear_for not an integer",
        "unknown key",
    ],
)
def test_a_bad_rule_is_refused_with_its_line(
    tmp_path: Path, text: str, needle: str, reason: str
) -> None:
    error, path = refused(tmp_path, text)
    # the duplicate's line is the second occurrence
    occurrence = 1 if "重复" in reason else 0
    line = line_of(text, needle, occurrence)
    assert len(error.problems) == 1, str(error)
    assert error.problems[0].line == line
    assert f"{path}:{line}: " in str(error)
    assert reason in str(error)
    assert isinstance(error, MonitorError)


def test_orange_looser_than_yellow_names_both_rules(tmp_path: Path) -> None:
    error, _ = refused(tmp_path, BASE.replace("value = 6", "value = 10"))
    message = error.problems[0].message
    assert error.problems[0].rule_id == "orange_payable"
    assert "yellow_payable" in message and "第 18 行" in message


def test_a_stricter_order_with_or_equal_is_checked_too(tmp_path: Path) -> None:
    # orange `<= 9` fires at exactly 9, where yellow `< 9` does not
    text = BASE.replace('op = "<"\nvalue = 6', 'op = "<="\nvalue = 9')
    error, _ = refused(tmp_path, text)
    assert "更宽松" in str(error)
    # equal thresholds with the same operator are allowed
    parse_profile_text(BASE.replace("value = 6", "value = 9"))


def test_a_missing_level_is_refused(tmp_path: Path) -> None:
    text = BASE.replace('level = "orange"', 'level = "notice"')
    error, path = refused(tmp_path, text)
    assert "缺少级别的规则：orange（橙色）" in str(error)
    assert f"{path}: " in str(error)  # no line: nothing to point at


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    text = (
        BASE.replace("value = 3", 'value = "3"')
        .replace('level = "yellow"', 'level = "amber"')
        .replace("value = 6", "value = 6\nfor = -1")
    )
    error, path = refused(tmp_path, text)
    lines = sorted(p.line for p in error.problems if p.line)
    assert lines == [
        line_of(text, 'value = "3"'),
        line_of(text, "for = -1"),
        line_of(text, '"amber"'),
    ]
    # no "yellow is missing" on top: the unknown level may be the yellow rule
    assert "有 3 个问题" in str(error)
    assert str(error).count(path) == 4  # the heading and each problem


def test_forecast_parameters_are_checked(tmp_path: Path) -> None:
    text = (
        BASE
        + """
[[rules]]
id = "p_below"
level = "yellow"
indicator = "forecast.p_payable_below"
threshold = 6
op = ">="
value = 50

[[rules]]
id = "months"
level = "yellow"
indicator = "payable_months"
within = 12
op = "<"
value = 9
"""
    )
    error, _ = refused(tmp_path, text)
    messages = [p.message for p in error.problems]
    assert any("须写参数 within" in m for m in messages)
    assert any("是概率，value 应在 0 到 1 之间" in m for m in messages)
    assert any("payable_months 不接受参数 within" in m for m in messages)
    assert error.problems[-1].line == line_of(text, "within = 12")


def test_overrides_are_checked(tmp_path: Path) -> None:
    text = (
        BASE
        + """
[[rules.overrides]]
fund = "residents"
value = 8

[[rules.overrides]]
region = "3417"
value = 8

[[rules.overrides]]
value = 8
"""
    )
    error, _ = refused(tmp_path, text)
    by_line = {p.line: p.message for p in error.problems}
    assert "未知险种 'residents'" in by_line[line_of(text, 'fund = "residents"')]
    assert "通配符 '3417' 无效" in by_line[line_of(text, 'region = "3417"')]
    assert "须写 fund" in by_line[line_of(text, "[[rules.overrides]]", 2)]


def test_an_override_looser_than_yellow_is_refused(tmp_path: Path) -> None:
    text = BASE.replace(
        "value = 6\n", 'value = 6\n[[rules.overrides]]\nfund = "resident"\nvalue = 9.5\n'
    )
    error, _ = refused(tmp_path, text)
    [problem] = error.problems
    assert problem.line == line_of(text, "[[rules.overrides]]")
    assert "适用于 resident" in problem.message


def test_text_templates_are_checked(tmp_path: Path) -> None:
    text = BASE.replace("value = 3", 'value = 3\ntext_zh = "可支付月数 {valeu}"')
    error, _ = refused(tmp_path, text)
    assert error.problems[0].line == line_of(text, "text_zh")
    assert "未知的占位符 {valeu}" in str(error)


def test_toml_syntax_errors_carry_the_line(tmp_path: Path) -> None:
    error, path = refused(tmp_path, BASE + "value = = 3\n")
    assert error.problems[0].line == 19
    assert "TOML 语法错误" in str(error) and path in str(error)


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ThresholdProfileError, match="无法读取文件") as info:
        load_profile(tmp_path / "absent.toml")
    assert "absent.toml" in str(info.value)


def test_rules_written_as_inline_tables_are_located_by_id(tmp_path: Path) -> None:
    text = """\
rules = [
  { id = "r", level = "red", indicator = "payable_months", op = "<", value = 3 },
  { id = "o", level = "orange", indicator = "payable_months", op = "<", value = 6 },
  { id = "y", level = "yellow", indicator = "payable_monthz", op = "<", value = 9 },
]
"""
    error, _ = refused(tmp_path, text)
    assert error.problems[0].line == 4


def test_headers_inside_a_multi_line_string_are_not_rules(tmp_path: Path) -> None:
    # the profile's lines are found by the same TomlLines as config.toml's, which knows that
    # a `[[rules]]` written inside a """…""" string is text, not the first rule's header
    text = 'description = """\n[[rules]]\nan example\n"""\n' + BASE.replace(
        'indicator = "payable_months"', 'indicator = "payable_monthz"', 1
    )
    error, _ = refused(tmp_path, text)
    assert error.problems[0].line == line_of(text, "payable_monthz")


def test_parse_profile_without_text_has_no_lines() -> None:
    with pytest.raises(ThresholdProfileError) as info:
        parse_profile({"rules": [{"id": "r", "level": "red"}]})
    assert all(p.line is None for p in info.value.problems)
    assert "缺少条件" in str(info.value)
