"""The bulletin in a real browser: headless Chromium (Debian's `chromium`) at 1280 and 390 px.

Each page is opened from the archive folder as a reader would open the file: nothing may
overflow sideways, every chart must be drawn, and no request may fail or leave the machine.
Full-page screenshots go to $FUNDMON_SCREENSHOTS (default benchmarks/out/screenshots/) for a
person to look at. Chromium is driven over its DevTools pipe (`--remote-debugging-pipe`), so
no driver or extra package is needed. Without Chromium these tests skip, with the reason;
in CI (FUNDMON_REQUIRE_SERVICES=1) they fail instead.
"""

from __future__ import annotations

import base64
import contextlib
import email
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_bulletin import NOW, SMALL, evaluated_store  # the city's store (tests/ is on sys.path)

from monitor.cli.app import main
from monitor.config.settings import Config
from monitor.demo.data import demo_city
from monitor.pipeline.bulletin import produce_bulletin
from monitor.store.db import open_store

CHROMIUM = next(
    (
        shutil.which(name)
        for name in ("chromium", "chromium-browser", "google-chrome")
        if shutil.which(name)
    ),
    None,
)
REQUIRE_SERVICES = os.environ.get("FUNDMON_REQUIRE_SERVICES") == "1"
SHOTS = Path(
    os.environ.get("FUNDMON_SCREENSHOTS")
    or Path(__file__).resolve().parent.parent / "benchmarks" / "out" / "screenshots"
)
FLAGS = (
    "--headless",
    "--no-sandbox",  # Chromium refuses its sandbox as root (CI, containers)
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


class Browser:
    """Just enough of the DevTools protocol, over the pipe Chromium opens on fds 3 and 4."""

    def __init__(self, executable: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="fundmon-chromium-")
        to_browser, from_browser = os.pipe(), os.pipe()
        # keep our ends clear of 3 and 4, which the child's are moved onto
        child_in = fcntl.fcntl(to_browser[0], fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_browser[1], fcntl.F_DUPFD, 10)
        os.close(to_browser[0])
        os.close(from_browser[1])

        def place_pipes() -> None:  # runs in the child before exec
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self.proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe"],
            preexec_fn=place_pipes,  # only os.dup2 before exec: safe with threads
            pass_fds=(3, 4),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(child_in)
        os.close(child_out)
        self.out = to_browser[1]
        self.inp = from_browser[0]
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.inp], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self.inp, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed its DevTools pipe")
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.out, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read(60)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float = 60) -> None:
        def seen() -> bool:
            return any(
                e.get("method") == method and e.get("sessionId") == session for e in self.events
            )

        deadline = time.monotonic() + timeout
        while not seen():
            self.events.append(self._read(max(0.1, deadline - time.monotonic())))

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, TimeoutError, RuntimeError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.out)
        os.close(self.inp)
        shutil.rmtree(self.profile, ignore_errors=True)


MEASURE = """(() => {
  const doc = document.documentElement;
  const box = (el) => { const r = el.getBoundingClientRect(); return [r.width, r.height]; };
  return JSON.stringify({
    scrollWidth: doc.scrollWidth, innerWidth: window.innerWidth,
    svgs: [...document.querySelectorAll('svg.chart')].map(s =>
      [...box(s), s.querySelectorAll('path').length]),
    imgs: [...document.images].map(i => [i.complete && i.naturalWidth > 0, ...box(i)]),
    wide: [...document.querySelectorAll('body *')]
      .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 5).map(e => e.tagName + '.' + e.className),
  });
})()"""


def look(
    browser: Browser, url: str, width: int, shot: Path, measure: str = MEASURE
) -> dict[str, Any]:
    """Open `url` at `width` px (a phone below 600); run `measure` (a script returning JSON),
    take a full-page screenshot, collect requests, failed loads and errors."""
    target = browser.send("Target.createTarget", url="about:blank")["targetId"]
    session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Page", "Network", "Runtime", "Log"):
        browser.send(f"{domain}.enable", session)
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        session,
        width=width,
        height=900,
        deviceScaleFactor=1,
        mobile=width < 600,
    )
    browser.send("Page.navigate", session, url=url)
    browser.wait_for("Page.loadEventFired", session)
    browser.send(
        "Runtime.evaluate", session, expression="document.fonts.ready.then(() => 1)",
        awaitPromise=True,
    )  # fmt: skip
    result = browser.send("Runtime.evaluate", session, expression=measure, returnByValue=True)
    measured: dict[str, Any] = json.loads(result["result"]["value"])
    png = browser.send("Page.captureScreenshot", session, format="png", captureBeyondViewport=True)
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.write_bytes(base64.b64decode(png["data"]))
    browser.send("Target.closeTarget", targetId=target)
    mine = [e for e in browser.events if e.get("sessionId") == session]
    measured["requests"] = [
        e["params"]["request"]["url"] for e in mine if e["method"] == "Network.requestWillBeSent"
    ]
    measured["failed"] = [
        e["params"].get("errorText") for e in mine if e["method"] == "Network.loadingFailed"
    ]
    measured["errors"] = [
        e["params"]["entry"]["text"]
        for e in mine
        if e["method"] == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"
    ] + [e["params"] for e in mine if e["method"] == "Runtime.exceptionThrown"]
    return measured


