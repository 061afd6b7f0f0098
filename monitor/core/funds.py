"""The fund catalogue: configured fund keys with their Chinese names and aliases."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fund:
    key: str
    name: str  # full Chinese name, as in official reports
    short: str  # the short name analysts use in tables
    name_en: str
    aliases: tuple[str, ...] = field(default=())

    def names(self) -> tuple[str, ...]:
        return (self.key, self.name, self.short, self.name_en, *self.aliases)


DEFAULT_FUNDS: tuple[Fund, ...] = (
    Fund(
        "employee",
        "职工基本医疗保险统筹基金",
        "职工医保",
        "Employee basic medical insurance pooled fund",
        ("职工基本医疗保险", "职工基本医疗保险基金", "职工医疗保险", "职工统筹基金", "职工"),
    ),
    Fund(
        "resident",
        "城乡居民基本医疗保险基金",
        "居民医保",
        "Urban and rural resident basic medical insurance fund",
        ("城乡居民基本医疗保险", "城乡居民医保", "城乡居民医疗保险", "居民基本医疗保险", "居民"),
    ),
    Fund("maternity", "生育保险基金", "生育保险", "Maternity insurance fund", ("生育保险", "生育")),
    Fund(
        "critical_illness",
        "城乡居民大病保险",
        "大病保险",
        "Critical illness insurance",
        ("大病保险资金", "大病"),
    ),
    Fund(
        "long_term_care",
        "长期护理保险基金",
        "长护险",
        "Long-term care insurance fund",
        ("长期护理保险", "长护保险"),
    ),
)


# What offices add to a fund's name without changing the fund: "城镇职工基本医疗保险统筹
# 基金" is 职工基本医疗保险, "职工基本医疗保险（含生育保险）" too (maternity merged into it).
_BRACKETED = re.compile(r"\([^()]*\)")
_AFFIXES = re.compile(r"^城镇|(?:统筹基金|基金|资金|统筹)$")


def _norm(text: str, *, remarks: bool = True) -> str:
    """A fund name as compared: full-width folded (NFKC), no spaces, lower case, without the
    affixes above (unless nothing else is left) and, unless `remarks`, bracketed remarks."""
    text = "".join(unicodedata.normalize("NFKC", text).split()).lower()
    if not remarks:
        text = _BRACKETED.sub("", text) or text
    while (bare := _AFFIXES.sub("", text)) != text and bare:
        text = bare
    return text


class FundCatalogue:
    """Looks funds up by key or by any of their names, ignoring spaces, case, full-width forms
    and what offices add to a name (`_AFFIXES`); a bracketed remark is ignored only where the
    name with it names no fund (two configured funds may differ by a remark alone)."""

    def __init__(self, funds: Iterable[Fund] = DEFAULT_FUNDS) -> None:
        self.funds: dict[str, Fund] = {}
        self._lookup: dict[str, str] = {}
        self._loose: dict[str, str] = {}  # names without their remarks
        for fund in funds:
            self.funds[fund.key] = fund
            for name in fund.names():
                self._lookup.setdefault(_norm(name), fund.key)
                self._loose.setdefault(_norm(name, remarks=False), fund.key)

    def key_for(self, text: str) -> str | None:
        key = self._lookup.get(_norm(text))
        return key if key is not None else self._loose.get(_norm(text, remarks=False))

    def named_in(self, text: str) -> set[str]:
        """The funds a title names ("池州市城乡居民基本医疗保险基金收支月报" → {'resident'}).
        A name inside a longer one found there counts once, as the longer one (居民 in
        城乡居民大病保险 is the critical-illness fund); a remark in brackets does not count."""
        folded = "".join(unicodedata.normalize("NFKC", text).split()).lower()
        folded = _BRACKETED.sub("", folded)
        if "个人账户" in folded:
            return set()  # the personal accounts are not the pooled fund the title also names
        spans: list[tuple[int, int, str]] = []
        for name, key in self._loose.items():
            if len(name) < 2 or name.isascii():
                continue  # "employee" inside an English title is not how offices name funds
            start = folded.find(name)
            while start >= 0:
                spans.append((start, start + len(name), key))
                start = folded.find(name, start + 1)
        return {
            key
            for a, b, key in spans
            if not any(c <= a and b <= d and (c, d) != (a, b) for c, d, _ in spans)
        }

    def __getitem__(self, key: str) -> Fund:
        return self.funds[key]

    def __iter__(self) -> Iterator[Fund]:
        return iter(self.funds.values())

    def __contains__(self, key: object) -> bool:
        return key in self.funds

    def describe(self) -> str:
        return "、".join(f"{f.key}（{f.short}）" for f in self.funds.values())
