"""市本级 (the city's own pool) beside its counties: a child like them, the city their sum; a
parent derived from codes exists even when no file names it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from monitor.core.columns import AMOUNTS
from monitor.core.rollup import rollup
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv
from monitor.ledger.parents import PLACEHOLDER, name_from_children
from monitor.store.db import read_ledger, read_regions

COUNTIES = ["341702", "341721", "341722", "341723"]


@pytest.fixture(scope="module")
def city() -> pd.DataFrame:
    ledger = demo_city().ledger
    return ledger[ledger["month"] >= "2022-01"].reset_index(drop=True)  # 36 months


def own_pool(city: pd.DataFrame, code: str, name: str) -> pd.DataFrame:
    """市本级's ledger: shaped like 贵池区's at 60 %, reconciling (every amount scaled)."""
    own = city[city["region_code"] == "341702"].copy()
    for col in AMOUNTS:
        if col in own:
            own[col] = (own[col] * 0.6).round().astype("Int64")
    return own.assign(region_code=code, region_name=name, parent_code=None, parent_name=None)


def without_parents(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(parent_code=None, parent_name=None)


def store(engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    with engine.connect() as conn:
        return read_regions(conn), read_ledger(conn)


def city_sum(engine: Engine, fund: str = "resident") -> pd.DataFrame:
    regions, data = store(engine)
    combined, _ = rollup(data, regions)
    return combined[(combined["region_code"] == "341700") & (combined["fund"] == fund)]


def children_total(frame: pd.DataFrame, fund: str = "resident") -> pd.Series:
    part = frame[frame["fund"] == fund]
    return part.groupby("month")["expenditure"].sum().astype("int64")


def import_frame(cli, path: Path, frame: pd.DataFrame, *args: str):  # type: ignore[no-untyped-def]
    return cli("import", "--unit", "元", *args, str(write_canonical_csv(frame, path)))


def test_own_pool_coded_as_a_child_makes_the_city_its_sum_with_the_counties(
    tmp_path: Path, cli, engine: Engine, city: pd.DataFrame
) -> None:
    """341701 市本级 beside the counties, none naming a parent: the city 341700 is derived,
    named from the children's names, and sums all five."""
    named = without_parents(city).assign(region_name="池州市" + city["region_name"])
    frame = pd.concat([named, own_pool(city, "341701", "池州市本级")], ignore_index=True)
    result = import_frame(cli, tmp_path / "a.csv", frame)
    assert result.exit_code == 0, result.output
    assert "由下级编码推出上级统筹区 341700 按下级" in result.output
    assert "命名为 池州市" in result.output
    regions, data = store(engine)
    parents = dict(zip(regions["code"], regions["parent_code"], strict=True))
    assert {parents[c] for c in [*COUNTIES, "341701"]} == {"341700"}
    assert dict(zip(regions["code"], regions["name"], strict=True))["341700"] == "池州市"
    summed = city_sum(engine).set_index("month")
    assert len(summed) == 36 and summed["derived"].all()
    assert summed["expenditure"].astype("int64").equals(children_total(data))
    show = cli("ledger", "show", "--region", "341700", "--fund", "resident")
    assert show.exit_code == 0 and "池州市（341700）居民医保（下级汇总）" in show.output


def test_a_derived_parent_without_a_name_gets_a_placeholder_and_how_to_name_it(
    tmp_path: Path, cli, engine: Engine, city: pd.DataFrame
) -> None:
    frame = pd.concat([without_parents(city), own_pool(city, "341701", "市本级")])
    result = import_frame(cli, tmp_path / "a.csv", frame)
    assert result.exit_code == 0, result.output
    assert f"名称未知，暂记为“{PLACEHOLDER}”" in result.output
    assert "加“上级编码”“上级名称”两列，写明 341700 与市名" in result.output
    assert len(city_sum(engine)) == 36
    # named as the warning says: the next import gives the parent columns
    named = city.assign(parent_code="341700", parent_name="池州市")
    again = import_frame(cli, tmp_path / "b.csv", named)
    assert again.exit_code == 0, again.output
    regions, _ = store(engine)
    assert dict(zip(regions["code"], regions["name"], strict=True))["341700"] == "池州市"


def test_own_pool_keyed_with_the_city_code_is_stored_as_its_child_and_says_what_to_change(
    tmp_path: Path, cli, engine: Engine, city: pd.DataFrame
) -> None:
    """Today 341700 市本级 gave one 下级合计不一致 warning per month and amount, no hint."""
    frame = pd.concat([city, own_pool(city, "341700", "市本级")], ignore_index=True)
    result = import_frame(cli, tmp_path / "a.csv", frame)
    assert result.exit_code == 0, result.output
    assert "已按市本级存为下级 341701" in result.output
    assert "请在来源中把 341700 市本级 的编码改为 341701（上级编码填 341700）" in result.output
    assert "下级合计" not in result.output
    regions, data = store(engine)
    names = dict(zip(regions["code"], regions["name"], strict=True))
    assert names["341701"] == "市本级" and names["341700"] == "池州市"  # the parent columns
    assert "341700" not in set(data["region_code"])  # the city holds no ledger of its own
    summed = city_sum(engine).set_index("month")
    assert summed["expenditure"].astype("int64").equals(children_total(data))
    # the next month's file keyed the same way lands on the same child
    again = import_frame(cli, tmp_path / "b.csv", frame[frame["month"] == "2024-12"])
    assert again.exit_code == 0 and "未变 10" in again.output


