"""Issue 16: with `--lang en` a reader gets English throughout — levels, reasons, lists,
region labels, fund names, the replay and the help of the language option — and the only
Chinese left is what the data itself is called (the demo city's region names).

Run as a user runs it: `fundmon demo`, then each command with `--lang en` on its store.
"""

from __future__ import annotations

import email
import html
import re
from email import policy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.cli.app import main

REGION_NAMES = re.compile("池州市|贵池区|东至县|石台县|青阳县")  # the data's own names
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")  # incl. '（' '；' '、' '：'


def chinese_left(text: str) -> list[str]:
    """The Chinese (and full-width punctuation) in `text` that is not a region's name, each
    with a little context."""
    rest = REGION_NAMES.sub("", text)
    return [rest[max(m.start() - 15, 0) : m.end() + 15] for m in CJK.finditer(rest)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("english") / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return {"out": out, "db": ["--db", f"sqlite:///{out / 'fundmon.db'}"]}


def run(demo: dict[str, Any], *args: str) -> str:
    """A command's standard output (what a script or a reader of the table gets)."""
    result = CliRunner().invoke(main, [*demo["db"], *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_evaluate_table_in_english(demo: dict[str, Any]) -> None:
    table = run(demo, "evaluate", "--lang", "en")
    assert not chinese_left(table)  # was '东至县（341721）' and 居民医保-free but '（…）'
    assert "东至县 (341721)" in table and " red " in table and " normal " in table
    assert "below the red threshold of 3 months" in table
    said = CliRunner().invoke(main, [*demo["db"], "evaluate", "--lang", "en"]).stderr
    assert said.startswith("Alert mail: ") and not chinese_left(said)  # was 预警邮件：级别无变化


def test_evaluate_csv_in_english(demo: dict[str, Any]) -> None:
    csv = run(demo, "evaluate", "--lang", "en", "--format", "csv")
    assert not chinese_left(csv)  # the reasons were joined by '；'
    [red] = [x for x in csv.splitlines() if x.startswith('"341721"') and '"red"' in x]
    assert "3 months; The probability of depletion" in red


def test_replay_in_english(demo: dict[str, Any]) -> None:
    lines = run(demo, "evaluate", "--lang", "en", "--replay", "2024-10..2024-12")
    assert not chinese_left(lines)  # the replay was Chinese whatever --lang said
    assert lines.startswith("Replay 2024-10 to 2024-12")
    assert "first alert" in lines and "False alarms" in lines


def test_thresholds_explain_in_english(demo: dict[str, Any]) -> None:
    text = run(demo, "thresholds", "explain", "--region", "341722", "--fund", "resident",
               "--lang", "en")  # fmt: skip
    assert not chinese_left(text)  # its title was '石台县（341722）居民医保'
    assert text.startswith("石台县 (341722) resident 2024-12")


def _visible(page: str) -> str:
    page = re.sub(r"<(style|script|svg)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def test_the_bulletin_in_english(demo: dict[str, Any], tmp_path: Path) -> None:
    run(demo, "bulletin", "--month", "2024-12", "--lang", "en", "--out", str(tmp_path))
    [page] = tmp_path.glob("bulletin-2024-12-*-en.html")
    doc = _visible(page.read_text(encoding="utf-8"))
    assert not chinese_left(doc)
    assert "forecast mean" in doc and "exhausted" in doc  # the red county's outlook
    [eml] = tmp_path.glob("bulletin-2024-12-*-en-mail.eml")
    mail = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    text = mail.get_body(("plain",)).get_content()
    assert not chinese_left(text) and not chinese_left(str(mail["Subject"]))
    numbered = re.findall(r"(?m)^(\d)\. ", text)
    assert numbered == ["1", "2", "3", "4", "5"]  # its sections in the order shown


@pytest.mark.parametrize(
    "command", [["evaluate"], ["bulletin"], ["thresholds", "explain"]], ids=" ".join
)
def test_the_language_option_is_explained_in_english(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "output language" in result.output or "language (default zh)" in result.output


def test_a_funds_history_in_english(demo: dict[str, Any]) -> None:
    text = run(demo, "history", "--region", "341721", "--fund", "resident", "--lang", "en")
    head = text.splitlines()[0]
    assert head.startswith("东至县 (341721) resident: ") and not chinese_left(head)
