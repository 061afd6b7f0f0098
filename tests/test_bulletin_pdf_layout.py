"""The printed bulletin (issue 16): table headers never break inside a word ('期末累计结 余'),
and a fund's heading is printed on the page of its charts.

Measured on what a reader gets: the headers in headless Chromium laid out for print at the
A4 text width (each character's line), and the fund sections in the PDF Chromium prints
(each one's named destination and its first chart's, read off the PDF's /Dests and page
tree). Without Chromium these tests skip, with the reason (in CI they fail).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_bulletin import NOW, SMALL, evaluated_store  # tests/ is on sys.path
from test_bulletin_browser import Browser, need_chromium

from monitor.config.settings import Config
from monitor.demo.data import demo_city
from monitor.pipeline.bulletin import pdf_renderer, produce_bulletin
from monitor.store.db import open_store

A4_TEXT_WIDTH = round((210 - 2 * 12) / 25.4 * 96)  # px: A4 less the 12 mm side margins of @page


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo city's bulletin for 2024-12, in Chinese and in English."""
    need_chromium()
    folder = tmp_path_factory.mktemp("pdf_layout")
    url = evaluated_store(folder, demo_city().ledger, ("2024-12",))
    engine = open_store(url)
    try:
        out = {}
        for lang in ("zh", "en"):
            produce_bulletin(
                engine, config=Config(forecast=SMALL), out=folder / "archive", now=NOW, lang=lang
            )
            [html] = (folder / "archive").glob(f"bulletin-2024-12-*-{lang}.html")
            out[lang] = html
    finally:
        engine.dispose()
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    b = Browser(need_chromium())
    yield b
    b.close()


# Each header cell's visible characters with the top of the line each is on.
HEADER_LINES = """JSON.stringify([...document.querySelectorAll('table.kpi thead th')].map(th => {
  const chars = [];
  const walk = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const node = walk.currentNode;
    for (let i = 0; i < node.length; i++) {
      const r = document.createRange(); r.setStart(node, i); r.setEnd(node, i + 1);
      const box = r.getBoundingClientRect();
      if (box.width > 0) chars.push([node.data[i], Math.round(box.top)]);
    }
  }
  return chars;
}))"""


def _printed_headers(browser: Browser, html: Path) -> list[list[tuple[str, int]]]:
    target = browser.send("Target.createTarget", url="about:blank")["targetId"]
    session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    browser.send("Page.enable", session)
    browser.send("Emulation.setEmulatedMedia", session, media="print")
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        session,
        width=A4_TEXT_WIDTH,
        height=1100,
        deviceScaleFactor=1,
        mobile=False,
    )
    browser.send("Page.navigate", session, url=html.as_uri())
    browser.wait_for("Page.loadEventFired", session)
    browser.send(
        "Runtime.evaluate", session, expression="document.fonts.ready.then(() => 1)",
        awaitPromise=True,
    )  # fmt: skip
    result = browser.send("Runtime.evaluate", session, expression=HEADER_LINES, returnByValue=True)
    browser.send("Target.closeTarget", targetId=target)
    return [[(c, top) for c, top in cell] for cell in json.loads(result["result"]["value"])]


def _breaks_inside_words(cell: list[tuple[str, int]]) -> list[str]:
    """Where a header's line ends between two characters of one word (no space, slash or
    bracket between them): '期末累计结 | 余'."""
    out = []
    for (a, top_a), (b, top_b) in itertools.pairwise(cell):
        if top_b > top_a + 2 and not (a.isspace() or b.isspace() or a in "/（(" or b in "/）)"):
            text = "".join(c for c, _ in cell)
            out.append(f"{text!r} broken between {a!r} and {b!r}")
    return out


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_printed_table_headers_do_not_break_inside_a_word(
    browser: Browser, pages: dict[str, Path], lang: str
) -> None:
    cells = _printed_headers(browser, pages[lang])
    assert len(cells) >= 12  # the KPI table's two header rows
    broken = [b for cell in cells for b in _breaks_inside_words(cell)]
    assert not broken


