"""Issue 16: the same fact reads the same everywhere.

First the vocabulary's forms (monitor.core.vocabulary) for the facts the issue names — a
probability near 0 or 1, a figure that rounds to zero, payable months below zero, the
forecast's central value, the expected month of depletion — then the demo city end to end:
for its red, orange and yellow funds, the payable months, probabilities and words of
`evaluate --format json`, the alert e-mail, the bulletin HTML and `fundmon forecast` agree.
"""

from __future__ import annotations

import math

import pytest

from monitor.core import vocabulary as v


# ---------------------------------------------------------------- the forms
def test_a_probability_is_never_a_false_certainty() -> None:
    assert v.probability(0.003) == "<1%"  # the bulletin said <1%, mail and forecast 0%
    assert v.probability(0.997) == ">99%"
    assert v.probability(0.0) == "0%" and v.probability(1.0) == "100%"  # exactly: no path/all


def test_a_figure_that_rounds_to_zero_has_no_sign() -> None:
    assert v.decimal(-0.04) == "0.0" and v.decimal(-0.04, signed=True) == "0.0"
    assert v.decimal(0.04, signed=True) == "0.0" and v.decimal(-0.06, signed=True) == "-0.1"
    assert v.percent(-0.04) == "0.0%" and v.growth(-0.04) == "0.0%"
    assert v.points(-0.01) == "0.0 个百分点"
    assert v.months_text(0.04) == "0.0 个月"  # "-0.0 个月" was shown
    assert "-0.0" not in v.months_text(-0.04) + v.payable(-0.04) + v.payable(-0.0)


@pytest.mark.parametrize(("lang", "word"), [("zh", "已耗尽"), ("en", "exhausted")])
def test_payable_months_below_zero_say_the_balance_is_exhausted(lang: str, word: str) -> None:
    assert v.months_text(-0.6, lang) == word and v.payable(-2.8, lang) == word
    assert v.payable(2.43, lang) == "2.4" and v.payable(0.0, lang) == "0.0"
    assert v.payable_band(1.8, 2.0) == "1.8～2.0" and v.payable_band(1.8, 2.0, "en") == "1.8 to 2.0"
    assert v.payable_band(-0.4, 0.6, lang).startswith(word)
    assert v.payable_band(-1.1, -0.1, lang) == word
    assert v.payable(math.nan, lang) == v.payable_band(None, 1, lang) == v.MISSING


def test_the_forecast_has_one_central_value_with_one_name() -> None:
    # the value the rules classify on (forecast.payable_months) is the paths' mean
    assert v.FORECAST_CENTER["payable"] == "payable_mean"
    assert v.forecast_center_label() == "预测均值"
    assert v.forecast_center_label("en") == "forecast mean"


def test_the_month_of_depletion_only_beside_a_probability_above_zero() -> None:
    # 青阳县 employee in the demo: 0% within 12 months, 6% within 24, median month 2026-09
    d = {"p6": 0.0, "p12": 0.0, "p_h": 0.058, "expected_month": "2026-09"}
    assert v.depletion_spans(d, 24) == [(6, 0.0), (12, 0.0), (24, 0.058)]
    assert v.depletion_month(d) == "2026-09"  # shown beside the 24-month 6%
    assert v.depletion_month({**d, "p_h": 0.0}) is None
    assert v.depletion_spans(d, 12) == [(6, 0.0), (12, 0.0)]
