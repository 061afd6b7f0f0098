"""Classification against threshold profiles: levels, reasons, streaks, hysteresis, notices."""

from __future__ import annotations

import json
import math

import pytest

from monitor.core.classify import (
    Decision,
    State,
    classify_month,
    classify_series,
    explain,
    initial_state,
)
from monitor.core.indicators import DATA_MISSING, SHORT_HISTORY
from monitor.core.thresholds import Level, ThresholdProfile, default_profile, parse_profile_text

REGION, FUND = "341700", "employee"
BASE = """\
[[rules]]
id = "payable_red"
level = "red"
indicator = "payable_months"
op = "<"
value = 3
[[rules]]
id = "payable_orange"
level = "orange"
indicator = "payable_months"
op = "<"
value = 6
[[rules]]
id = "payable_yellow"
level = "yellow"
indicator = "payable_months"
op = "<"
value = 9
"""


def one(
    profile: ThresholdProfile, values: dict, *, region: str = REGION, fund: str = FUND
) -> Decision:
    decision, _ = classify_month(profile, initial_state(region, fund), values, month="2024-05")
    return decision


def series(profile: ThresholdProfile, values: list[dict | None], **kw: str) -> list[Decision]:
    months = [f"{2024 + i // 12}-{i % 12 + 1:02d}" for i in range(len(values))]
    decisions, _ = classify_series(
        profile, kw.get("region", REGION), kw.get("fund", FUND), zip(months, values, strict=True)
    )
    return decisions


def levels(decisions: list[Decision]) -> list[str]:
    return [d.level.value for d in decisions]


def pm(*values: float) -> list[dict]:
    return [{"payable_months": v} for v in values]


# ---------------------------------------------------------------- DESIGN's examples
SURPLUS = {"ytd_surplus": 12_000_000.0}
DEFICIT = {"ytd_surplus": -3_500_000.0}


def test_payable_months_below_three_is_red_with_the_reason_in_words() -> None:
    d = one(default_profile(), {"payable_months": 2.7, **SURPLUS})
    assert d.level is Level.RED
    top = d.reasons[0]
    assert top.text() == "可支付月数 2.7 个月，低于红色阈值 3 个月"
    assert top.text("en") == "Payable months at 2.7 months, below the red threshold of 3 months"
    assert (top.rule_id, top.indicator, top.value, top.op, top.threshold, top.level) == (
        "payable_red",
        "payable_months",
        2.7,
        "<",
        3.0,
        Level.RED,
    )
    # the orange rule fires as well and is listed after the red one
    assert [r.level for r in d.reasons] == [Level.RED, Level.ORANGE]


@pytest.mark.parametrize(
    ("values", "level"),
    [
        ({"payable_months": 5.0, **SURPLUS}, Level.ORANGE),
        ({"payable_months": 8.0, **DEFICIT}, Level.YELLOW),
        ({"payable_months": 8.0, **SURPLUS}, Level.GREEN),
        ({"payable_months": 16.0, **SURPLUS}, Level.GREEN),
    ],
    ids=["5 months", "8 months with a deficit", "8 months without", "16 months"],
)
def test_design_examples_on_the_national_profile(values: dict, level: Level) -> None:
    assert one(default_profile(), values).level is level


def test_a_year_to_date_deficit_with_eight_months_is_yellow_in_words() -> None:
    d = one(default_profile(), {"payable_months": 8.2, **DEFICIT})
    [reason] = d.reasons
    assert reason.text() == "当年累计收支赤字，且可支付月数 8.2 个月，低于黄色阈值 9 个月"
    assert reason.indicator == "payable_months"  # the headline condition, listed last
    assert [c.indicator for c in reason.conditions] == ["ytd_surplus", "payable_months"]


def test_excess_balance_is_a_notice_without_colour() -> None:
    d = one(default_profile(), {"payable_months": 16.0, **SURPLUS})
    assert d.level is Level.GREEN and d.reasons == ()
    [notice] = d.notices
    assert notice.label() == "结余过多" and notice.label("en") == "excess balance"
    assert notice.text() == "可支付月数 16.0 个月，高于提示阈值 15 个月"


def test_forecast_probability_of_depletion_is_red() -> None:
    values = {"payable_months": 12.0, **SURPLUS, ("forecast.p_depletion", 12): 0.63}
    d = one(default_profile(), values)
    assert d.level is Level.RED
    assert d.reasons[0].text() == "预计 12 个月内基金耗尽的概率为 63%，达到红色阈值 50%"
    assert d.reasons[0].params == (("within", 12),)


