"""Amounts: kept in integer fen (1/100 yuan) in the store, shown in 万元/亿元."""

from __future__ import annotations

from decimal import Decimal

# yuan per unit
UNITS: dict[str, int] = {"元": 1, "万元": 10_000, "亿元": 100_000_000}
_UNIT_ALIASES = {
    "元": "元", "yuan": "元", "cny": "元", "rmb": "元",
    "万元": "万元", "万": "万元", "wan": "万元", "10k": "万元", "10kyuan": "万元",
    "亿元": "亿元", "亿": "亿元", "yi": "亿元", "100m": "亿元",
}  # fmt: skip


def parse_unit(text: str) -> str | None:
    """'万元', 'wan', ' 元 ' → the canonical unit name, or None if unknown."""
    return _UNIT_ALIASES.get("".join(text.split()).lower())


def fen_to_yuan(fen: int) -> Decimal:
    return Decimal(fen) / 100


def yuan_text(fen: int) -> str:
    """Exact yuan with two decimals, for exports: 123456789 → '1234567.89'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole}.{cents:02d}"


def yuan_grouped(fen: int) -> str:
    """Exact yuan with thousands separators, for people: 123456789 → '1,234,567.89'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole:,}.{cents:02d}"


# English: amounts in CNY millions (万元 tables) or billions (亿元): (scale, suffix, heading)
_EN_UNITS = {
    "m": (1e6, " m", "CNY million"), "bn": (1e9, " bn", "CNY billion"), "元": (1.0, "", "CNY"),
}  # fmt: skip
_EN_OF = {"万元": "m", "亿元": "bn", "m": "m", "bn": "bn", "元": "元"}


def display_unit(yuan: float, unit: str = "auto", lang: str = "zh") -> str:
    """The unit an amount is shown in: `unit`, or for "auto" 亿元 from 1 亿元 up and 万元
    below (English: bn from CNY 1 bn up, m below; 万元/亿元 read as m/bn)."""
    if lang != "zh":
        return ("bn" if abs(yuan) >= 1e9 else "m") if unit == "auto" else _EN_OF[unit]
    return ("亿元" if abs(yuan) >= 1e8 else "万元") if unit == "auto" else unit


def unit_scale(unit: str, lang: str = "zh") -> float:
    """Yuan per `unit` (a `display_unit`)."""
    return _EN_UNITS[_EN_OF[unit]][0] if lang != "zh" else float(UNITS[unit])


def unit_label(unit: str, lang: str = "zh") -> str:
    """A unit as a heading names it: '万元' / 'CNY million'."""
    return _EN_UNITS[_EN_OF[unit]][2] if lang != "zh" else unit


def amount_figure(yuan: float, unit: str, digits: int = 2, lang: str = "zh") -> str:
    """The figure alone, for a table whose heading names `unit`: 1.404e9, 万元 → '140,400.00'."""
    return f"{yuan / unit_scale(unit, lang):,.{digits}f}"


def format_amount(yuan: float, unit: str = "auto", digits: int = 2, lang: str = "zh") -> str:
    """1.404e9 → '14.04亿元' (zh) or 'CNY 1.40 bn' (en); with thousands separators. The one
    formatter of amounts: tables and charts take `display_unit`/`amount_figure` from it."""
    shown = display_unit(yuan, unit, lang)
    figure = amount_figure(yuan, shown, digits, lang)
    if lang != "zh":
        return f"CNY {figure}{_EN_UNITS[_EN_OF[shown]][1]}"
    return f"{figure}{shown}"