# ---------------------------------------------------------------- the PDF's pages
def _objects(pdf: bytes) -> dict[int, bytes]:
    """The PDF's uncompressed objects by number (Chromium's Skia writes no object streams)."""
    return {
        int(m.group(1)): m.group(2)
        for m in re.finditer(rb"(?m)^(\d+) 0 obj\n(.*?)\nendobj", pdf, flags=re.S)
    }


def _page_order(objects: dict[int, bytes]) -> list[int]:
    [catalog] = [body for body in objects.values() if b"/Type /Catalog" in body]
    root = int(re.search(rb"/Pages (\d+) 0 R", catalog).group(1))  # type: ignore[union-attr]

    def walk(number: int) -> Iterator[int]:
        body = objects[number]
        kids = re.search(rb"/Kids \[([^\]]*)\]", body)
        if b"/Type /Pages" in body and kids:
            for kid in re.findall(rb"(\d+) 0 R", kids.group(1)):
                yield from walk(int(kid))
        else:
            yield number

    return list(walk(root))


def _destinations(pdf: bytes) -> dict[str, tuple[int, float]]:
    """Each named destination (an element id a link points at): its page (1-based) and the
    height on the page it starts at (points from the bottom)."""
    objects = _objects(pdf)
    order = {number: i + 1 for i, number in enumerate(_page_order(objects))}
    [catalog] = [body for body in objects.values() if b"/Type /Catalog" in body]
    dests = objects[int(re.search(rb"/Dests (\d+) 0 R", catalog).group(1))]  # type: ignore[union-attr]
    return {
        m.group(1).decode(): (order[int(m.group(2))], float(m.group(3)))
        for m in re.finditer(rb"/([\w-]+) \[(\d+) 0 R /XYZ [\d.]+ ([\d.]+)", dests)
    }


def _with_chart_anchors(page: str) -> tuple[str, list[str]]:
    """The bulletin with an id on each fund's first and last chart, and links to them, so that
    the PDF carries their destinations too (Chromium writes one per linked id)."""
    funds = re.findall(r'<section class="fund" id="([^"]+)"', page)

    def mark(m: re.Match[str]) -> str:
        fund = m.group(1)
        body = m.group(2)
        plain = '<figure class="chart-box">'
        body = body.replace(plain, f'<figure class="chart-box" id="{fund}--first">', 1)
        head, sep, tail = body.rpartition(plain)  # the last chart (of three)
        body = head + (f'<figure class="chart-box" id="{fund}--last">' if sep else "") + tail
        return f'<section class="fund" id="{fund}">{body}</section>'

    page = re.sub(r'<section class="fund" id="([^"]+)">(.*?)</section>', mark, page, flags=re.S)
    links = "".join(
        f'<a href="#{f}">.</a><a href="#{f}--first">.</a><a href="#{f}--last">.</a>' for f in funds
    )
    return page.replace("</body>", f"<p>{links}</p></body>"), funds


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_funds_heading_is_printed_with_its_charts(
    pages: dict[str, Path], lang: str, tmp_path: Path
) -> None:
    printer = pdf_renderer()
    assert printer is not None
    page, funds = _with_chart_anchors(pages[lang].read_text(encoding="utf-8"))
    source, pdf = tmp_path / "bulletin.html", tmp_path / "bulletin.pdf"
    source.write_text(page, encoding="utf-8")
    printer(source, pdf)
    where = _destinations(pdf.read_bytes())
    assert len(funds) == 10 and all(f in where for f in funds), sorted(where)
    apart = {
        f: (where[f], where[f"{f}--first"], where[f"{f}--last"])
        for f in funds
        if not where[f][0] == where[f"{f}--first"][0] == where[f"{f}--last"][0]
    }
    assert not apart  # fund → (heading, first chart, last chart) as (page, height)
