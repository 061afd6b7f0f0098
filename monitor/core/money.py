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


def format_amount(yuan: float, unit: str = "auto", digits: int = 2, lang: str = "zh") -> str:
    """1.404e9 → '14.04亿元' (zh) or 'CNY 1.40 bn' (en); with thousands separators."""
    if lang != "zh":
        if unit == "auto":
            unit = "bn" if abs(yuan) >= 1e9 else "m"
        scale = {"bn": 1e9, "m": 1e6, "元": 1.0, "万元": 1e6, "亿元": 1e9}[unit]
        suffix = {"bn": " bn", "m": " m", "元": "", "万元": " m", "亿元": " bn"}[unit]
        return f"CNY {yuan / scale:,.{digits}f}{suffix}"
    if unit == "auto":
        unit = "亿元" if abs(yuan) >= 1e8 else "万元"
    return f"{yuan / UNITS[unit]:,.{digits}f}{unit}"