def test_forecast_probability_of_falling_below_a_threshold_is_read_by_its_key() -> None:
    values = {
        "payable_months": 12.0,
        **SURPLUS,
        ("forecast.p_payable_below", 3, 12): 0.55,  # an int threshold finds the float key
        ("forecast.p_payable_below", 6.0, 12): 0.9,
        ("forecast.p_depletion", 12): 0.1,
        "growth_gap": 1.0,
    }
    d = one(default_profile(), values)
    assert d.level is Level.ORANGE
    assert [r.rule_id for r in d.reasons] == [
        "payable_below_3_forecast_orange",
        "payable_below_6_forecast_yellow",
    ]
    assert d.reasons[0].text() == (
        "预计 12 个月内可支付月数低于 3 个月的概率为 55%，达到橙色阈值 50%"
    )
    assert not [n for n in d.notes if n.code == "not_evaluable"]


def test_any_rule_names_only_the_conditions_that_hold() -> None:
    profile = parse_profile_text(
        BASE
        + """
[[rules]]
id = "either"
level = "red"
any = [
    { indicator = "ytd_surplus_rate", op = "<", value = -10 },
    { indicator = "forecast.p_depletion", within = 6, op = ">=", value = 0.3 },
]
"""
    )
    d = one(profile, {"payable_months": 12.0, "ytd_surplus_rate": -12.5})
    assert d.level is Level.RED  # the missing forecast does not matter: one part holds
    assert d.reasons[0].text() == "当年累计结余率 -12.5%，低于红色阈值 -10%"
    both = one(
        profile, {"payable_months": 12, "ytd_surplus_rate": -12.5, ("forecast.p_depletion", 6): 0.4}
    )
    assert both.reasons[0].text() == (
        "当年累计结余率 -12.5%，低于红色阈值 -10%；"
        "预计 6 个月内基金耗尽的概率为 40%，达到红色阈值 30%"
    )


def test_amounts_in_texts_are_in_wan_and_yi_yuan() -> None:
    profile = parse_profile_text(
        BASE
        + """
[[rules]]
id = "big_deficit"
level = "orange"
indicator = "ytd_surplus"
op = "<"
value = -50000000
"""
    )
    d = one(profile, {"payable_months": 12.0, "ytd_surplus": -123_456_789.0})
    assert d.reasons[0].text() == "当年累计结余 -1.23亿元，低于橙色阈值 -5,000.00万元"
    assert d.reasons[0].text("en") == (
        "Year-to-date surplus at CNY -123.46 m, below the orange threshold of CNY -50.00 m"
    )


def test_a_value_rounding_to_the_threshold_is_shown_with_more_digits() -> None:
    d = one(default_profile(), {"payable_months": 2.96, **SURPLUS})
    assert d.reasons[0].text() == "可支付月数 2.96 个月，低于红色阈值 3 个月"


# ---------------------------------------------------------------- for: consecutive months
def test_growth_gap_fires_only_on_the_third_consecutive_month() -> None:
    months = [{"payable_months": 12.0, **SURPLUS, "growth_gap": g} for g in (5.6, 5.8, 5.6, 6.1)]
    decisions = series(default_profile(), months)
    assert levels(decisions) == ["green", "green", "yellow", "yellow"]
    [pending] = [n for n in decisions[1].notes if n.code == "pending"]
    assert (
        pending.text() == "规则 growth_gap_yellow：条件已连续 2 个月成立，需连续 3 个月才触发黄色"
    )
    assert decisions[2].reasons[0].text() == "支出增速高于收入增速 5.6 个百分点，已连续 3 个月"
    assert decisions[3].reasons[0].text("en") == (
        "Expenditure growth has exceeded income growth by 6.1 pp for 4 months in a row"
    )


def test_an_interrupted_streak_starts_again() -> None:
    gaps = (5.6, 5.8, 4.0, 5.6, 5.6, 5.6)
    months = [{"payable_months": 12.0, **SURPLUS, "growth_gap": g} for g in gaps]
    assert levels(series(default_profile(), months)) == ["green"] * 5 + ["yellow"]


# ---------------------------------------------------------------- clear_for: hysteresis
def test_a_fund_oscillating_around_three_months_stays_red() -> None:
    decisions = series(parse_profile_text(BASE), pm(2.9, 3.1, 2.9, 3.1, 2.9, 3.5, 3.6))
    assert levels(decisions) == ["red"] * 6 + ["orange"]
    held = decisions[1].reasons[0]
    assert held.held and held.rule_id == "payable_red"
    assert held.text().startswith("红色预警保持中：条件已连续 1 个月解除，需连续 2 个月")
    assert (
        held.text() == "红色预警保持中：条件已连续 1 个月解除，需连续 2 个月（可支付月数 3.1 个月）"
    )
    assert decisions[1].reasons[1].text() == "可支付月数 3.1 个月，低于橙色阈值 6 个月"
    assert decisions[-1].previous_level is Level.RED and decisions[-1].changed