def assert_readable(page: dict[str, Any], width: int, *, charts: int = 0, images: int = 0) -> None:
    # a phone widens its layout viewport to fit a page wider than the screen: then nothing
    # overflows the viewport, yet the reader scrolls sideways
    assert page["innerWidth"] == width, page["innerWidth"]
    assert page["scrollWidth"] <= page["innerWidth"], page["wide"]  # no sideways scrolling
    assert not page["failed"] and not page["errors"], (page["failed"], page["errors"])
    assert all(u.startswith(("file:", "data:")) for u in page["requests"]), page["requests"]
    assert len(page["svgs"]) == charts
    assert all(w > 250 and h > 100 and paths >= 4 for w, h, paths in page["svgs"]), page["svgs"]
    assert len(page["imgs"]) == images
    assert all(ok and w > 250 for ok, w, _ in page["imgs"]), page["imgs"]


def need_chromium() -> str:
    if CHROMIUM is None:
        reason = "headless Chromium is not installed (apt-get install chromium fonts-noto-cjk)"
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = Browser(need_chromium())
    yield b
    b.close()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo city's bulletins (zh, en) in an archive folder, and its store's URL."""
    need_chromium()  # --pdf prints with it
    folder = tmp_path_factory.mktemp("browser")
    url = evaluated_store(folder, demo_city().ledger, ("2024-12",))
    engine = open_store(url)
    try:
        written = {
            lang: produce_bulletin(
                engine, config=Config(forecast=SMALL), out=folder / "archive", now=NOW, lang=lang
            )
            for lang in ("zh", "en")
        }
    finally:
        engine.dispose()
    return {"url": url, "folder": folder / "archive", "written": written}


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_bulletin_reads_in_a_browser_without_overflow_or_requests(
    browser: Browser, archive: dict[str, Any], width: int, lang: str
) -> None:
    written = archive["written"][lang]
    page = look(browser, written.html.as_uri(), width, SHOTS / f"bulletin-{lang}-{width}.png")
    assert_readable(page, width, charts=3 * written.context.total_funds)


@pytest.mark.parametrize("width", [700, 390], ids=["desktop", "phone"])
def test_the_email_edition_reads_in_a_browser_with_every_chart(
    browser: Browser, archive: dict[str, Any], width: int, tmp_path: Path
) -> None:
    """The .eml's HTML with its cid: images given as data: URIs (what a mail client does)."""
    written = archive["written"]["zh"]
    msg = email.message_from_bytes(written.eml.read_bytes(), policy=policy.default)
    html = msg.get_body(("html",)).get_content()
    images = 0
    for part in msg.walk():
        if part.get_content_type() == "image/png":
            data = base64.b64encode(part.get_payload(decode=True)).decode()
            html = html.replace(
                f"cid:{part['Content-ID'].strip('<>')}", f"data:image/png;base64,{data}"
            )
            images += 1
    preview = tmp_path / "mail.html"
    preview.write_text(html, encoding="utf-8")
    page = look(browser, preview.as_uri(), width, SHOTS / f"mail-zh-{width}.png")
    assert images == 15 and "cid:" not in html
    assert_readable(page, width, images=images)


@pytest.mark.parametrize("width", [1280, 390], ids=["desktop", "phone"])
def test_the_archive_index_reads_in_a_browser(
    browser: Browser, archive: dict[str, Any], width: int
) -> None:
    index = archive["folder"] / "index.html"
    page = look(browser, index.as_uri(), width, SHOTS / f"index-{width}.png")
    assert_readable(page, width)


def test_pdf_for_printing(archive: dict[str, Any], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["--db", archive["url"], "bulletin", "--month", "2024-12", "--out", str(tmp_path), "--pdf"],
    )
    assert result.exit_code == 0, result.output
    pdf = tmp_path / "bulletin-2024-12-341700-zh.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page") >= 4
    assert b"/FontName" in data and b"Mono" not in data  # the document, not its source as text
    assert f"PDF：{pdf}" in result.output
    assert 'href="bulletin-2024-12-341700-zh.pdf"' in (tmp_path / "index.html").read_text("utf-8")
    shutil.copy(pdf, SHOTS / pdf.name)
