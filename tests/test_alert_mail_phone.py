"""The alert e-mail on a phone and on a desktop: headless Chromium at 390 and 1280 px, and
caniemail's data for Outlook, Gmail and Apple Mail (issue 16).

The mails are the demo's real ones (`fundmon demo`: a red fund with its forecast chart, to the
leaders, to the county and in the fund office's digest). Each HTML part is opened as a file, as
a mail client shows it: no element may reach past the viewport, and every value of the values
columns (2.4 个月, 3.19亿元, the probabilities, the chart's figures) must be inside it and shown
whole. Screenshots go to $FUNDMON_SCREENSHOTS (default benchmarks/out/screenshots/, ignored by
git) for a person to look at. Without Chromium the browser tests skip (fail in CI), like the
bulletin's (tests/test_bulletin_browser.py, whose DevTools driver they use).

The caniemail check runs tests/caniemail/check.mjs (Node, the `caniemail` package pinned in
its package-lock.json; `npm ci` there) on the same HTML and applies ACCEPTED: the features a
client lacks that the mail may use because it reads the same without them.
"""

from __future__ import annotations

import email
import json
import shutil
import subprocess
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_bulletin_browser import REQUIRE_SERVICES, SHOTS, Browser, look, need_chromium

from monitor.cli.app import main

CANIEMAIL = Path(__file__).resolve().parent / "caniemail"
CLIENTS = ("outlook.*", "gmail.*", "apple-mail.*")

# What the page says of itself: how wide it is, what reaches past the viewport, and where each
# value cell (class "value") is and whether its text fits in it.
MEASURE = """(() => {
  const vw = window.innerWidth;
  const sheet = document.querySelector('body > table table');
  return JSON.stringify({
    scrollWidth: document.documentElement.scrollWidth, innerWidth: vw,
    sheet: sheet ? sheet.getBoundingClientRect().width : 0,
    wide: [...document.querySelectorAll('body *')]
      .filter(e => e.getBoundingClientRect().right > vw + 1)
      .slice(0, 5).map(e => e.tagName + ' ' + (e.textContent || '').slice(0, 40)),
    values: [...document.querySelectorAll('td.value')].map(td => {
      const r = td.getBoundingClientRect();
      return {text: td.textContent.trim(), left: r.left, right: r.right, width: r.width,
              clipped: td.scrollWidth > td.clientWidth + 1};
    }),
  });
})()"""


def open_page(browser: Browser, url: str, width: int, shot: Path) -> dict[str, Any]:
    """Open `url` at `width` px (a phone below 600), measure it, take a full-page screenshot."""
    return look(browser, url, width, shot, measure=MEASURE)