def test_clear_for_from_the_profile_and_its_overrides() -> None:
    text = BASE.replace(
        "value = 3\n",
        'value = 3\nclear_for = 3\n[[rules.overrides]]\nfund = "resident"\nclear_for = 1\n',
    )
    text += '[[rules.overrides]]\nfund = "resident"\nvalue = 8.5\n'
    profile = parse_profile_text(text)
    assert levels(series(profile, pm(2.9, 3.5, 3.6, 3.7))) == ["red", "red", "red", "orange"]
    # the resident override lowers clear_for to 1 and changes the yellow threshold
    # (orange keeps the default clear_for 2)
    assert levels(series(profile, pm(2.9, 3.5, 6.5, 6.6), fund="resident")) == [
        "red",
        "orange",
        "orange",
        "yellow",
    ]
    assert levels(series(profile, pm(8.7), fund="employee")) == ["yellow"]
    assert levels(series(profile, pm(8.7), fund="resident")) == ["green"]  # < 8.5


def test_rising_needs_no_wait() -> None:
    assert levels(series(parse_profile_text(BASE), pm(10, 8, 5, 2))) == [
        "green",
        "yellow",
        "orange",
        "red",
    ]


def test_overrides_by_region_glob_in_classification() -> None:
    text = BASE.replace(
        "value = 3\n",
        'value = 3\n[[rules.overrides]]\nregion = "3417*"\nvalue = 4\n'
        '[[rules.overrides]]\nregion = "3417*"\nfund = "resident"\nvalue = 5\n',
    )
    profile = parse_profile_text(text)
    assert one(profile, {"payable_months": 3.5}, region="341702").level is Level.RED
    assert one(profile, {"payable_months": 3.5}, region="110101").level is Level.ORANGE
    d = one(profile, {"payable_months": 4.5}, region="341721", fund="resident")
    assert d.level is Level.RED
    assert d.reasons[0].text() == "可支付月数 4.5 个月，低于红色阈值 5 个月"


# ---------------------------------------------------------------- missing values and months
def test_a_missing_value_neither_fires_nor_counts_as_clear() -> None:
    months = [*pm(2.9), {"payable_months": math.nan}, {}, *pm(3.5, 3.6)]
    decisions = series(parse_profile_text(BASE), months)
    assert levels(decisions) == ["red", "red", "red", "red", "orange"]
    held = decisions[1].reasons[0]
    assert held.held and held.text() == "红色预警保持中：本月无法评估（缺少可支付月数）"
    assert "规则 payable_red 本月无法评估：缺少可支付月数" in [n.text() for n in decisions[1].notes]
    assert "条件已连续 1 个月解除" in decisions[3].reasons[0].text()


def test_a_missing_value_does_not_break_a_streak_either() -> None:
    months = [{"payable_months": 12.0, **SURPLUS, "growth_gap": g} for g in (6, None, 6, 6)]
    assert levels(series(default_profile(), months)) == ["green", "green", "green", "yellow"]


def test_a_month_without_data_keeps_the_level_with_a_notice() -> None:
    decisions = series(parse_profile_text(BASE), [*pm(2.5), {DATA_MISSING: True}, None, *pm(3.4)])
    assert levels(decisions) == ["red", "red", "red", "red"]
    missing = decisions[1]
    assert missing.data_missing
    assert missing.notices[0].id == "data_missing"
    assert missing.notices[0].label() == "数据缺失"
    assert missing.notices[0].text() == "2024年2月无数据，保持上月级别（红色）"
    assert missing.notices[0].label("en") == "data missing"
    assert missing.reasons[0].text() == "红色预警保持中：本月无数据"
    assert not [n for n in missing.notes if n.code == "not_evaluable"]  # one notice is enough


def test_a_first_month_without_data_is_not_silently_green() -> None:
    [d] = series(parse_profile_text(BASE), [None])
    assert d.level is Level.GREEN and d.data_missing
    assert [n.id for n in d.notices] == ["data_missing"]


def test_short_history_is_noted() -> None:
    d = one(parse_profile_text(BASE), {"payable_months": 10.0, SHORT_HISTORY: True})
    assert [n.code for n in d.notes] == ["short_history"]


# ---------------------------------------------------------------- continuing from a state
def test_classifying_month_by_month_from_stored_state_equals_the_series() -> None:
    profile = default_profile()
    months = [
        ("2024-01", {"payable_months": 2.9, **SURPLUS, "growth_gap": 6.0}),
        ("2024-02", {"payable_months": 3.1, **SURPLUS, "growth_gap": 6.0}),
        ("2024-03", None),
        ("2024-04", {"payable_months": 3.5, **SURPLUS, "growth_gap": 6.0}),
        ("2024-05", {"payable_months": 3.6, **DEFICIT, "growth_gap": 2.0}),
    ]
    expected, final = classify_series(profile, REGION, FUND, months)
    stored = initial_state(REGION, FUND).to_dict()
    got = []
    for month, values in months:
        decision, state = classify_month(profile, stored, values, month=month)
        stored = json.loads(json.dumps(state.to_dict()))  # what the evaluator keeps
        got.append(decision)
    assert got == expected
    assert State.from_dict(stored) == final
    assert stored["month"] == "2024-05" and stored["level"] == "orange"
    assert stored["rules"]["payable_orange"] == {"streak": 5 - 1, "clear": 0, "active": True}


