"""Issue 15: a single aberrant month does not raise red on its own — end to end, on SQLite and
PostgreSQL, with the real importer, evaluation, outbox and a real SMTP server process.

The demo city is imported through 2024-11 and evaluated (its alerts delivered); then a
2024-12 file in which one county's employee expenditure was keyed three times too large
(its balance following it, as an office system computes it). The import flags the month
待核实; `fundmon evaluate` computes the level on it (青阳县 employee goes red) but says so,
and the escalation's mail is held; `alerts list`, `status`, `ledger pending` and the bulletin
say what waits and why. Then either `fundmon ledger confirm` lets it go (the leader gets the
red alert), or a corrected re-import clears it and nothing about it reaches anyone.
"""

from __future__ import annotations

import email
import json
from email import policy
from pathlib import Path

import pytest
from office_books import tripled
from smtp_server import SmtpServer, alerting_config, start_server
from sqlalchemy import Engine, select

from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv
from monitor.store.schema import alerts as alerts_table
from monitor.store.schema import evaluations, ledger_reviews

COUNTY, FUND, MONTH = "341723", "employee", "2024-12"  # 青阳县 职工医保: yellow at 2024-11


@pytest.fixture
def city(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The demo city through 2024-11 imported, evaluated and its alerts sent to a real SMTP
    server; the 2024-12 files (tripled, and as it should be) written beside it."""
    server = start_server(tmp_path, security="none")
    conf = tmp_path / "config.toml"
    conf.write_text(
        alerting_config(server.port),
        encoding="utf-8",
    )
    monkeypatch.setenv("FUNDMON_CONFIG", str(conf))
    monkeypatch.setenv("FUNDMON_USER", "李四")
    try:
        ledger = demo_city().ledger
        write_canonical_csv(ledger[ledger["month"] < MONTH], tmp_path / "history.csv")
        write_canonical_csv(
            tripled(ledger[ledger["month"] == MONTH], COUNTY, FUND), tmp_path / "december_wrong.csv"
        )
        write_canonical_csv(ledger[ledger["month"] == MONTH], tmp_path / "december.csv")
        assert cli("import", "--unit", "元", str(tmp_path / "history.csv")).exit_code == 0
        assert cli("evaluate").exit_code == 0
        assert cli("outbox", "send").exit_code == 0
        yield server
    finally:
        server.stop()


def _mail(server: SmtpServer, since: int = 0) -> list[tuple[str, str, str]]:
    """(recipient, subject, plain body) of each message accepted after the first `since`."""
    out = []
    for meta, raw in server.messages()[since:]:
        msg = email.message_from_bytes(raw, policy=policy.default)
        body = msg.get_body(("plain",))
        out.append((meta["rcpt_tos"][0], str(msg["Subject"]), body.get_content() if body else ""))
    return out


def _about_county(mail: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [m for m in mail if "青阳县" in m[1] or "青阳县" in m[2]]


def _held_flagged(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Import the wrong December and evaluate: the month is 待核实 and its alert held."""
    imported = cli("import", "--unit", "元", str(tmp_path / "december_wrong.csv"))
    assert imported.exit_code == 0, imported.output
    assert "待核实" in imported.output and f"--region {COUNTY} --fund {FUND}" in imported.output
    evaluated = cli("evaluate")
    assert evaluated.exit_code == 0, evaluated.output
    assert "由待核实的月份引起，暂缓发送" in evaluated.stderr
    county_line = next(
        line for line in evaluated.stdout.splitlines() if "青阳县" in line and "职工" in line
    )
    assert "红色" in county_line and f"待核实（{COUNTY} {MONTH}）" in county_line


def test_an_aberrant_month_is_held_until_confirmed_then_mailed(
    city: SmtpServer, cli, engine: Engine, tmp_path: Path
) -> None:
    before = len(city.messages())
    assert before > 0  # November's alerts went out
    _held_flagged(cli, tmp_path)

    # recorded, not mailed: the row is there, held for review #1, with no recipients
    with engine.connect() as conn:
        review = conn.execute(select(ledger_reviews)).one()
        held = conn.execute(
            select(alerts_table).where(
                alerts_table.c.region_code == COUNTY, alerts_table.c.month == MONTH
            )
        ).one()
    assert (review.region_code, review.fund, review.month, review.status) == (
        COUNTY, FUND, MONTH, "pending",
    )  # fmt: skip
    assert held.kind == "escalate" and held.level == "red" and held.previous_level == "yellow"
    assert held.suppressed_by == f"review #{review.id}" and held.recipients == []
    assert cli("outbox", "send").exit_code == 0
    assert _about_county(_mail(city, before)) == []  # nothing about it reached anyone

    # what waits, and why, wherever an analyst looks
    listed = cli("alerts", "list")
    assert f"暂缓（待核实 #{review.id}）" in listed.output
    active = cli("alerts", "list", "--active")
    assert "暂缓发送的预警" in active.output and "青阳县（341723）" in active.output
    status = cli("status")
    assert f"待核实：1 个月（{COUNTY} {MONTH}），1 项预警因此暂缓发送" in status.output
    pending = cli("ledger", "pending")
    assert f"#{review.id}" in pending.output and f"#{held.id}" in pending.output
    assert "青阳县（341723）" in pending.output and "本期支出约为推算值的" in pending.output
    as_json = json.loads(cli("evaluate", "--format", "json").stdout)
    county = next(r for r in as_json if r["region_code"] == COUNTY and r["fund"] == FUND)
    assert county["level"] == "red" and county["notes"][0].startswith(f"待核实（#{review.id}）")
    assert [r["id"] for r in county["pending_review"]] == [review.id]  # for scripts too
    city_total = next(r for r in as_json if r["region_code"] == "341700" and r["fund"] == FUND)
    assert any(n.startswith("待核实") for n in city_total["notes"])  # the roll-up reads it too
    out = tmp_path / "bulletin"
    assert cli("bulletin", "--month", MONTH, "--out", str(out)).exit_code == 0
    html = "".join(p.read_text(encoding="utf-8") for p in out.rglob("*.html"))
    assert "待核实：青阳县（341723）2024-12 本期支出" in html

    confirmed = cli(
        "ledger", "confirm", "--region", COUNTY, "--fund", FUND, "--month", MONTH,
        "--note", "已电话核对：当月集中结算",
    )  # fmt: skip
    assert confirmed.exit_code == 0, confirmed.output
    assert f"已确认 #{review.id}" in confirmed.output and "放行暂缓的预警" in confirmed.output
    with engine.connect() as conn:  # the stored levels stand, and no longer say 待核实
        stored = list(
            conn.execute(
                select(
                    evaluations.c.region_code, evaluations.c.level, evaluations.c.decision
                ).where(evaluations.c.fund == FUND, evaluations.c.month == MONTH)
            )
        )
    assert {r.region_code: r.level for r in stored}[COUNTY] == "red"
    for row in stored:
        for lang in ("zh", "en"):
            assert row.decision[lang]["pending_review"] == []
            assert not any(
                "待核实" in n or "pending review" in n for n in row.decision[lang]["notes"]
            )
    assert cli("outbox", "send").exit_code == 0
    mail = _about_county(_mail(city, before))
    to_leader = [m for m in mail if m[0] == "leader@example.org"]
    assert len(to_leader) == 1 and to_leader[0][1].startswith("【红色预警】青阳县 职工医保")
    assert "已核实" in to_leader[0][2] and "待核实" not in to_leader[0][2]
    assert f"已放行（已核实 #{review.id}）" in cli("alerts", "list").output

    # the next evaluation sends nothing more about it, and no longer says 待核实
    after = len(city.messages())
    again = cli("evaluate")
    assert "待核实" not in again.stdout
    assert cli("outbox", "send").exit_code == 0
    assert _about_county(_mail(city, after)) == []
    assert (
        cli("ledger", "confirm", "--region", COUNTY, "--fund", FUND, "--month", MONTH).exit_code
        == 1
    )
    assert "李四" in cli("ledger", "pending", "--all").output
    assert "没有待核实的月份" in cli("ledger", "pending").output


def test_a_correction_clears_the_month_and_nothing_reaches_leaders(
    city: SmtpServer, cli, engine: Engine, tmp_path: Path
) -> None:
    before = len(city.messages())
    _held_flagged(cli, tmp_path)

    corrected = cli("import", "--unit", "元", str(tmp_path / "december.csv"))
    assert corrected.exit_code == 0, corrected.output
    assert "待核实" not in corrected.output
    with engine.connect() as conn:
        assert conn.execute(select(ledger_reviews.c.status)).scalar_one() == "cleared"
    evaluated = cli("evaluate", "--changed-only")
    assert evaluated.exit_code == 0, evaluated.output
    assert "待核实" not in evaluated.stdout
    assert cli("outbox", "send").exit_code == 0
    assert _about_county(_mail(city, before)) == []  # no 新预警, no 解除: nothing at all
    with engine.connect() as conn:
        county = list(
            conn.execute(
                select(alerts_table.c.kind, alerts_table.c.suppressed_by).where(
                    alerts_table.c.region_code == COUNTY,
                    alerts_table.c.fund == FUND,
                    alerts_table.c.month == MONTH,
                )
            )
        )
    assert county == [("escalate", "review #1")]  # only the held one, never mailed
    assert "未发（已更正 #1）" in cli("alerts", "list").output
    assert "已更正" in cli("ledger", "pending", "--all").output
    assert "待核实" not in cli("status").output