# ---------------------------------------------------------------- the demo's mails
@pytest.fixture(scope="module")
def demo_mails(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The demo's alert mails by recipient: subject, plain text, and the HTML part as a file."""
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["demo", "--out", str(out / "demo")])
    assert result.exit_code == 0, result.output
    mails: dict[str, dict[str, Any]] = {}
    for path in sorted((out / "demo" / "mail").glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        page = out / f"{path.stem}.html"
        page.write_text(html, encoding="utf-8")
        address = str(msg["To"]).rpartition("<")[2].rstrip(">")
        mails[address] = {
            "subject": str(msg["Subject"]),
            "text": msg.get_body(("plain",)).get_content(),  # type: ignore[union-attr]
            "html": html,
            "page": page,
        }
    return mails


MAILS = {
    "leaders": "leaders@example.org",  # red, leader detail: the outlook and the chart
    "county": "dongzhi@example.org",  # red, analyst detail: probabilities, models, commands
    "office": "jijinke@example.org",  # the digest of every change, red first
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = Browser(need_chromium())
    yield b
    b.close()


def test_the_demo_sends_a_red_alert_with_its_chart_to_each_kind_of_reader(
    demo_mails: dict[str, dict[str, Any]],
) -> None:
    assert set(MAILS.values()) <= set(demo_mails)
    for address in MAILS.values():
        html = demo_mails[address]["html"]
        assert "东至县" in html and "红色" in html and "2.4 个月" in html
        charts = html.count('height="12"') / 25  # a chart: now and 24 forecast months
        assert charts == (5 if address == MAILS["office"] else 1), charts


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
@pytest.mark.parametrize("reader", list(MAILS))
def test_the_alert_mail_fits_the_screen_with_every_value_visible(
    browser: Browser, demo_mails: dict[str, dict[str, Any]], reader: str, width: int
) -> None:
    mail = demo_mails[MAILS[reader]]
    page = open_page(browser, mail["page"].as_uri(), width, SHOTS / f"alert-{reader}-{width}.png")
    # a phone widens its layout viewport to fit a page wider than the screen (and shrinks the
    # text to match): the viewport must stay the screen's width
    assert page["innerWidth"] == width, page["wide"]
    assert page["scrollWidth"] <= page["innerWidth"], page["wide"]  # no sideways scrolling
    assert not page["wide"], page["wide"]  # no element's right edge past the viewport
    assert all(u.startswith(("file:", "data:")) for u in page["requests"]), page["requests"]
    # the sheet is as wide as the screen allows, up to 680 px (plus its border)
    assert page["sheet"] <= 682 and page["sheet"] >= min(680, width - 14), page["sheet"]
    values = page["values"]
    assert len(values) >= 25 + 7  # the chart's figures and the key figures at least
    for cell in values:
        assert cell["width"] > 0 and cell["text"], cell
        assert cell["left"] >= 0 and cell["right"] <= page["innerWidth"], cell
        assert not cell["clipped"], cell  # the whole figure shows, none cut off
    texts = {c["text"] for c in values}
    assert {"2.4 个月", "3.19亿元", "-16.7%"} <= texts, texts
    if reader != "leaders":  # the probabilities: analysts only
        assert {"95%", "<1%"} <= texts, texts


# ---------------------------------------------------------------- caniemail
# The policy: what caniemail may report for Outlook, Gmail and Apple Mail, each with why the
# mail reads the same there. Anything else fails the test: a new feature must be judged here
# before it ships. The layout needs none of these: it is fluid without media queries or a
# <style> block (which Gmail's non-Google accounts and Outlook drop).
#
# Features a client does not support at all ("none"), by client:
ACCEPTED_NONE: dict[str, dict[str, str]] = {
    "<body> element": {"outlook.macos": "the outer table carries the body's background"},
    "white-space": {
        "outlook.windows": "a value may wrap inside its cell, which stays on the screen",
        "outlook.windows-mail": "a value may wrap inside its cell, which stays on the screen",
    },
    "role attribute": {"outlook.windows-mail": "an accessibility hint; layout is the same"},
    "word-break": {"outlook.windows-mail": "commands and links wrap at their spaces instead"},
}
# Features a client supports in part ("partial"): the parts missing are parts the mail does
# not use, or only spacing.
ACCEPTED_PARTIAL: dict[str, str] = {
    "max-width": "on the <div> for Apple Mail on iOS, on the table for Outlook, and a 680 px "
    "conditional table for Outlook for Windows",
    "word-break": "break-all look: only commands and links break",
    "white-space": "non-Google accounts: a value may wrap inside its cell",
    "<body> element": "replaced by a <div>: the outer table carries the background",
    "<ul>, <ol> and <dl>": "no <ol reversed>, no <li value>",
    "display": "only inline-block badges: inline where unsupported",
    "margin": "no negative margins, no margin on <span>; spacing only",
    "align attribute": "align on cells only, never left/right on a <table>",
    "background": "only background-color is used",
    "border": "no border over 3 px",
    "font-size": "px only",
    "font-weight": "bold only",
    "height attribute": "no images; a bar is 12 px or a little more at 120 dpi",
    "height property": "the reasons' 10 px squares: a coloured space where unsupported",
    "line-height": "spacing only",
    "padding": "padding is on cells; a badge's <span> padding is decoration",
    "width attribute": "no images; percentages on cells",
    "width property": "the reasons' 10 px squares: a coloured space where unsupported",
}


def unaccepted(report: dict[str, dict[str, Any]]) -> dict[tuple[str, str], str]:
    """The findings the policy does not accept: (client, feature) → support."""
    out = {}
    for client, features in report.items():
        for title, finding in features.items():
            support = finding["support"]
            if support == "none" and client in ACCEPTED_NONE.get(title, {}):
                continue
            if support == "partial" and title in ACCEPTED_PARTIAL:
                continue
            out[(client, title)] = support
    return out


def need_caniemail() -> Path:
    node = shutil.which("node")
    if node is None or not (CANIEMAIL / "node_modules" / "caniemail").is_dir():
        reason = (
            "node or tests/caniemail/node_modules is missing "
            "(apt-get install nodejs npm; cd tests/caniemail && npm ci)"
        )
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    return Path(node)


def caniemail_findings(html_files: list[Path]) -> dict[str, dict[str, Any]]:
    """check.mjs's report: {client: {feature title: {"support": …, "count": n}}}."""
    node = need_caniemail()
    run = subprocess.run(
        [str(node), str(CANIEMAIL / "check.mjs"), *CLIENTS, "--", *map(str, html_files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    report: dict[str, dict[str, Any]] = json.loads(run.stdout)
    return report


def test_caniemail_finds_nothing_but_the_accepted_in_outlook_gmail_and_apple_mail(
    demo_mails: dict[str, dict[str, Any]],
) -> None:
    pages = [demo_mails[a]["page"] for a in MAILS.values()]
    report = caniemail_findings(pages)
    assert report, "caniemail checked no client"
    assert {c.split(".")[0] for c in report} == {"outlook", "gmail", "apple-mail"}, report
    assert not unaccepted(report), unaccepted(report)


def test_caniemail_reports_what_the_old_fixed_width_mail_relied_on(tmp_path: Path) -> None:
    """The check can fail: a <style> block with a media query (the usual way to make a mail
    fit a phone, dropped by Outlook and Gmail's non-Google accounts) and a positioned cell are
    reported, and the policy accepts none of them."""
    page = tmp_path / "styled.html"
    page.write_text(
        "<html><head><style>@media (max-width:600px){td{display:block}}</style></head>"
        '<body><table><tr><td style="position:absolute">x</td></tr></table></body></html>',
        encoding="utf-8",
    )
    refused = unaccepted(caniemail_findings([page]))
    assert ("outlook.windows", "@media") in refused and ("gmail.ios", "position") in refused
    assert ("gmail.mobile-webmail", "<style> element") in refused, refused
