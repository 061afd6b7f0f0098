"""Parents derived from codes, and the city's own ledger (市本级) as a child like the counties.

Offices report 市本级, the city-level pool, beside the counties, so the city is their sum:
市本级 + counties. The rules, applied at import to the regions the input names:

- A county-level code (not xxxx00) whose parent is not given gets the city xxxx00 as parent
  when it exists, or when at least two county-level codes of that city are known (this input
  and the store together): the city is then created. A lone county does not invent a city,
  whose roll-up would only repeat it. (Provinces are not derived: a province is the parent
  of its cities only where a file names it.)
- A derived parent is named from its children: a 市本级 child's name without 本级
  ("池州市本级" → 池州市), else the children's common prefix up to 市/州/盟/地区
  ("池州市贵池区", "池州市东至县" → 池州市). Without one it is called PLACEHOLDER and a
  warning says how to name it. (No GB/T 2260 table is shipped: the PyPI packages that carry
  one were last released in 2015–2019, and codes change every year.)
- 市本级 keyed with the city's own code (341100 named "市本级" or "池州市本级") is stored as
  the child xxxx01 (341101) under the city, with a warning saying so and what to change in
  the source; the city's code then holds the roll-up. When xxxx01 is already another region,
  the import is refused, saying which code to give 市本级 instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from monitor.core.findings import Finding
from monitor.core.rollup import OWN_POOL_CHILD
from monitor.ledger.files import RawTable
from monitor.ledger.validate import _code as region_code_text
from monitor.ledger.validate import region_level

OWN_POOL = "本级"  # in a region's name: the city-level pool (市本级)
PLACEHOLDER = "待命名统筹区"
_ADMIN_ENDINGS = ("市", "州", "盟", "地区")
MIN_CHILDREN = 2  # county-level codes that make a derived city


@dataclass
class Family:
    """What the input's regions become: codes to rewrite, regions to add or re-parent."""

    regions: pd.DataFrame  # code, name, parent_code, level: the input's, completed
    recode: dict[str, str] = field(default_factory=dict)  # 市本级 keyed as its city → xxxx01
    warnings: list[Finding] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)
    named: set[str] = field(default_factory=set)  # parents this step named (or placeholdered)


def is_own_pool(name: object) -> bool:
    return isinstance(name, str) and OWN_POOL in name


def name_from_children(names: list[str]) -> str | None:
    """The city's name from its children's: '池州市本级' → '池州市'; the common prefix of
    '池州市贵池区' and '池州市东至县' → '池州市'; None when they share no such prefix."""
    for name in names:
        if is_own_pool(name):
            stem = name.replace(OWN_POOL, "").strip()
            stem = stem[:-1] if stem.endswith("市市") else stem  # 池州市市本级
            if len(stem) >= 2 and stem.endswith(_ADMIN_ENDINGS):
                return stem
    texts = [n for n in names if isinstance(n, str) and n]
    if len(texts) < MIN_CHILDREN:
        return None
    shortest = min(texts, key=len)
    prefix = next(
        (shortest[:i] for i, ch in enumerate(shortest) if any(t[i] != ch for t in texts)),
        shortest,
    )  # the characters all names begin with
    for end in range(len(prefix), 1, -1):
        if prefix[:end].endswith(_ADMIN_ENDINGS) and all(len(t) > end for t in texts):
            return prefix[:end]
    return None


Entry = dict[str, str | None]  # name, parent_code, level


def given_parent_names(tables: Iterable[RawTable]) -> dict[str, str]:
    """Parent code → the parent name the input writes beside it (上级编码/上级名称), also for
    a parent that has rows of its own (validate names those from their rows, which for 市本级
    keyed with the city's code is "市本级", not the city)."""
    names: dict[str, str] = {}
    for table in tables:
        frame = table.frame
        if "parent_code" not in frame or "parent_name" not in frame:
            continue
        pairs = frame[["parent_code", "parent_name"]].dropna().drop_duplicates()
        for code, name in pairs.itertuples(index=False):
            key, text = region_code_text(code), str(name).strip()
            if key and text and not is_own_pool(text):
                names.setdefault(key, text)
    return names


