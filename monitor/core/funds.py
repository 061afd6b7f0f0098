"""The fund catalogue: configured fund keys with their Chinese names and aliases."""

from __future__ import annotations

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


def _norm(text: str) -> str:
    return "".join(text.split()).lower()


class FundCatalogue:
    """Looks funds up by key or by any of their names, ignoring spaces and case."""

    def __init__(self, funds: Iterable[Fund] = DEFAULT_FUNDS) -> None:
        self.funds: dict[str, Fund] = {}
        self._lookup: dict[str, str] = {}
        for fund in funds:
            self.funds[fund.key] = fund
            for name in fund.names():
                self._lookup.setdefault(_norm(name), fund.key)

    def key_for(self, text: str) -> str | None:
        return self._lookup.get(_norm(text))

    def __getitem__(self, key: str) -> Fund:
        return self.funds[key]

    def __iter__(self) -> Iterator[Fund]:
        return iter(self.funds.values())

    def __contains__(self, key: object) -> bool:
        return key in self.funds

    def describe(self) -> str:
        return "、".join(f"{f.key}（{f.short}）" for f in self.funds.values())