def test_own_pool_keyed_as_the_city_is_refused_when_its_child_code_is_taken(
    tmp_path: Path, cli, engine: Engine, city: pd.DataFrame
) -> None:
    other = own_pool(city, "341701", "池州经济开发区")
    frame = pd.concat([city, other, own_pool(city, "341700", "市本级")], ignore_index=True)
    result = import_frame(cli, tmp_path / "a.csv", frame)
    assert result.exit_code == 1
    assert "市本级（341700）用了市的编码" in result.stderr and "341701 已是" in result.stderr
    assert "给市本级一个未用的下级编码（如 341799）" in result.stderr
    assert store(engine)[1].empty


def test_a_lone_county_does_not_invent_a_city(
    tmp_path: Path, cli, engine: Engine, city: pd.DataFrame
) -> None:
    lone = without_parents(city[city["region_code"] == "341721"])
    assert import_frame(cli, tmp_path / "a.csv", lone).exit_code == 0
    regions, _ = store(engine)
    assert list(regions["code"]) == ["341721"] and regions["parent_code"].isna().all()
    # its sibling arrives later: now the city is derived, and the stored county joins it
    sibling = without_parents(city[city["region_code"] == "341722"])
    result = import_frame(cli, tmp_path / "b.csv", sibling)
    assert result.exit_code == 0, result.output
    regions, _ = store(engine)
    parents = dict(zip(regions["code"], regions["parent_code"], strict=True))
    assert parents["341721"] == parents["341722"] == "341700"
    assert len(city_sum(engine)) == 36


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["池州市贵池区", "池州市东至县"], "池州市"),
        (["市本级", "池州市本级", "贵池区"], "池州市"),
        (["池州市市本级"], "池州市"),
        (["恩施州恩施市", "恩施州利川市"], "恩施州"),
        (["贵池区", "东至县", "市本级"], None),
        (["青阳县", "青山区"], None),
        (["池州市贵池区"], None),  # one child says too little
    ],
)
def test_parent_named_from_its_children(names: list[str], expected: str | None) -> None:
    assert name_from_children(names) == expected


# --------------------------------------------------------------------------- roll-up honesty


def test_export_of_a_rollup_region_exports_its_sums_marked_as_derived(
    tmp_path: Path, cli, engine: Engine, city: pd.DataFrame
) -> None:
    frame = pd.concat([city, own_pool(city, "341701", "池州市本级")], ignore_index=True)
    assert import_frame(cli, tmp_path / "a.csv", frame).exit_code == 0
    out = tmp_path / "city.csv"
    result = cli(
        "ledger", "export", "--format", "csv", "--out", str(out),
        "--region", "341700", "--fund", "resident",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "其中 36 行是 池州市（341700）的下级汇总（池州市本级（341701）、贵池区（341702）" in (
        result.output
    )
    assert "请勿重新导入" in result.output
    exported = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert list(exported.columns)[-1] == "derived" and set(exported["derived"]) == {"下级汇总"}
    assert set(exported["region_code"]) == {"341700"} and len(exported) == 36
    _, data = store(engine)
    total = children_total(data).to_numpy()
    assert (exported["expenditure"].map(lambda v: round(float(v) * 100)).to_numpy() == total).all()

    book = tmp_path / "city.xlsx"
    xlsx = cli("ledger", "export", "--format", "xlsx", "--out", str(book), "--region", "341700")
    assert xlsx.exit_code == 0 and "其中 72 行" in xlsx.output

    whole = cli("ledger", "export", "--format", "csv", "--out", str(tmp_path / "all.csv"))
    assert "未含下级汇总：池州市（341700）没有自己的台账" in whole.output
    assert "--region 341700" in whole.output
    assert "derived" not in pd.read_csv(tmp_path / "all.csv", dtype=str).columns


def test_history_of_a_rollup_month_names_the_children_it_sums_and_their_revisions(
    tmp_path: Path, cli, engine: Engine, city: pd.DataFrame
) -> None:
    pool = own_pool(city, "341701", "池州市本级")
    assert import_frame(cli, tmp_path / "a.csv", pd.concat([city, pool])).exit_code == 0
    fix = pool[pool["month"] == "2024-05"].copy()
    fix["expenditure"] += 100_000  # 1,000.00 元 more, the balance following
    fix["balance"] -= 100_000
    assert import_frame(cli, tmp_path / "fix.csv", fix).exit_code == 0

    result = cli(
        "ledger", "history", "--region", "341700", "--fund", "resident", "--month", "2024-05"
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "池州市（341700）居民医保 2024-05：没有自己的台账，是 5 个下级的汇总"
    assert "（下级之和）" in lines[2]
    assert "下级 池州市本级（341701）：" in lines
    own = lines.index("下级 池州市本级（341701）：")
    assert lines[own + 1].strip().startswith("第 1 版：导入 #1")
    assert any(line.strip().startswith("第 2 版（当前）：导入 #2") for line in lines[own:])
    assert any("本期支出" in line and "→" in line for line in lines[own:])
    assert "下级 青阳县（341723）：" in lines

    missing = cli(
        "ledger", "history", "--region", "341799", "--fund", "resident", "--month", "2024-05"
    )
    assert missing.exit_code == 1 and "没有" in missing.stderr