def test_replaying_without_texts_gives_the_same_levels_and_state() -> None:
    """The evaluator replays warm-up months for their state only (explain=False)."""
    profile = default_profile()
    values = [
        {"payable_months": v, **(DEFICIT if i % 3 else SURPLUS), "growth_gap": 6.0 - i % 5}
        for i, v in enumerate([9.5, 8.1, 5.2, 2.9, 2.8, 3.4, 6.5, 7.0, 9.9, 10.2, 4.0, 3.9])
    ]
    values[5] = None  # a month without data
    values[8] = {"payable_months": None, **SURPLUS}  # not evaluable
    months = [(f"2024-{i + 1:02d}", v) for i, v in enumerate(values)]
    full, full_state = classify_series(profile, REGION, FUND, months)
    bare, bare_state = classify_series(profile, REGION, FUND, months, explain=False)
    assert levels(bare) == levels(full) and len(set(levels(full))) >= 3
    assert bare_state == full_state
    assert not any(d.reasons or d.notices or d.notes for d in bare)


def test_a_month_already_classified_is_refused() -> None:
    _, state = classify_month(default_profile(), initial_state(REGION, FUND), {}, month="2024-05")
    with pytest.raises(ValueError, match="already at 2024-05"):
        classify_month(default_profile(), state, {}, month="2024-05")
    with pytest.raises(ValueError, match="belongs to"):
        classify_series(default_profile(), "341702", FUND, [], state=state)


def test_decisions_serialise_to_json() -> None:
    values = {"payable_months": 2.7, **DEFICIT, "forecast.months_to_ytd_deficit": math.inf}
    d = one(default_profile(), values)
    data = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    assert data["level"] == "red"
    assert data["reasons"][0] == {
        "rule_id": "payable_red",
        "indicator": "payable_months",
        "params": {},
        "value": 2.7,
        "comparison": "<",
        "threshold": 3.0,
        "level": "red",
        "text": "可支付月数 2.7 个月，低于红色阈值 3 个月",
        "held": False,
        "streak": 1,
        "conditions": [
            {
                "indicator": "payable_months",
                "params": {},
                "value": 2.7,
                "comparison": "<",
                "threshold": 3.0,
                "holds": True,
            }
        ],
    }
    assert json.loads(json.dumps(d.to_dict("en")))["reasons"][0]["text"].startswith("Payable")


# ---------------------------------------------------------------- explain
def explained(values: dict) -> dict[str, object]:
    return {row.rule_id: row for row in explain(default_profile(), REGION, FUND, values)}


def test_explain_says_how_far_each_rule_is_from_firing() -> None:
    rows = explained(
        {
            "payable_months": 6.4,
            **SURPLUS,
            "growth_gap": 5.6,
            ("forecast.p_depletion", 12): 0.38,
            ("forecast.p_payable_below", 3.0, 12): 0.1,
            ("forecast.p_payable_below", 6.0, 12): 0.5,
        }
    )
    orange = rows["payable_orange"]
    assert orange.fires is False and orange.distance == pytest.approx(0.4)
    assert orange.text() == "再下降 0.4 个月触发橙色"
    assert orange.text("en") == "triggers orange after a further fall of 0.4 months"
    red = rows["depletion_red"]
    assert red.text() == "概率再上升 12 个百分点触发红色"
    assert red.text("en") == "triggers red after a further rise of 12 pp in the probability"
    assert rows["payable_below_6_forecast_yellow"].text() == "已触发黄色"
    assert rows["growth_gap_yellow"].text() == "条件已满足，连续 3 个月后触发黄色"
    deficit = rows["payable_deficit_yellow"]
    assert deficit.text() == "当年累计结余再减少 1,200.00万元触发黄色"
    assert deficit.distance == pytest.approx(12_000_000)
    assert rows["payable_excess_notice"].text() == "再上升 8.6 个月触发提示"


def test_explain_names_what_is_missing() -> None:
    rows = explained({"payable_months": 7.0})
    assert rows["depletion_red"].fires is None
    assert rows["depletion_red"].text() == "缺少预计 12 个月内基金耗尽的概率，无法评估"
    assert rows["depletion_red"].text("en") == (
        "not evaluable: probability of depletion within 12 months missing"
    )
    # all(): ytd_surplus is missing, payable months already holds
    assert rows["payable_deficit_yellow"].fires is None
    assert json.dumps([r.to_dict() for r in rows.values()])  # JSON-ready
