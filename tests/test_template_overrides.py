"""One Jinja environment: an office's template folder overrides the bulletin's templates and
the alert e-mail's alike, and the filters are there for both."""

from __future__ import annotations

import datetime as dt
import email
from email import policy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli.app import main
from monitor.config.alerts import AlertSettings
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv
from monitor.render.alert_mail import build_message
from monitor.render.templating import create_environment, environment, shipped_templates

T0 = dt.datetime(2025, 1, 6, 2, 30, tzinfo=dt.UTC)
# An office's own edition: the shipped template with a line of its own, which uses the
# shared filters (the alert mail's own environment had none).
ALERT_LINE = "<p>本局定制：{{ m.events[0].level | level_label(m.lang) }}预警</p>"
BULLETIN_LINE = '<p class="own">本局定制月报：{{ month | month_label(lang) }}</p>'


def office_folder(folder: Path) -> Path:
    """Copies of the shipped alert_mail.html and _masthead.html, each with a line added."""
    shipped = shipped_templates()
    folder.mkdir()
    alert = (shipped / "alert_mail.html").read_text(encoding="utf-8")
    (folder / "alert_mail.html").write_text(
        alert.replace("</body>", ALERT_LINE + "\n</body>", 1), encoding="utf-8"
    )
    masthead = (shipped / "_masthead.html").read_text(encoding="utf-8")
    (folder / "_masthead.html").write_text(masthead + BULLETIN_LINE + "\n", encoding="utf-8")
    return folder


def test_alert_mail_and_bulletin_render_from_the_same_environment(tmp_path: Path) -> None:
    own = office_folder(tmp_path / "own")
    env = environment(own)
    assert environment(own) is env and environment() is not env
    assert env.get_template("alert_mail.html").filename == str(own / "alert_mail.html")
    assert env.get_template("alert_mail.txt").filename == str(
        shipped_templates() / "alert_mail.txt"
    )
    assert {"level_label", "month_label", "amount", "probability"} <= set(env.filters)
    assert create_environment().filters.keys() == env.filters.keys()


def test_an_office_template_changes_the_alert_mail(tmp_path: Path) -> None:
    from test_alerts import EVERYONE, FUNDS, Lifecycle, result

    own = office_folder(tmp_path / "own")
    settings = AlertSettings(routes=(EVERYONE,))
    [mail] = Lifecycle(settings).run(result("341721", "resident", "red"), now=T0).mails
    shipped = build_message(
        mail, funds=FUNDS, settings=settings, sender="a@x.org", message_id="<a@x>", now=T0
    )
    office = build_message(
        mail, funds=FUNDS, settings=settings, sender="a@x.org", message_id="<a@x>", now=T0,
        templates=own,
    )  # fmt: skip
    assert "本局定制" not in shipped.get_body(("html",)).get_content()
    assert "<p>本局定制：红色预警</p>" in office.get_body(("html",)).get_content()
    assert office.get_body(("plain",)).get_content() == shipped.get_body(("plain",)).get_content()


# ---------------------------------------------------------------- end to end
@pytest.fixture
def office(tmp_path: Path) -> Any:
    """The demo city imported under a configuration naming the office's template folder."""
    office_folder(tmp_path / "own")
    conf = tmp_path / "config.toml"
    conf.write_text(
        "[forecast]\nhorizon = 12\npaths = 300\nworkers = 1\n"
        # TODO(issue 14): `[templates] dir = "own"` once monitor.config has it (H1)
        '[bulletin]\ntemplates = "own"\n'
        '[alerts]\nmail_dir = "mail"\n'
        '[[alerts.routes]]\nregions = ["341721"]\nto = ["dongzhi@example.org"]\n',
        encoding="utf-8",
    )
    store = f"sqlite:///{tmp_path / 'store.db'}"
    runner = CliRunner()

    def cli(*args: str) -> Any:
        result = runner.invoke(main, ["--config", str(conf), "--db", store, *args])
        assert result.exit_code == 0, result.output
        return result

    write_canonical_csv(demo_city().ledger, tmp_path / "demo.csv")
    cli("import", "--unit", "元", str(tmp_path / "demo.csv"))
    return cli


def test_an_office_template_changes_the_bulletin(office: Any, tmp_path: Path) -> None:
    office("evaluate")
    office("bulletin", "--out", str(tmp_path / "out"))
    [page] = (tmp_path / "out").glob("bulletin-2024-12-*-zh.html")
    assert '<p class="own">本局定制月报：2024年12月</p>' in page.read_text(encoding="utf-8")


def test_an_office_template_changes_the_alert_mail_sent_through_the_outbox(
    office: Any, tmp_path: Path
) -> None:
    office("evaluate")  # renders the alert mail into the outbox
    office("outbox", "send")
    [eml] = (tmp_path / "mail").glob("*.eml")
    sent = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert str(sent["Subject"]).startswith("【红色预警】东至县")
    assert "<p>本局定制：红色预警</p>" in sent.get_body(("html",)).get_content()
