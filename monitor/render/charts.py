"""The bulletin's charts: one chart description, drawn as inline SVG or as PNG (pure).

`fund_charts` builds a fund's three charts (payable months with the forecast fan and the
threshold lines, the balance path, monthly income and expenditure) as `ChartView`s: the
words around each chart, its inline SVG, and its `ChartSpec` for the PNG.

A `ChartSpec` holds numbers only: months on the x axis, lines, bands, bars and horizontal
threshold lines in one display unit. `chart_svg` draws it for the HTML bulletin (a few KB
of markup, no script, scaled by the browser); `chart_png` draws the same picture for the
e-mail edition, where SVG is not shown by Outlook-class clients.

Neither drawing contains words: titles, legends and units stay in the HTML around the
chart, where the reader's own fonts render Chinese. The only text inside a chart is digits
and years, which the font bundled with Pillow covers, so a PNG made on a server without any
CJK font is still right.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from markupsafe import Markup

from monitor.core.money import display_unit, unit_label, unit_scale
from monitor.core.months import month_from_index
from monitor.core.vocabulary import (
    FORECAST_CENTER,
    exhausted_word,
    forecast_center_label,
    level_badge,
    number,
)

if TYPE_CHECKING:
    from PIL import ImageDraw

    from monitor.core.thresholds import ThresholdProfile

# Colours shared by both drawings (and by the HTML legends that explain them).
PALETTE: dict[str, str] = {
    "actual": "#1f3a5f",
    "forecast": "#1f3a5f",
    "band80": "#7b9cc4",
    "band95": "#c5d4e8",
    "income": "#2a9d8f",
    "expenditure": "#d1603d",
    "income_fc": "#9fd3cc",
    "expenditure_fc": "#efb7a5",
    "red": "#c0392b",
    "orange": "#e67e22",
    "yellow": "#d4a20b",
    "notice": "#7f8c8d",
    "grid": "#e3e6ea",
    "axis": "#5c6670",
    "zero": "#444444",
    "forecast_bg": "#f4f6f9",
}
DASHED = frozenset({"forecast", "notice"})

WIDTH, HEIGHT = 480, 220  # the drawing's own units (SVG viewBox; PNG pixels at scale 1)
LEFT, RIGHT, TOP, BOTTOM = 50, 10, 10, 24
FONT = 12


@dataclass(frozen=True)
class Line:
    role: str  # a PALETTE key; "forecast" and "notice" are dashed
    values: tuple[float | None, ...]  # one per month (None: no point)


@dataclass(frozen=True)
class Band:
    role: str
    lo: tuple[float | None, ...]
    hi: tuple[float | None, ...]


@dataclass(frozen=True)
class Bars:
    role: str
    values: tuple[float | None, ...]
    forecast_role: str | None = None  # the colour from ChartSpec.forecast_from on


@dataclass(frozen=True)
class HLine:
    role: str
    value: float


@dataclass(frozen=True)
class ChartSpec:
    """What to draw. All series have one value per entry of `months`."""

    months: tuple[str, ...]  # 'YYYY-MM'
    forecast_from: int | None = None  # index of the first forecast month (shaded from there)
    bands: tuple[Band, ...] = ()
    bars: tuple[Bars, ...] = ()  # drawn side by side within a month
    lines: tuple[Line, ...] = ()
    hlines: tuple[HLine, ...] = ()
    include_zero: bool = False
    y_floor: float | None = None  # the y axis starts no higher than this
    y_ceiling: float | None = None  # … and ends no lower than this
    digits: int | None = None  # tick label decimals (default: from the step)
    label: str = field(default="", compare=False)  # for accessibility only (aria-label)


# ---------------------------------------------------------------- geometry
def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2, 2.5 or 5 × 10^k."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi - lo < 1e-9:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = magnitude * 10
    for m in (1, 2, 2.5, 5, 10):
        if (hi - lo) / (m * magnitude) <= count:
            step = m * magnitude
            break
    start = math.floor(lo / step + 1e-9) * step
    end = math.ceil(hi / step - 1e-9) * step
    n = round((end - start) / step)
    return [start + i * step for i in range(n + 1)]


def tick_text(value: float, step: float, digits: int | None = None) -> str:
    """A tick label with as many decimals as the step needs (2.5 → 1, 0.25 → 2)."""
    if digits is None:
        digits = next((d for d in range(5) if abs(step * 10**d - round(step * 10**d)) < 1e-6), 4)
    text = f"{value:,.{digits}f}"
    return "0" if text.strip("-0.,") == "" else text


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


@dataclass(frozen=True)
class Frame:
    """Where things go: month i → x, value → y, and the ticks of both axes."""

    n: int
    y_ticks: tuple[float, ...]
    x_labels: tuple[tuple[float, str], ...]  # (month position, label)
    x_major: tuple[int, ...]  # months with a tick at their left edge
    x_minor: tuple[int, ...]
    digits: int | None

    @property
    def y_lo(self) -> float:
        return self.y_ticks[0]

    @property
    def y_hi(self) -> float:
        return self.y_ticks[-1]

    def x(self, i: float) -> float:
        """Centre of month i."""
        width = WIDTH - LEFT - RIGHT
        return LEFT + (i + 0.5) * width / max(self.n, 1)

    @property
    def slot(self) -> float:
        return (WIDTH - LEFT - RIGHT) / max(self.n, 1)

    def y(self, v: float) -> float:
        height = HEIGHT - TOP - BOTTOM
        span = self.y_hi - self.y_lo or 1.0
        return TOP + (self.y_hi - v) * height / span


def frame(spec: ChartSpec) -> Frame:
    values: list[float] = []
    for line in spec.lines:
        values += _finite(line.values)
    for band in spec.bands:
        values += _finite(band.lo) + _finite(band.hi)
    for bars in spec.bars:
        values += _finite(bars.values)
        values.append(0.0)  # bars stand on zero
    values += [h.value for h in spec.hlines]
    if spec.include_zero:
        values.append(0.0)
    if spec.y_floor is not None:
        values.append(spec.y_floor)
    if spec.y_ceiling is not None:
        values.append(spec.y_ceiling)
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    ticks = nice_ticks(lo, hi)
    n = len(spec.months)
    labels, major, minor = _month_ticks(spec.months)
    return Frame(n, tuple(ticks), labels, major, minor, spec.digits)


def _month_ticks(
    months: Sequence[str],
) -> tuple[tuple[tuple[float, str], ...], tuple[int, ...], tuple[int, ...]]:
    """(labels at month positions, major tick months, minor tick months).

    Long axes: each year's label under the middle of its months (a year with fewer than four
    months shown goes unlabelled), a tick at each January. Short axes: 'YYYY-MM' every three
    months.
    """
    if len(months) >= 18:
        years: dict[str, list[int]] = {}
        for i, m in enumerate(months):
            years.setdefault(m[:4], []).append(i)
        labels = tuple(
            ((idx[0] + idx[-1]) / 2, year) for year, idx in years.items() if len(idx) >= 4
        )
        major = tuple(i for i, m in enumerate(months) if m.endswith("-01") and i > 0)
        minor = tuple(i for i, m in enumerate(months) if m[5:] in ("04", "07", "10"))
        return labels, major, minor
    picked = [i for i, m in enumerate(months) if int(m[5:]) % 3 == 1]
    return tuple((float(i), months[i]) for i in picked), tuple(picked), ()


def _segments(
    fr: Frame, values: Sequence[float | None], start: int = 0
) -> list[list[tuple[float, float]]]:
    """Runs of consecutive points (a None breaks the line)."""
    runs: list[list[tuple[float, float]]] = []
    run: list[tuple[float, float]] = []
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            if run:
                runs.append(run)
            run = []
            continue
        run.append((fr.x(start + i), fr.y(v)))
    if run:
        runs.append(run)
    return runs


def _band_polygons(fr: Frame, band: Band) -> list[list[tuple[float, float]]]:
    polys = []
    run_lo: list[tuple[float, float]] = []
    run_hi: list[tuple[float, float]] = []
    for i, (lo, hi) in enumerate(zip(band.lo, band.hi, strict=True)):
        if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
            if run_lo:
                polys.append(run_hi + run_lo[::-1])
            run_lo, run_hi = [], []
            continue
        run_lo.append((fr.x(i), fr.y(lo)))
        run_hi.append((fr.x(i), fr.y(hi)))
    if run_lo:
        polys.append(run_hi + run_lo[::-1])
    return polys


def _bar_width(fr: Frame, spec: ChartSpec) -> float:
    return (fr.slot * 0.8) / max(len(spec.bars), 1)


def _bar_rects(
    fr: Frame, spec: ChartSpec
) -> list[tuple[str, list[tuple[float, float, float, float]]]]:
    """Per bar series, its rectangles (x0, y0, x1, y1), side by side within each month."""
    k = len(spec.bars)
    if not k:
        return []
    gap = fr.slot * 0.2
    width = (fr.slot - gap) / k
    zero = fr.y(max(fr.y_lo, min(0.0, fr.y_hi)))
    split = spec.forecast_from if spec.forecast_from is not None else len(spec.months)
    out = []
    for j, bars in enumerate(spec.bars):
        parts: dict[str, list[tuple[float, float, float, float]]] = {}
        for i, v in enumerate(bars.values):
            if v is None or not math.isfinite(v):
                continue
            x0 = LEFT + i * fr.slot + gap / 2 + j * width
            y = fr.y(v)
            role = bars.forecast_role if i >= split and bars.forecast_role else bars.role
            parts.setdefault(role, []).append((x0, min(y, zero), x0 + width, max(y, zero)))
        out += list(parts.items())
    return out


# ---------------------------------------------------------------- SVG
# The SVG is written on a grid twice as fine as the drawing units, in whole numbers, with
# relative path steps: a province's bulletin holds ~900 charts, and this keeps each at about
# 1.5 kB without a visible difference.
K = 2


def _i(v: float) -> int:
    return round(v * K)


def _path(points: Sequence[tuple[float, float]], close: bool = False) -> str:
    """'M x y l dx dy …' on the integer grid (relative steps between rounded points)."""
    pts = [(_i(x), _i(y)) for x, y in points]
    out = [f"M{pts[0][0]} {pts[0][1]}"]
    steps = []
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        steps.append(f"{x1 - x0} {y1 - y0}")
    if steps:
        out.append("l" + " ".join(steps))
    if close:
        out.append("Z")
    return "".join(out).replace(" -", "-")


def chart_svg(spec: ChartSpec, *, label: str = "") -> str:
    """The chart as an inline `<svg>` element (presentation attributes only, no CSS)."""
    from markupsafe import escape

    fr = frame(spec)
    p = PALETTE
    bottom = HEIGHT - BOTTOM
    left, right = _i(LEFT), _i(WIDTH - RIGHT)
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH * K} {HEIGHT * K}"'
        f' xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label or spec.label)}"'
        f' font-size="{FONT * K}" font-family="Helvetica,Arial,sans-serif">'
    ]
    if spec.forecast_from is not None and spec.forecast_from < fr.n:
        x0 = _i(LEFT + spec.forecast_from * fr.slot)
        out.append(
            f'<rect x="{x0}" y="{_i(TOP)}" width="{right - x0}" height="{_i(bottom) - _i(TOP)}"'
            f' fill="{p["forecast_bg"]}"/>'
        )
    grid = "".join(f"M{left} {_i(fr.y(t))}H{right}" for t in fr.y_ticks)
    out.append(f'<path d="{grid}" stroke="{p["grid"]}" stroke-width="{K}"/>')
    step = fr.y_ticks[1] - fr.y_ticks[0] if len(fr.y_ticks) > 1 else 1.0
    labels = "".join(
        f'<text x="{_i(LEFT - 5)}" y="{_i(fr.y(t) + 4)}">{tick_text(t, step, fr.digits)}</text>'
        for t in fr.y_ticks
    )
    out.append(f'<g fill="{p["axis"]}" text-anchor="end">{labels}</g>')
    for band in spec.bands:
        for poly in _band_polygons(fr, band):
            out.append(f'<path d="{_path(poly, close=True)}" fill="{p[band.role]}"/>')
    bar_width = _bar_width(fr, spec)
    for role, rects in _bar_rects(fr, spec):
        # a bar is a vertical stroke as wide as the bar: "M x y0 v h" is a third of a rectangle
        d = "".join(f"M{_i((x0 + x1) / 2)} {_i(y1)}v{_i(y0) - _i(y1)}" for x0, y0, x1, y1 in rects)
        out.append(f'<path d="{d}" stroke="{p[role]}" stroke-width="{bar_width * K:.1f}"/>')
    if fr.y_lo < 0 < fr.y_hi:
        out.append(
            f'<path d="M{left} {_i(fr.y(0))}H{right}" stroke="{p["zero"]}" stroke-width="{K}"/>'
        )
    for h in spec.hlines:
        if fr.y_lo <= h.value <= fr.y_hi:
            out.append(
                f'<path d="M{left} {_i(fr.y(h.value))}H{right}" stroke="{p[h.role]}"'
                f' stroke-width="{1.5 * K:g}" stroke-dasharray="{6 * K} {3 * K}"/>'
            )
    for line in spec.lines:
        dash = f' stroke-dasharray="{5 * K} {3 * K}"' if line.role in DASHED else ""
        for run in _segments(fr, line.values):
            if len(run) == 1:
                x, y = run[0]
                out.append(
                    f'<circle cx="{_i(x)}" cy="{_i(y)}" r="{2.5 * K:g}" fill="{p[line.role]}"/>'
                )
                continue
            out.append(
                f'<path d="{_path(run)}" stroke="{p[line.role]}" stroke-width="{2 * K}"'
                f' fill="none" stroke-linejoin="round"{dash}/>'
            )
    axis = f"M{left} {_i(bottom)}H{right}" + "".join(
        f"M{_i(fr.x(i) - fr.slot / 2)} {_i(bottom)}v{5 * K}" for i in fr.x_major
    )
    axis += "".join(f"M{_i(fr.x(i) - fr.slot / 2)} {_i(bottom)}v{2 * K}" for i in fr.x_minor)
    out.append(f'<path d="{axis}" stroke="{p["axis"]}" stroke-width="{K}" fill="none"/>')
    xlabels = "".join(
        f'<text x="{_i(fr.x(i))}" y="{_i(bottom + 17)}">{text}</text>' for i, text in fr.x_labels
    )
    out.append(f'<g fill="{p["axis"]}" text-anchor="middle">{xlabels}</g>')
    out.append("</svg>")
    return "".join(out)


# ---------------------------------------------------------------- PNG
def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def chart_png(spec: ChartSpec, *, scale: int = 2) -> bytes:
    """The same chart as a PNG of WIDTH×HEIGHT × `scale` pixels (drawn twice as large and
    reduced, which smooths its edges: Pillow draws without anti-aliasing)."""
    from PIL import Image, ImageDraw, ImageFont

    ss = 2 * scale  # supersampling factor while drawing
    fr = frame(spec)
    p = PALETTE
    image = Image.new("RGB", (WIDTH * ss, HEIGHT * ss), "white")
    draw = ImageDraw.Draw(image)

    def s(v: float) -> float:
        return v * ss

    def pts(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(s(x), s(y)) for x, y in points]

    plot_bottom = HEIGHT - BOTTOM
    if spec.forecast_from is not None and spec.forecast_from < fr.n:
        x0 = LEFT + spec.forecast_from * fr.slot
        draw.rectangle(
            (s(x0), s(TOP), s(WIDTH - RIGHT), s(plot_bottom)), fill=_rgb(p["forecast_bg"])
        )
    for t in fr.y_ticks:
        draw.line(
            (s(LEFT), s(fr.y(t)), s(WIDTH - RIGHT), s(fr.y(t))), fill=_rgb(p["grid"]), width=ss
        )
    for band in spec.bands:
        for poly in _band_polygons(fr, band):
            draw.polygon(pts(poly), fill=_rgb(p[band.role]))
    for role, rects in _bar_rects(fr, spec):
        for x0, y0, x1, y1 in rects:
            draw.rectangle((s(x0), s(y0), s(x1), s(y1)), fill=_rgb(p[role]))
    if fr.y_lo < 0 < fr.y_hi:
        y0 = s(fr.y(0))
        draw.line((s(LEFT), y0, s(WIDTH - RIGHT), y0), fill=_rgb(p["zero"]), width=ss)
    for h in spec.hlines:
        if fr.y_lo <= h.value <= fr.y_hi:
            y = fr.y(h.value)
            _dashed(draw, [(LEFT, y), (WIDTH - RIGHT, y)], s, p[h.role], 1.5 * ss, (6, 3))
    for line in spec.lines:
        for run in _segments(fr, line.values):
            if len(run) == 1:
                x, y = run[0]
                r = 2.5 * ss
                draw.ellipse((s(x) - r, s(y) - r, s(x) + r, s(y) + r), fill=_rgb(p[line.role]))
            elif line.role in DASHED:
                _dashed(draw, run, s, p[line.role], 2 * ss, (5, 3))
            else:
                draw.line(pts(run), fill=_rgb(p[line.role]), width=2 * ss, joint="curve")
    axis = _rgb(p["axis"])
    draw.line((s(LEFT), s(plot_bottom), s(WIDTH - RIGHT), s(plot_bottom)), fill=axis, width=ss)
    font = ImageFont.load_default(size=FONT * ss)
    step = fr.y_ticks[1] - fr.y_ticks[0] if len(fr.y_ticks) > 1 else 1.0
    for t in fr.y_ticks:
        draw.text(
            (s(LEFT - 5), s(fr.y(t))),
            tick_text(t, step, fr.digits),
            fill=axis,
            font=font,
            anchor="rm",
        )
    for i in fr.x_major:
        x = fr.x(i) - fr.slot / 2
        draw.line((s(x), s(plot_bottom), s(x), s(plot_bottom + 5)), fill=axis, width=ss)
    for pos, text in fr.x_labels:
        draw.text((s(fr.x(pos)), s(plot_bottom + 13)), text, fill=axis, font=font, anchor="mm")
    for i in fr.x_minor:
        x = fr.x(i) - fr.slot / 2
        draw.line((s(x), s(plot_bottom), s(x), s(plot_bottom + 2)), fill=axis, width=ss)
    image = image.reduce(ss // scale)  # box filter: the supersampled edges become smooth
    # Full colour, not a palette: Pillow's fast quantiser merges white with the pale forecast
    # shading, and its exact ones cost three times the drawing (a province mails 36 charts).
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _dashed(
    draw: ImageDraw.ImageDraw,
    points: Sequence[tuple[float, float]],
    s: Callable[[float], float],
    colour: str,
    width: float,
    pattern: tuple[float, float],
) -> None:
    """A dashed polyline (Pillow draws only solid lines)."""
    on, off = pattern
    phase, drawing = 0.0, True
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        length = math.hypot(x1 - x0, y1 - y0)
        pos = 0.0
        while pos < length:
            left = (on if drawing else off) - phase
            step = min(left, length - pos)
            if drawing:
                a, b = pos / length, (pos + step) / length
                draw.line(
                    (
                        s(x0 + (x1 - x0) * a),
                        s(y0 + (y1 - y0) * a),
                        s(x0 + (x1 - x0) * b),
                        s(y0 + (y1 - y0) * b),
                    ),
                    fill=_rgb(colour),
                    width=round(width),
                )
            pos += step
            phase += step
            if phase >= (on if drawing else off) - 1e-9:
                phase, drawing = 0.0, not drawing


# ---------------------------------------------------------------- one fund's charts
class Month(Protocol):
    """A ledger month as the charts read it (monitor.render.bulletin.MonthFigures)."""

    @property
    def month(self) -> str: ...
    @property
    def income(self) -> float: ...  # yuan
    @property
    def expenditure(self) -> float: ...
    @property
    def balance(self) -> float: ...
    @property
    def payable_months(self) -> float | None: ...


@dataclass(frozen=True)
class LegendItem:
    label: str
    role: str  # the colour's name in PALETTE (CSS class k-<role>)
    color: str
    mark: str  # "━" line, "┅" dashed line, "■" area or bar


@dataclass(frozen=True)
class ChartView:
    """A chart as the templates show it: words around it, and its drawing."""

    id: str
    cid: str  # Content-ID of its PNG in the e-mail edition
    title: str
    unit: str
    legend: tuple[LegendItem, ...]
    svg: Markup  # the inline drawing; carries the chart's name as its aria-label
    spec: ChartSpec = field(repr=False)  # drawn again as PNG for the e-mail


_RANK = {"yellow": 1, "orange": 2, "red": 3}


def _axis_months(history: Sequence[Month], forecast: Sequence[Mapping[str, Any]]) -> list[str]:
    def idx(m: str) -> int:
        return int(m[:4]) * 12 + int(m[5:7]) - 1

    months = [h.month for h in history] + [str(r["month"]) for r in forecast]
    if not months:
        return []
    return [month_from_index(i) for i in range(idx(months[0]), idx(months[-1]) + 1)]


def _money_unit(values: Sequence[float | None], lang: str) -> tuple[float, str]:
    """The scale and heading of an amount axis: the unit its biggest value is shown in."""
    unit = display_unit(max((abs(x) for x in _finite(values)), default=0.0), "auto", lang)
    return unit_scale(unit, lang), unit_label(unit, lang)


def payable_thresholds(profile: ThresholdProfile, region: str, fund: str) -> list[HLine]:
    """Per colour, the payable-months thresholds of the rules that apply to this fund (and the
    notice of excess balance); a rule's `all`/`any` parts count too."""
    lines: dict[float, str] = {}
    for rule in profile.rules_for(region, fund):
        for c in rule.conditions():
            if c.name != "payable_months":
                continue
            role = rule.level.value if rule.level is not None else "notice"
            if (role == "notice") != (c.op in (">", ">=")):
                continue
            if role != "notice" and _RANK.get(lines.get(c.value, ""), 0) > _RANK[role]:
                continue
            lines[float(c.value)] = role
    return [HLine(role, value) for value, role in sorted(lines.items())]


