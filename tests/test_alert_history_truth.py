"""Issue 16: the first alert tells the fund's real history.

When the alert lifecycle first meets a fund (a new store, a service started on old data), the
fund may have been red for months. Its first alert must not say "正常 → 红色 … 首次通知（此前
级别：正常）": it says what the level history says — the level before is the one the history
holds, and the event carries how long the level has stood (`streak_months`, `since`), which
`alerts list` shows as "红色，已连续 5 个月（自 2024-08）".

End to end on SQLite and PostgreSQL with the demo city, the real evaluation, outbox and a real
SMTP server process; the pure rules of the run (stored history, and the decision's rules where
the stored history begins) on their own below.
"""

from __future__ import annotations

import datetime as dt
import email
import json
from email import policy
from pathlib import Path

import pytest
from smtp_server import SmtpServer, alerting_config, start_server
from sqlalchemy import Engine, select

from monitor.config.settings import load_config
from monitor.core.alerts import HistoryMonth, level_run
from monitor.core.thresholds import Level
from monitor.core.vocabulary import level_run_text
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv
from monitor.pipeline.evaluate import evaluate_store
from monitor.store.schema import alerts as alerts_table
from monitor.store.schema import evaluations

COUNTY, FUND = "341721", "resident"  # 东至县 居民医保: red since 2024-08 in the demo city
NOW = dt.datetime(2025, 1, 6, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def city(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The demo city through 2024-12 imported into a store the alert lifecycle has never
    seen; a real SMTP server behind [smtp]."""
    server = start_server(tmp_path, security="none")
    conf = tmp_path / "config.toml"
    conf.write_text(alerting_config(server.port), encoding="utf-8")
    monkeypatch.setenv("FUNDMON_CONFIG", str(conf))
    try:
        write_canonical_csv(demo_city().ledger, tmp_path / "city.csv")
        assert cli("import", "--unit", "元", str(tmp_path / "city.csv")).exit_code == 0
        yield server
    finally:
        server.stop()


def _bodies(server: SmtpServer, rcpt: str) -> list[str]:
    out = []
    for meta, raw in server.messages():
        if meta["rcpt_tos"] == [rcpt]:
            msg = email.message_from_bytes(raw, policy=policy.default)
            body = msg.get_body(("plain",))
            out.append(body.get_content() if body else "")
    return out


def _events(engine: Engine) -> dict[tuple[str, str], dict[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(select(alerts_table).order_by(alerts_table.c.id)).all()
    return {
        (r.region_code, r.fund): {
            "kind": r.kind,
            "level": r.level,
            "previous_level": r.previous_level,
            "streak_months": r.event.get("streak_months"),
            "since": r.event.get("since"),
        }
        for r in rows
        if r.kind != "notice"
    }


def _red_rule_streak(engine: Engine) -> int:
    """What the stored decision of 东至县 居民医保 at 2024-12 says of its red rule."""
    with engine.connect() as conn:
        decision = conn.execute(
            select(evaluations.c.decision).where(
                evaluations.c.region_code == COUNTY,
                evaluations.c.fund == FUND,
                evaluations.c.month == "2024-12",
            )
        ).scalar_one()
    return max(
        int(r["streak"])
        for r in decision["zh"]["reasons"]
        if r["level"] == "red" and not r["held"] and r["rule_id"] == "payable_red"
    )


def test_the_first_alert_on_old_data_says_how_long_the_level_has_stood(
    city: SmtpServer, cli, engine: Engine
) -> None:
    evaluated = cli("evaluate")
    assert evaluated.exit_code == 0, evaluated.output
    assert cli("outbox", "send").exit_code == 0

    events = _events(engine)
    county = events[(COUNTY, FUND)]
    # the history says red last month too: not a rise from green
    assert county["level"] == "red" and county["previous_level"] == "red"
    assert county["kind"] == "raise"  # the first alert anyone gets about it
    assert _red_rule_streak(engine) == 5  # the figure, from the decision itself
    assert (county["streak_months"], county["since"]) == (5, "2024-08")
    # every colour fund's first alert carries its run; none claims a rise out of 正常 that the
    # history does not show
    as_json = json.loads(cli("evaluate", "--format", "json").stdout)
    before = {(r["region_code"], r["fund"]): r["previous_level"] for r in as_json}
    for key, event in events.items():
        assert event["previous_level"] == before[key] or event["previous_level"] == event["level"]
        assert isinstance(event["streak_months"], int) and event["streak_months"] >= 1
        assert event["since"] is not None

    # the mail no longer tells a story the history contradicts
    for body in _bodies(city, "leader@example.org") + _bodies(city, "fund@example.org"):
        assert "正常 → 红色" not in body
    # where an analyst looks, the run in the words of the vocabulary
    listed = cli("alerts", "list")
    assert "红色，已连续 5 个月（自 2024-08）" in listed.output
    assert "红色 ← 正常" not in listed.output
    rows = json.loads(cli("alerts", "list", "--format", "json").stdout)
    mine = next(r for r in rows if r["region_code"] == COUNTY and r["fund"] == FUND)
    assert (mine["streak_months"], mine["since"], mine["previous_level"]) == (5, "2024-08", "red")


def test_the_run_is_the_same_whether_the_history_was_stored_month_by_month_or_not(
    city: SmtpServer, cli, engine: Engine, store_url: str, tmp_path: Path
) -> None:
    """A service started on a store evaluated month by month (no lifecycle state yet): the
    stored level history is walked, and continued by the decision's rules where it begins;
    the runs agree with a store that holds only the latest month."""
    config = load_config(tmp_path / "config.toml", db=store_url)
    for month in ("2024-09", "2024-10", "2024-11"):
        evaluate_store(engine, config, month=month, now=NOW, progress=False)
    assert cli("evaluate").exit_code == 0
    walked = _events(engine)
    assert (walked[(COUNTY, FUND)]["streak_months"], walked[(COUNTY, FUND)]["since"]) == (
        5,
        "2024-08",
    )
    # a fresh store holding only December tells the same runs
    fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    from click.testing import CliRunner

    from monitor.cli.app import main

    runner = CliRunner()
    assert (
        runner.invoke(
            main, ["--db", fresh_url, "import", "--unit", "元", str(tmp_path / "city.csv")]
        )
    ).exit_code == 0
    assert runner.invoke(main, ["--db", fresh_url, "evaluate"]).exit_code == 0
    from monitor.store.db import open_store

    fresh = open_store(fresh_url)
    try:
        single = _events(fresh)
    finally:
        fresh.dispose()
    runs = {k: (v["level"], v["streak_months"], v["since"]) for k, v in walked.items()}
    assert runs == {k: (v["level"], v["streak_months"], v["since"]) for k, v in single.items()}


# ---------------------------------------------------------------- the run, pure
def _h(month: str, level: str, before: str, evidence: int | None = None) -> HistoryMonth:
    return HistoryMonth(month, Level(level), Level(before), evidence)


def test_stored_months_count_even_where_the_rules_reset() -> None:
    """Red held by hysteresis (the rule's streak restarted in October) is still red: the stored
    history, not the rule's streak, says since when."""
    history = {
        "2024-06": _h("2024-06", "orange", "orange", 4),
        "2024-07": _h("2024-07", "red", "orange", 1),
        "2024-08": _h("2024-08", "red", "red", 2),
        "2024-09": _h("2024-09", "red", "red", None),  # held: the condition did not hold
        "2024-10": _h("2024-10", "red", "red", 1),
        "2024-11": _h("2024-11", "red", "red", 2),
    }
    assert level_run(history, "2024-11", Level.RED) == (5, "2024-07")
    assert level_run(history, "2024-06", Level.ORANGE) == (4, "2024-03")


def test_where_the_stored_history_begins_the_decision_continues_it() -> None:
    only = {"2024-12": _h("2024-12", "red", "red", 5)}
    assert level_run(only, "2024-12", Level.RED) == (5, "2024-08")
    # the level changed this month: one month, whatever the rules' streaks
    changed = {"2024-12": _h("2024-12", "red", "orange", 5)}
    assert level_run(changed, "2024-12", Level.RED) == (1, "2024-12")
    # the history says it stood, the rules held (hysteresis): at least two months
    held = {"2024-12": _h("2024-12", "red", "red", None)}
    assert level_run(held, "2024-12", Level.RED) == (2, "2024-11")
    # a month not stored at all: the month itself
    assert level_run({}, "2024-12", Level.RED) == (1, "2024-12")
    # across a year
    assert level_run({"2025-02": _h("2025-02", "red", "red", 4)}, "2025-02", Level.RED) == (
        4,
        "2024-11",
    )


def test_the_run_in_words() -> None:
    assert level_run_text(Level.RED, 5, "2024-08") == "红色，已连续 5 个月（自 2024-08）"
    assert level_run_text("orange", 1, "2024-12") == "橙色（自 2024-12）"
    assert level_run_text("red", 5, "2024-08", "en") == "red for 5 months in a row (since 2024-08)"
    assert level_run_text("yellow", 1, "2024-12", "en") == "yellow (since 2024-12)"