def settle_family(
    incoming: pd.DataFrame, stored: pd.DataFrame, given: Mapping[str, str] | None = None
) -> Family:
    """Complete the input's regions (validate's `regions`) against the stored ones; `given`:
    parent names the input writes (`given_parent_names`)."""
    given = given or {}
    entries: dict[str, Entry] = {
        str(r.code): {"name": _text(r.name), "parent_code": _text(r.parent_code), "level": r.level}
        for r in incoming.itertuples(index=False)
    }
    known = {str(c): str(n) for c, n in zip(stored["code"], stored["name"], strict=True)}
    known_parent = {
        str(c): _text(p) for c, p in zip(stored["code"], stored["parent_code"], strict=True)
    }
    family = Family(regions=incoming)
    _own_pool_keyed_as_city(family, entries, known)

    # county-level codes by city prefix, with their parents (this input over the store)
    counties: dict[str, dict[str, str | None]] = {}
    for code, parent in [
        *known_parent.items(),
        *((c, e["parent_code"]) for c, e in entries.items()),
    ]:
        if region_level(code) == "county":
            counties.setdefault(code[:4], {})[code] = parent

    def orphans_of(city: str) -> list[str]:
        kids = counties.get(city[:4], {})
        return [c for c, p in kids.items() if p is None or p == city]

    derived: list[str] = []
    for code in list(entries):
        entry = entries[code]
        if entry["parent_code"] is not None or region_level(code) != "county":
            continue
        city = code[:4] + "00"
        exists = city in entries or city in known
        if not exists and len(orphans_of(city)) < MIN_CHILDREN:
            continue
        entry["parent_code"] = city
        if not exists:
            entries[city] = {"name": None, "parent_code": None, "level": "city"}
            derived.append(city)
    for city in derived:  # stored counties without a parent join the city this input derived
        for child in orphans_of(city):
            if child not in entries:
                entries[child] = {"name": known[child], "parent_code": city, "level": "county"}
    _name_parents(family, entries, known, known_parent, set(derived), given)
    family.regions = pd.DataFrame(
        [{"code": c, **e} for c, e in sorted(entries.items())],
        columns=["code", "name", "parent_code", "level"],
        dtype=object,
    )
    return family


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _own_pool_keyed_as_city(
    family: Family, entries: dict[str, Entry], known: dict[str, str]
) -> None:
    for code, entry in list(entries.items()):
        name = entry["name"] or known.get(code)
        if region_level(code) != "city" or not is_own_pool(name):
            continue
        child = code[:4] + OWN_POOL_CHILD
        # 341101 in this input as well, or stored as something other than 市本级
        here = entries[child]["name"] or child if child in entries else None
        stored_as = known.get(child)
        other = here or (stored_as if stored_as and not is_own_pool(stored_as) else None)
        if other is not None:
            family.errors.append(
                Finding(
                    "error",
                    "own_pool_code",
                    f"{name}（{code}）用了市的编码；市本级应作为下级与各县区并列，"
                    f"但 {child} 已是 {other}",
                    region_code=code,
                    column="region_code",
                    value=code,
                    expected=f"给市本级一个未用的下级编码（如 {code[:4]}99）填在统筹区编码列，"
                    f"上级编码填 {code}；市的汇总 = 市本级 + 各县区",
                )
            )
            continue
        family.recode[code] = child
        family.warnings.append(
            Finding(
                "warning",
                "own_pool_recoded",
                f"{name}（{code}）用了市的编码，已按市本级存为下级 {child}，"
                f"{code} 为汇总（市本级 + 各县区）。请在来源中把 {code} {name} 的编码"
                f"改为 {child}（上级编码填 {code}），此提示即不再出现",
                region_code=child,
            )
        )
        parent = entry["parent_code"]
        entries[child] = {"name": name, "parent_code": code, "level": region_level(child)}
        entries[code] = {
            "name": None,
            "parent_code": parent if parent != code else None,
            "level": "city",
        }


def _name_parents(
    family: Family,
    entries: dict[str, Entry],
    known: dict[str, str],
    known_parent: dict[str, str | None],
    derived: set[str],
    given: Mapping[str, str],
) -> None:
    """Name the parents nobody named: as the input's parent-name column does, or as the store
    does, else from the children, else PLACEHOLDER."""
    made = derived | set(family.recode)
    for code, entry in entries.items():
        stored_name = known.get(code)
        if entry["name"]:
            continue
        if code in given:
            entry["name"] = given[code]
            continue
        if stored_name and stored_name != PLACEHOLDER:
            continue  # the store's name stands
        kids = [c for c, e in entries.items() if e["parent_code"] == code]
        kids += [c for c, p in known_parent.items() if p == code and c not in entries]
        names = [entries[c]["name"] if c in entries else known.get(c) for c in kids]
        found = name_from_children([n for n in names if n])
        if found is None and code not in made:
            continue  # a parent named by code in the file: validate's warning says so
        entry["name"] = found or PLACEHOLDER
        family.named.add(code)
        listed = "、".join(sorted(kids)[:6]) + ("等" if len(kids) > 6 else "")
        how = "由下级编码推出" if code in made else "未给名称的"
        if found:
            family.warnings.append(
                Finding(
                    "warning",
                    "parent_named",
                    f"{how}上级统筹区 {code} 按下级（{listed}）的名称命名为 {found}",
                    region_code=code,
                )
            )
        else:
            family.warnings.append(
                Finding(
                    "warning",
                    "parent_unnamed",
                    f"{how}上级统筹区 {code}（下级 {listed}）名称未知，暂记为“{PLACEHOLDER}”",
                    region_code=code,
                    expected=f"在台账中加“上级编码”“上级名称”两列，写明 {code} 与市名"
                    "（如 池州市）后重新导入；或在下级名称前加市名（如 池州市贵池区）",
                )
            )