def _unit_label(unit: str, lang: str) -> str:
    return f"单位：{unit}" if lang == "zh" else f"Unit: {unit}"


def _legend(lang: str, *items: tuple[str, str, str, str]) -> tuple[LegendItem, ...]:
    return tuple(
        LegendItem(zh if lang == "zh" else en, role, PALETTE[role], mark)
        for role, mark, zh, en in items
    )


def _center_words() -> tuple[str, str]:
    """The forecast line's name in the legends, the one every output gives it (预测均值)."""
    return forecast_center_label("zh"), forecast_center_label("en")


def _exhausted_item(zh_at: str, en_at: str) -> tuple[tuple[str, str, str, str], ...]:
    """The legend entry that names the zero line when a chart reaches it from above or
    goes below it: the balance is exhausted there."""
    return (
        (
            "zero",
            "━",
            f"{zh_at}：{exhausted_word('zh')}（结余 < 0）",
            f"{en_at}: {exhausted_word('en')} (balance < 0)",
        ),
    )


def fund_charts(
    history: Sequence[Month],
    forecast: Sequence[Mapping[str, Any]],
    thresholds: Sequence[HLine],
    *,
    lang: str,
    chart_id: str,
    cid_tail: str,
    title: str,
) -> tuple[ChartView, ...]:
    """One fund's three charts: payable months (history, forecast fan, thresholds), the
    balance path, monthly income and expenditure. `history` is the months to show, oldest
    first; `forecast` the `months` of `forecast_report.outlook_json`; words in `lang`."""
    history = list(history)
    forecast = list(forecast)
    months = _axis_months(history, forecast)
    if not months:
        return ()
    pos = {m: i for i, m in enumerate(months)}
    n = len(months)
    split = pos[forecast[0]["month"]] if forecast and forecast[0]["month"] in pos else None
    last_i = pos[history[-1].month] if history else None

    def series(values: Mapping[str, float | None]) -> tuple[float | None, ...]:
        return tuple(values.get(m) for m in months)

    def joined(
        key: str, actual: float | None, scale: float = 1.0, floor: float | None = None
    ) -> tuple[float | None, ...]:
        """A forecast series starting from the last actual point, so the fan leaves it;
        values below `floor` drawn at it."""
        vals: dict[str, float | None] = {}
        if history and actual is not None:
            vals[history[-1].month] = actual / scale
        for r in forecast:
            v = number(r.get(key))
            vals[str(r["month"])] = None if v is None else v / scale
        if floor is not None:
            vals = {m: None if x is None else max(x, floor) for m, x in vals.items()}
        return series(vals)

    title_ctx, base_id = title, chart_id
    charts = []

    # 1. payable months: history, forecast fan, thresholds. Below zero the balance is gone:
    # payable months are drawn at 0 there and the legend says so (never a bare -2.8).
    center = FORECAST_CENTER["payable"]
    below_zero = any(v is not None and v < 0 for v in [h.payable_months for h in history]) or any(
        (v := number(r.get(k))) is not None and v < 0
        for r in forecast
        for k in (center, "payable_lo80", "payable_hi80", "payable_lo95", "payable_hi95")
    )
    actual_pm = {
        h.month: None if h.payable_months is None else max(h.payable_months, 0.0) for h in history
    }
    last_pm = actual_pm[history[-1].month] if history else None
    hlines = list(thresholds)
    data_max = max(
        [v for v in actual_pm.values() if v is not None]
        + [v for r in forecast if (v := number(r.get("payable_hi80"))) is not None],
        default=0.0,
    )
    hlines = [h for h in hlines if h.role != "notice" or data_max >= 0.8 * h.value]
    spec = ChartSpec(
        months=tuple(months),
        forecast_from=split,
        bands=(
            Band(
                "band95",
                joined("payable_lo95", last_pm, floor=0.0),
                joined("payable_hi95", last_pm, floor=0.0),
            ),
            Band(
                "band80",
                joined("payable_lo80", last_pm, floor=0.0),
                joined("payable_hi80", last_pm, floor=0.0),
            ),
        )
        if forecast
        else (),
        lines=(
            Line("actual", series(actual_pm)),
            *((Line("forecast", joined(center, last_pm, floor=0.0)),) if forecast else ()),
        ),
        hlines=tuple(hlines),
        include_zero=True,
        digits=None,
    )
    words = {role: level_badge(role, lang) for role in ("red", "orange", "yellow", "notice")}
    threshold_items = [
        (
            h.role,
            "┅",
            f"{words[h.role]}{'阈值' if h.role != 'notice' else '（结余过多）'} {h.value:g} 个月",
            f"{words[h.role]} threshold {h.value:g} months"
            if h.role != "notice"
            else f"excess balance above {h.value:g} months",
        )
        for h in hlines
    ]
    title = "可支付月数" if lang == "zh" else "Payable months"
    charts.append(
        _chart_view(
            f"{base_id}-payable",
            cid_tail,
            title,
            "单位：个月" if lang == "zh" else "Unit: months",
            _legend(
                lang,
                ("actual", "━", "实际", "actual"),
                *(
                    (
                        ("forecast", "┅", *_center_words()),
                        ("band80", "■", "80% 区间", "80% band"),
                        ("band95", "■", "95% 区间", "95% band"),
                    )
                    if forecast
                    else ()
                ),
                *threshold_items,
                *(_exhausted_item("0 个月", "0 months") if below_zero else ()),
            ),
            spec,
            f"{title_ctx} {title}",
        )
    )

    # 2. balance path
    bal_values = [h.balance for h in history] + [
        v
        for r in forecast
        for k in ("balance_lo95", "balance_hi95", "balance_mean")
        if (v := number(r.get(k))) is not None
    ]
    scale, unit = _money_unit(bal_values, lang)
    last_bal = history[-1].balance if history else None
    balance_below_zero = any(x < 0 for x in bal_values)
    spec = ChartSpec(
        months=tuple(months),
        forecast_from=split,
        bands=(
            Band(
                "band95",
                joined("balance_lo95", last_bal, scale),
                joined("balance_hi95", last_bal, scale),
            ),
            Band(
                "band80",
                joined("balance_lo80", last_bal, scale),
                joined("balance_hi80", last_bal, scale),
            ),
        )
        if forecast
        else (),
        lines=(
            Line("actual", series({h.month: h.balance / scale for h in history})),
            *(
                (Line("forecast", joined(FORECAST_CENTER["balance"], last_bal, scale)),)
                if forecast
                else ()
            ),
        ),
        include_zero=True,
    )
    title = "期末累计结余" if lang == "zh" else "Cumulative balance"
    charts.append(
        _chart_view(
            f"{base_id}-balance",
            cid_tail,
            title,
            _unit_label(unit, lang),
            _legend(
                lang,
                ("actual", "━", "实际", "actual"),
                *(
                    (
                        ("forecast", "┅", *_center_words()),
                        ("band80", "■", "80% 区间", "80% band"),
                        ("band95", "■", "95% 区间", "95% band"),
                    )
                    if forecast
                    else ()
                ),
                *(_exhausted_item("0", "0") if balance_below_zero else ()),
            ),
            spec,
            f"{title_ctx} {title}",
        )
    )

    # 3. monthly income and expenditure
    flows = [h.income for h in history] + [h.expenditure for h in history]
    flows += [
        v
        for r in forecast
        for k in ("income_mean", "expenditure_mean")
        if (v := number(r.get(k))) is not None
    ]
    scale, unit = _money_unit(flows, lang)

    def flow(attr: str, key: str) -> tuple[float | None, ...]:
        vals: dict[str, float | None] = {h.month: getattr(h, attr) / scale for h in history}
        for r in forecast:
            v = number(r.get(key))
            vals[str(r["month"])] = None if v is None else v / scale
        return series(vals)

    spec = ChartSpec(
        months=tuple(months),
        forecast_from=split if split is not None else (last_i + 1 if last_i is not None else n),
        bars=(
            Bars("income", flow("income", "income_mean"), "income_fc"),
            Bars("expenditure", flow("expenditure", "expenditure_mean"), "expenditure_fc"),
        ),
    )
    title = "月度收入与支出" if lang == "zh" else "Monthly income and expenditure"
    charts.append(
        _chart_view(
            f"{base_id}-flows",
            cid_tail,
            title,
            _unit_label(unit, lang),
            _legend(
                lang,
                ("income", "■", "收入", "income"),
                ("expenditure", "■", "支出", "expenditure"),
                *(
                    (
                        ("income_fc", "■", "收入（预测）", "income (forecast)"),
                        ("expenditure_fc", "■", "支出（预测）", "expenditure (forecast)"),
                    )
                    if forecast
                    else ()
                ),
            ),
            spec,
            f"{title_ctx} {title}",
        )
    )
    return tuple(charts)


def _chart_view(
    chart_id: str,
    cid_tail: str,
    title: str,
    unit: str,
    legend: tuple[LegendItem, ...],
    spec: ChartSpec,
    alt: str,
) -> ChartView:
    return ChartView(
        id=chart_id,
        cid=f"{chart_id}.{cid_tail}",
        title=title,
        unit=unit,
        legend=legend,
        svg=Markup(chart_svg(spec, label=alt)),  # numbers only; chart_svg escapes the label
        spec=spec,
    )
