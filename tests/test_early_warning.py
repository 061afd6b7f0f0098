"""How far to trust a probability: the scores (monitor.core.calibration) on hand-made cases with
known answers, the early-warning benchmark's replay on a small stress world, and the
reliability table of the bulletin's method section (monitor.render.reliability)."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from monitor.core.calibration import (
    breach_leads,
    brier_score,
    brier_skill,
    falls_below,
    outcome_within,
    raises_without_breach,
    reliability_bins,
)
from monitor.core.thresholds import Level
from monitor.render.reliability import load_reliability, reliability_view, strays
from monitor.render.templating import environment

ROOT = Path(__file__).resolve().parents[1]
NAN = math.nan


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "early_warning", ROOT / "benchmarks" / "early_warning.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["early_warning"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- Brier
def test_brier_score_known_values() -> None:
    assert brier_score([1.0, 0.0], [True, False]) == 0.0
    assert brier_score([0.0, 1.0], [True, False]) == 1.0
    assert brier_score([0.5] * 4, [True, False, True, False]) == 0.25
    assert brier_score([0.8, 0.1], [True, True]) == pytest.approx((0.04 + 0.81) / 2)
    # climatology (the base rate b for every forecast) scores b(1 − b)
    y = [True] * 3 + [False] * 7
    assert brier_score([0.3] * 10, y) == pytest.approx(0.3 * 0.7)
    assert math.isnan(brier_score([], []))


def test_brier_skill() -> None:
    assert brier_skill(0.05, 0.1) == pytest.approx(0.5)
    assert brier_skill(0.1, 0.1) == 0.0
    assert brier_skill(0.2, 0.1) == pytest.approx(-1.0)
    assert math.isnan(brier_skill(0.0, 0.0))  # nothing to beat


def test_scores_refuse_what_is_not_a_probability() -> None:
    with pytest.raises(ValueError):
        brier_score([0.5], [True, False])
    with pytest.raises(ValueError):
        brier_score([1.2], [True])
    with pytest.raises(ValueError):
        reliability_bins([NAN], [True])


# ---------------------------------------------------------------- reliability
def test_reliability_bins_known_values() -> None:
    p = [0.05, 0.15, 0.12, 0.3, 1.0, 0.95, 0.1]
    y = [False, True, False, False, True, True, False]
    bins = reliability_bins(p, y)
    assert len(bins) == 10
    assert [(b.lo, b.hi) for b in bins[:2]] == [(0.0, 0.1), (0.1, 0.2)]
    assert [b.n for b in bins] == [1, 3, 0, 1, 0, 0, 0, 0, 0, 2]
    assert bins[0].predicted == pytest.approx(0.05) and bins[0].observed == 0.0
    # 0.1 is the lower edge of the second bin
    assert bins[1].predicted == pytest.approx((0.15 + 0.12 + 0.1) / 3)
    assert bins[1].observed == pytest.approx(1 / 3)
    assert bins[2].predicted is None and bins[2].observed is None
    # 1.0 belongs to the last bin
    assert bins[9].predicted == pytest.approx(0.975) and bins[9].observed == 1.0
    assert sum(b.n for b in bins) == len(p)


def test_a_calibrated_forecaster_reads_on_the_diagonal() -> None:
    # in the 30 % bin, 3 of 10 happened; in the 80 % bin, 8 of 10
    p = [0.3] * 10 + [0.8] * 10
    y = [True] * 3 + [False] * 7 + [True] * 8 + [False] * 2
    bins = reliability_bins(p, y, bins=5)
    assert (bins[1].predicted, bins[1].observed) == (pytest.approx(0.3), pytest.approx(0.3))
    assert (bins[4].predicted, bins[4].observed) == (pytest.approx(0.8), pytest.approx(0.8))


# ---------------------------------------------------------------- outcomes and leads
def test_outcome_within_the_next_months() -> None:
    payable = [5.0, 4.0, 2.9, 5.0]
    assert outcome_within(payable, 0, 2, 3.0) is True
    assert outcome_within(payable, 0, 1, 3.0) is False
    assert outcome_within(payable, 2, 1, 3.0) is False  # t itself does not count
    assert outcome_within(payable, 2, 2, 3.0) is None  # not enough future: not judged


def test_falls_below() -> None:
    payable = [2.0, 5.0, 2.0, 2.5, 4.0, 1.0, NAN, 2.0, 3.0]
    # month 0 is already below (no fall); a fall after a missing month is not judged
    assert falls_below(payable, 3.0) == [2, 5]


def test_breach_leads_count_the_unbroken_warning_before_each_fall() -> None:
    payable = [9, 7, 5, 4, 2.5, 5, 4, 2, 8, 4, 2]
    warned = [False, True, True, True, True, False, False, True, True, True, True]
    # fall at 4: warned 3, 2, 1 before it → 3; fall at 7: not warned at 6 → 0;
    # fall at 10: warned at 9 and 8 → 2
    assert breach_leads(warned, payable, 3.0) == [3, 0, 2]
    # a warning up since the first month counts from there (a lower bound)
    assert breach_leads([True, True, True], [5, 4, 2], 3.0) == [2]
    with pytest.raises(ValueError):
        breach_leads([True], [5, 4], 3.0)


def test_raises_without_breach() -> None:
    payable = [8.0] * 30
    payable[20] = 2.0
    warned = [False] * 30
    warned[2] = True  # raised at 2: nothing below 3 by 14 → unfollowed
    warned[10] = warned[11] = True  # raised at 10: the fall at 20 is within 12 → followed
    warned[20] = True  # raised by the breach itself: not an early warning
    warned[25] = True  # raised at 25: fewer than 12 months follow → not judged
    assert raises_without_breach(warned, payable, 3.0, 12) == (2, 1)


# ---------------------------------------------------------------- the benchmark's scoring
def fund(bench: ModuleType, payable: list[float], p: list[float | None], **levels: Any) -> Any:
    n = len(payable)
    return bench.FundReplay(
        key=("000000", "resident"),
        months=[f"2020-{i + 1:02d}" if i < 12 else f"2021-{i - 11:02d}" for i in range(n)],
        payable=payable,
        change6=[0.0] * n,
        p=p,
        engine=levels.get("engine", [Level.GREEN] * n),
        current=levels.get("current", [Level.GREEN] * n),
    )


def test_scored_months_need_twelve_months_of_future(bench: ModuleType) -> None:
    payable = [8.0] * 14 + [2.0] * 6
    p = [0.1] * 5 + [None] + [0.9] * 14
    scored, missing = bench.scored_months([fund(bench, payable, p)])
    # months 0..7 have 12 months after them; month 5 had no forecast; from month 2 on the
    # fall at 14 is within 12 months
    assert len(scored.y) == 7 and missing == 1
    assert scored.y == [False, False, True, True, True, True, True]
    assert scored.p == [0.1] * 5 + [0.9] * 2


def test_warning_table_engine_against_current_values(bench: ModuleType) -> None:
    payable = [8.0, 7.0, 5.0, 4.0, 2.0] + [2.0] * 15
    o, g, r = Level.ORANGE, Level.GREEN, Level.RED
    engine = [g, o, o, o, r] + [r] * 15
    current = [g, g, o, o, r] + [r] * 15
    table = bench.warning_table([fund(bench, payable, [0.0] * 20, engine=engine, current=current)])
    assert table["engine"]["falls"] == 1 and table["engine"]["median_lead"] == 3
    assert table["engine"]["share_3m"] == 1.0
    assert table["engine"]["first_falls"] == 1 and table["engine"]["first_median_lead"] == 3
    assert table["current"]["median_lead"] == 2 and table["current"]["share_3m"] == 0.0
    assert table["engine"]["orange_raises"] == 1 and table["engine"]["orange_unfollowed"] == 0
    assert table["engine"]["early_reds"] == 0  # red came with the breach


def test_current_value_model_and_brier_table(bench: ModuleType) -> None:
    payable = [float(x) for x in range(1, 41)] * 2
    y = [x < 12 for x in payable]
    y[3] = False  # not perfectly separable
    y[60] = True
    scored = bench.Scored(p=[0.5] * 80, y=y, payable=payable, change6=[0.0] * 80)
    model, _ = bench.current_value_model(scored)
    assert len(model) == 80 and all(0 <= x <= 1 for x in model)
    assert model[0] > 0.5 > model[39]  # low payable months, high probability
    table = bench.brier_table(scored, model)
    assert table["all"]["current_value"] < table["all"]["climatology"]
    base = sum(y) / 80
    assert table["all"]["climatology"] == pytest.approx(base * (1 - base))
    assert table["at_or_above_3"]["n"] == 76


def test_replay_scores_every_month_with_a_future(bench: ModuleType, tmp_path: Path) -> None:
    """The benchmark end to end on a small stress world: one county's two funds and their city,
    each month forecast from the data up to it."""
    from monitor.demo.data import stress_province

    world = stress_province(1, 1, start="2019-01", end="2022-06", seed=3)
    url = bench.build_store(world.ledger, tmp_path, "small")
    funds, seconds = bench.replay_world(url, paths=100, workers=1)
    assert len(funds) == 4  # county and city, two funds
    assert seconds["failed"] == 0
    for f in funds:
        assert f.months[0] == "2021-01" and f.months[-1] == "2022-06"
        assert all(p is not None and 0 <= p <= 1 for p in f.p)
        assert len(f.engine) == len(f.current) == len(f.months)
    scored, missing = bench.scored_months(funds)
    assert missing == 0 and len(scored.y) == 4 * 6  # 2021-01 .. 2021-06 have a year after


# ---------------------------------------------------------------- the bulletin's table
def test_committed_figures_are_the_benchmarks() -> None:
    data = load_reliability()
    assert data is not None, (
        "monitor/render/reliability.json: run benchmarks/early_warning.py --write"
    )
    assert data["command"].startswith("python benchmarks/early_warning.py --write")
    assert {w["world"] for w in data["worlds"]} == {"city", "stress"}
    for world in data["worlds"]:
        assert len(world["bins"]) == 10
        assert set(world["brier"]) >= {"engine", "current_value", "climatology"}
        assert sum(b["n"] for b in world["bins"]) == world["brier"]["n"]


def sample() -> dict[str, Any]:
    bins = [
        {"lo": i / 10, "hi": (i + 1) / 10, "predicted": i / 10 + 0.05, "observed": i / 10, "n": 10}
        for i in range(10)
    ]
    bins[5] = {"lo": 0.5, "hi": 0.6, "predicted": None, "observed": None, "n": 0}
    return {
        "date": "2026-12-05",
        "command": "python benchmarks/early_warning.py --write",
        "worlds": [
            {
                "world": "stress",
                "bins": bins,
                "brier": {"engine": 0.0351, "current_value": 0.0355, "climatology": 0.1237},
            }
        ],
    }


def test_reliability_view_rows() -> None:
    view = reliability_view("zh", sample())
    assert view is not None
    assert view.worlds == ("压力测试省",)
    assert view.rows[3].label == "30–40%"
    cell = view.rows[3].cells[0]
    assert (cell.predicted, cell.observed, cell.count) == ("35%", "30%", "10")
    assert view.rows[5].cells[0].predicted == "—"
    assert "0.0351" in view.brier[0] and "0.1237" in view.brier[0]
    assert "说 30% 的时候，实际发生约 30%" in view.lead
    assert "2026-12-05" in view.source
    # every sample bin holds 10 forecasts: too few to call one out
    assert view.caveats == (
        "压力测试省：30 个月以上的档，实际发生率与平均预测都在 5 个百分点或抽样误差两倍之内。",
    )
    crowded = sample()
    for b in crowded["worlds"][0]["bins"]:
        b["n"] = 40 if b["n"] else 0
    crowded["worlds"][0]["bins"][2].update(predicted=0.25, observed=0.5)
    stray = reliability_view("zh", crowded)
    assert stray is not None
    assert stray.caveats[0].endswith("——说 25% 时实际发生 50%（40 个月）。")
    english = reliability_view("en", sample())
    assert english is not None and english.worlds == ("stress province",)
    assert reliability_view("zh", {"worlds": []}) is None


def test_a_bin_strays_beyond_chance_only() -> None:
    # 217 forecasts of 15 %: 6 % happening is 9 points off, 3.7 sampling errors
    assert strays(0.15, 0.06, 217)
    # 62 forecasts of 44 %: 50 % is 6 points off but within twice the sampling error (12.6)
    assert not strays(0.44, 0.50, 62)
    # 2,602 forecasts of 1 %: 0.3 % is beyond chance but less than 5 points: no matter
    assert not strays(0.01, 0.003, 2602)
    assert not strays(0.3, 0.9, 29)  # too few forecasts to say


def test_reliability_file_missing_or_broken_gives_no_table(tmp_path: Path) -> None:
    assert load_reliability(tmp_path / "none.json") is None
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    assert load_reliability(broken) is None
    good = tmp_path / "good.json"
    good.write_text(json.dumps(sample()), encoding="utf-8")
    assert load_reliability(good) == sample()


def method(reliability: Any) -> SimpleNamespace:
    return SimpleNamespace(formulas=(), rules=(), forecast=(), accuracy=(), reliability=reliability)


def render_method(m: Any) -> str:
    t = {
        "formulas": "计算公式",
        "rules": "规则",
        "lparen": "（",
        "rparen": "）",
        "forecast_method": "预测方法",
        "accuracy": "准确度",
    }
    return environment().get_template("_method.html").render(method=m, t=t, profile="national")


def test_method_section_shows_the_table() -> None:
    html = render_method(method(reliability_view("zh", sample())))
    assert "预警概率的可靠性" in html
    assert "说 30% 的时候，实际发生约 30%" in html
    assert html.count("<tr><td") == 10
    assert '<td data-label="压力测试省 实际发生">30%</td>' in html


def test_method_section_with_the_committed_figures_and_without_any() -> None:
    html = render_method(method(reliability_view("zh")))
    assert "示范市" in html and "压力测试省" in html
    # a context made before the table existed (no `reliability`) still renders
    bare = SimpleNamespace(formulas=(), rules=(), forecast=(), accuracy=())
    assert "可靠性" not in render_method(bare)
    assert "可靠性" not in render_method(method(None))


def test_the_demo_bulletin_method_section_carries_the_table(tmp_path: Path) -> None:
    """A bulletin of the demo city, rendered whole: its method section shows the committed
    table (through `method.reliability`, which render/bulletin.py's MethodView carries once
    its `_method` passes `reliability_view(lang)`; until then the test adds it itself)."""
    import dataclasses
    import datetime as dt

    from monitor.config.bulletin import settings_from_config
    from monitor.config.settings import Config, ForecastSettings
    from monitor.demo.data import demo_city
    from monitor.demo.files import write_canonical_csv
    from monitor.ledger.importer import import_files
    from monitor.pipeline.bulletin import read_inputs
    from monitor.pipeline.evaluate import evaluate_store
    from monitor.render.bulletin import build_context
    from monitor.store.db import open_store

    now = dt.datetime(2025, 1, 6, 2, 30, tzinfo=dt.UTC)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    config = Config(store_url=url, forecast=ForecastSettings(horizon=12, paths=200, workers=1))
    engine = open_store(url, auto_upgrade=True)
    try:
        csv = write_canonical_csv(demo_city().ledger, tmp_path / "ledger.csv")
        import_files(engine, [csv], config=config, unit="元", now=now, user="test")
        evaluate_store(engine, config, now=now, month="2024-12", progress=False)
        with engine.connect() as conn:
            inputs = read_inputs(
                conn,
                config=config,
                settings=settings_from_config(config),
                month="2024-12",
                scope=None,
                lang="zh",
                now=now,
            )
    finally:
        engine.dispose()
    ctx = build_context(inputs)
    context = ctx.template_vars()
    if getattr(ctx.method, "reliability", None) is None:
        fields = {f.name: getattr(ctx.method, f.name) for f in dataclasses.fields(ctx.method)}
        context["method"] = SimpleNamespace(**fields, reliability=reliability_view("zh"))
    html = environment().get_template("bulletin.html").render(context)
    method_part = html[html.index('id="method"') :]
    assert "预警概率的可靠性" in method_part
    assert "说 30% 的时候，实际发生约 30%" in method_part
    assert "示范市" in method_part and "压力测试省" in method_part
    assert "python benchmarks/early_warning.py --write" in method_part
