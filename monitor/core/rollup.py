"""Roll-ups: a parent region without a ledger of its own gets one summed from its children.

A month is summed only when every child that reports the fund reported that month; a month
with a child missing is not summed silently but reported. Where a parent has its own ledger
and its children too, a difference between the two is a data-quality finding. Pure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitor.core.columns import DETAIL_AMOUNTS
from monitor.core.findings import Finding
from monitor.core.months import month_from_index, month_index

TOTALS = ("income", "expenditure", "balance")
MISMATCH_HINT_MONTHS = 3  # a parent disagreeing with its children this often gets the hint
OWN_POOL_CHILD = "01"  # the child code 市本级 (the city-level pool) takes: city code[:4] + this


def children_of(regions: pd.DataFrame, code: str) -> list[str]:
    """The codes whose parent is `code`, sorted."""
    return sorted(regions.loc[regions["parent_code"] == code, "code"].astype(str))


def descendants(regions: pd.DataFrame, code: str) -> list[str]:
    """Every region below `code` (children, theirs, …), sorted; what its roll-up reads."""
    found: set[str] = set()
    todo = [code]
    while todo:
        kids = [c for c in children_of(regions, todo.pop()) if c not in found and c != code]
        found.update(kids)
        todo += kids
    return sorted(found)


def _depth(regions: pd.DataFrame) -> dict[str, int]:
    parent = dict(zip(regions["code"], regions["parent_code"], strict=True))
    depth: dict[str, int] = {}
    for code in parent:
        d, seen, cur = 0, set(), parent.get(code)
        while isinstance(cur, str) and cur not in seen:
            seen.add(cur)
            d += 1
            cur = parent.get(cur)
        depth[code] = d
    return depth


def _ranges(months: list[int]) -> str:
    """[m, m+1, m+2, m+5] → '2024-01 至 2024-03、2024-06'."""
    months = sorted(months)
    parts, start = [], months[0]
    for prev, cur in zip(months, [*months[1:], None], strict=True):
        if cur is None or cur != prev + 1:
            a, b = month_from_index(start), month_from_index(prev)
            parts.append(a if a == b else f"{a} 至 {b}")
            if cur is not None:
                start = cur
    return "、".join(parts[:6]) + ("等" if len(parts) > 6 else "")


def rollup(
    ledger: pd.DataFrame,
    regions: pd.DataFrame,
    *,
    tolerance_abs_yuan: float = 100.0,
    tolerance_rel: float = 1e-4,
) -> tuple[pd.DataFrame, list[Finding]]:
    """Return the ledger with derived parent rows appended (column `derived`), and findings.

    `ledger`: region_code, fund, month, income, expenditure, balance (fen), optional details.
    `regions`: code, name, parent_code.
    """
    names = dict(zip(regions["code"], regions["name"], strict=True))
    parent_of = dict(zip(regions["code"], regions["parent_code"], strict=True))
    details = [c for c in DETAIL_AMOUNTS if c in ledger.columns]
    value_cols = [*TOTALS, *details]
    combined = ledger.assign(derived=False)
    findings: list[Finding] = []
    depth = _depth(regions)
    own = set(zip(ledger["region_code"], ledger["fund"], strict=True))

    # deepest children first, so a province sums cities that were themselves rolled up
    for level in sorted({d for d in depth.values() if d > 0}, reverse=True):
        children = [c for c, d in depth.items() if d == level]
        sub = combined[combined["region_code"].isin(children)].copy()
        if sub.empty:
            continue
        sub["parent"] = sub["region_code"].map(parent_of)
        sub = sub[sub["parent"].notna()]
        expected = sub.groupby(["parent", "fund"])["region_code"].nunique().rename("n")
        grouped = sub.groupby(["parent", "fund", "month"])
        sums = grouped[value_cols].sum(min_count=1)
        counts = grouped["region_code"].nunique().rename("reported")
        for col in details:  # a detail sums only when every child gave it
            sums.loc[grouped[col].count() < counts, col] = pd.NA
        table = sums.join(counts).join(expected, on=["parent", "fund"]).reset_index()
        complete = table["reported"] == table["n"]

        derived_rows = []
        for (parent, fund), part in table.groupby(["parent", "fund"], sort=True):
            ok = part[complete.loc[part.index]]
            missing = part[~complete.loc[part.index]]
            if (parent, fund) in own:
                findings += _compare_with_own(
                    ledger, parent, fund, ok, names, tolerance_abs_yuan, tolerance_rel
                )
                continue
            if not missing.empty:
                kids = sub[(sub["parent"] == parent) & (sub["fund"] == fund)]
                have = kids.groupby("region_code")["month"].agg(set)
                for child, months in have.items():
                    lacking = sorted(set(missing["month"]) - months)
                    if lacking:
                        findings.append(
                            Finding(
                                "warning",
                                "rollup_incomplete",
                                f"{names.get(parent, parent)}（{parent}）{fund} 的汇总缺少下级 "
                                f"{names.get(child, child)}（{child}）"
                                f"{_ranges(list(month_index(pd.Series(lacking))))} "
                                "的数据，这些月份未汇总",
                                region_code=str(child),
                                fund=str(fund),
                                month=lacking[0],
                            )
                        )
            if not ok.empty:
                derived_rows.append(
                    ok.assign(region_code=parent)[["region_code", "fund", "month", *value_cols]]
                )
        if derived_rows:
            new = pd.concat(derived_rows, ignore_index=True).assign(derived=True)
            for col in TOTALS:
                new[col] = new[col].astype("int64")
            combined = pd.concat([combined, new], ignore_index=True)
            own |= set(zip(new["region_code"], new["fund"], strict=True))
    combined = combined.sort_values(["region_code", "fund", "month"]).reset_index(drop=True)
    return combined, findings


def _compare_with_own(
    ledger: pd.DataFrame,
    parent: str,
    fund: str,
    sums: pd.DataFrame,
    names: dict[str, str],
    tol_abs_yuan: float,
    tol_rel: float,
) -> list[Finding]:
    mine = ledger[(ledger["region_code"] == parent) & (ledger["fund"] == fund)]
    both = mine.merge(sums, on="month", suffixes=("", "_children"))
    findings: list[Finding] = []
    for col, label in (
        ("income", "本期收入"),
        ("expenditure", "本期支出"),
        ("balance", "期末累计结余"),
    ):
        diff = (both[col] - both[f"{col}_children"]).abs()
        tol = np.maximum(tol_abs_yuan * 100, tol_rel * both[col].abs())
        for _, r in both[diff > tol].iterrows():
            findings.append(
                Finding(
                    "warning",
                    "rollup_mismatch",
                    f"{names.get(parent, parent)}（{parent}）{fund} {r.month} 的{label}为 "
                    f"{r[col] / 100:,.2f} 元，"
                    f"下级合计为 {r[f'{col}_children'] / 100:,.2f} 元，不一致",
                    region_code=parent,
                    fund=fund,
                    month=r.month,
                    column=col,
                )
            )
    months = sorted({f.month for f in findings if f.month})
    if len(months) >= max(MISMATCH_HINT_MONTHS, len(both) // 2):
        findings.append(_own_pool_hint(parent, fund, names.get(parent, parent), months))
    return findings


def _own_pool_hint(parent: str, fund: str, name: str, months: list[str]) -> Finding:
    """Most months disagree: the parent's own ledger is likely 市本级 (the city-level pool),
    not the city's total, keyed with the city's code."""
    child = (
        parent[:4] + OWN_POOL_CHILD
        if parent.endswith("00") and not parent.endswith("0000")
        else "一个下级编码"
    )
    return Finding(
        "warning",
        "rollup_own_pool_hint",
        f"{name}（{parent}）{fund} 有 {len(months)} 个月与下级合计不一致。"
        f"若 {parent} 的台账是市本级（市级统筹部分）而不是全市合计，请把它的编码改为 {child}"
        f"（上级编码填 {parent}）后重新导入：市本级与各县区并列为下级，市的汇总 = 市本级 + 各县区",
        region_code=parent,
        fund=fund,
        month=months[-1],
    )
