"""Import: validated rows planned against the store, then written in one transaction.

The plan (what is new, what a correction changes, what is unchanged, what looks wrong) is
computed without writing, so `--check` shows exactly what an import would do. Applying it
writes everything or nothing.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, bindparam, func, select
from sqlalchemy.engine import Connection

from monitor.config.settings import Config
from monitor.core import vocabulary
from monitor.core.aberrant import aberrant_findings
from monitor.core.columns import BY_NAME
from monitor.core.errors import LedgerRejected
from monitor.core.findings import Finding
from monitor.core.funds import FundCatalogue
from monitor.core.money import UNITS, yuan_grouped
from monitor.core.rollup import rollup
from monitor.ledger import cell_text
from monitor.ledger.files import RawTable, read_ledger_file
from monitor.ledger.parents import given_parent_names, settle_family
from monitor.ledger.quality import quality_findings, sort_series
from monitor.ledger.scale import UnitRead, scale_findings, units_of
from monitor.ledger.validate import TableReport, ValidLedger, validate_tables
from monitor.store.db import bulk_insert, inserted_id, read_regions, sync_funds, transaction
from monitor.store.reviews import record_reviews
from monitor.store.schema import VALUE_COLUMNS, import_findings, imports, ledger, ledger_revisions
from monitor.store.schema import regions as regions_table

KEYS = ["region_code", "fund", "month"]
_CHUNK = 500  # region codes per IN (...) query: well under every backend's parameter limit


@dataclass(frozen=True)
class Change:
    region_code: str
    fund: str
    month: str
    column: str
    old: int | None
    new: int | None


@dataclass
class ImportPlan:
    valid: ValidLedger
    inserts: pd.DataFrame
    replaces: pd.DataFrame  # new values, with the stored row's id and revision
    previous: pd.DataFrame  # the stored rows being replaced, as they are
    unchanged: int
    changes: list[Change]
    warnings: list[Finding]
    region_upserts: pd.DataFrame
    region_names: dict[str, str]


@dataclass
class ImportResult:
    import_id: int | None  # None for --check
    rows: int
    inserted: int
    replaced: int
    unchanged: int
    changes: list[Change]
    warnings: list[Finding]
    units: set[str] = field(default_factory=set)
    region_names: dict[str, str] = field(default_factory=dict)
    tables: list[TableReport] = field(default_factory=list)  # how each sheet was read (--check)


def describe_changes(
    changes: Sequence[Change], names: dict[str, str], catalogue: FundCatalogue
) -> list[str]:
    """One line per corrected month: '东至县（341721）居民医保 2023-04：本期支出 a → b 元；…'."""
    lines = []
    by_key: dict[tuple[str, str, str], list[Change]] = {}
    for change in changes:
        by_key.setdefault((change.region_code, change.fund, change.month), []).append(change)
    for (code, fund, month), items in by_key.items():
        parts = []
        for c in items:
            column = BY_NAME[c.column]
            show: Callable[[int], str]
            if column.kind == "count":
                show, unit = str, " 人"
            else:
                show, unit = yuan_grouped, " 元"
            old = "空" if c.old is None else show(c.old)
            new = "空" if c.new is None else show(c.new)
            parts.append(f"{column.label} {old} → {new}{unit}")
        fund = vocabulary.fund_name(catalogue, fund)
        lines.append(f"{names.get(code, code)}（{code}）{fund} {month}：" + "；".join(parts))
    return lines


def _rounding_only(changes: Sequence[Change], units: set[str]) -> Finding | None:
    """Corrections that are all smaller than the input's rounding (0.01 of its unit) are
    most likely a rounded report overwriting exact figures: say so."""
    if len(units) != 1:
        return None
    step = UNITS[next(iter(units))]  # 0.01 unit, in fen
    if step <= 1:
        return None
    worst: dict[tuple[str, str, str], int] = {}
    for c in changes:
        if BY_NAME[c.column].kind == "amount" and c.old is not None and c.new is not None:
            key = (c.region_code, c.fund, c.month)
            worst[key] = max(worst.get(key, 0), abs(c.new - c.old))
    small = [k for k, diff in worst.items() if diff <= step // 2]
    if not small:
        return None
    unit = next(iter(units))
    return Finding(
        "warning",
        "rounding_only",
        f"{len(small)} 个月的更正都小于 0.01 {unit}，很可能是以{unit}取整的报表覆盖了更精确的数据；"
        "如非有意，请用原单位的精确数据重新导入（旧版本已保留，可用 fundmon ledger history 查看）",
        region_code=small[0][0],
        fund=small[0][1],
        month=small[0][2],
    )


def checksum_files(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def current_user() -> str:
    try:
        return os.environ.get("FUNDMON_USER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def _stored_series(conn: Connection, codes: Sequence[str], funds: Sequence[str]) -> pd.DataFrame:
    """Every stored month of the series of these regions and funds."""
    parts = []
    codes = list(codes)
    for i in range(0, len(codes), _CHUNK):
        query = select(ledger).where(
            ledger.c.region_code.in_(codes[i : i + _CHUNK]), ledger.c.fund.in_(list(funds))
        )
        result = conn.execute(query)
        parts.append(pd.DataFrame(result.all(), columns=list(result.keys())))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if frame.empty:
        frame = pd.DataFrame(columns=[c.name for c in ledger.columns])
    return frame


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _without(stored: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """Stored months that the incoming rows do not replace."""
    return stored[
        ~pd.MultiIndex.from_frame(stored[KEYS]).isin(pd.MultiIndex.from_frame(rows[KEYS]))
    ]


def _equal(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise equality where two missing values are equal."""
    a_na, b_na = a.isna().to_numpy(), b.isna().to_numpy()
    same = (a.astype("Float64") == b.astype("Float64")).fillna(False).to_numpy(dtype=bool)
    return (a_na & b_na) | (~a_na & ~b_na & same)


def _diff(
    rows: pd.DataFrame, stored: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int, list[Change]]:
    """Split incoming rows into new, corrections (with the rows they replace) and unchanged."""
    if stored.empty:  # the common first import: skip the million-row merge
        return rows, rows.iloc[:0].assign(ledger_id=0), stored, 0, []
    merged = rows.merge(stored, on=KEYS, how="left", suffixes=("", "_old"), indicator=True)
    is_new = (merged["_merge"] == "left_only").to_numpy()
    same = np.ones(len(merged), dtype=bool)
    per_column: dict[str, np.ndarray] = {}
    for col in VALUE_COLUMNS:
        per_column[col] = _equal(merged[col], merged[f"{col}_old"])
        same &= per_column[col]
    replaced_mask = ~is_new & ~same
    changes = []
    for i in np.flatnonzero(replaced_mask):
        r = merged.iloc[i]
        for col in VALUE_COLUMNS:
            if not per_column[col][i]:
                old, new = r[f"{col}_old"], r[col]
                changes.append(
                    Change(
                        r.region_code,
                        r.fund,
                        r.month,
                        col,
                        None if pd.isna(old) else int(old),
                        None if pd.isna(new) else int(new),
                    )
                )
    replaces = merged[replaced_mask].rename(columns={"id": "ledger_id"})
    previous = stored.merge(replaces[KEYS], on=KEYS)
    return rows[is_new], replaces, previous, int((~is_new & same).sum()), changes


def plan_import(
    conn: Connection,
    valid: ValidLedger,
    config: Config,
    *,
    unit_reads: Mapping[tuple[str | None, str | None], UnitRead] | None = None,
    accept_scale: bool = False,
    parent_names: Mapping[str, str] | None = None,
) -> ImportPlan:
    """What an import would do. `unit_reads`: how each table's (file, sheet) amounts were read,
    for the unit check's advice; `accept_scale`: amounts 10⁴ or 10⁸ away from their history
    are imported with a warning instead of refused; `parent_names`: what the input's parent
    name column says (`parents.given_parent_names`).

    :raises LedgerRejected: amounts off by 10^(4k) (see `scale`), unless accept_scale; 市本级
        keyed with its city's code where the child code it takes is another region's.
    """
    stored_regions = read_regions(conn)
    valid = _settled(valid, stored_regions, parent_names)  # derived parents, 市本级 a child
    rows = valid.rows
    known_names = dict(zip(stored_regions["code"], stored_regions["name"], strict=True))
    codes = sorted(rows["region_code"].unique())
    stored = _stored_series(conn, codes, sorted(rows["fund"].unique()))

    inserts, replaces, previous, unchanged, changes = _diff(rows, stored)

    rounding = _rounding_only(changes, valid.units)
    # warnings about the incoming months, seen within their whole series
    older = _without(stored, rows)
    series = (
        rows.assign(incoming=True)
        if older.empty
        else pd.concat(
            [older.assign(incoming=False), rows.assign(incoming=True)], ignore_index=True
        )
    )
    imp = config.imports
    warnings = list(valid.warnings) + ([rounding] if rounding else [])
    series = sort_series(series)
    warnings += _unit_check(series, valid, known_names, config, unit_reads, accept_scale)
    warnings += quality_findings(
        series,
        reconcile_abs_yuan=imp.reconcile_abs_yuan,
        reconcile_rel=imp.reconcile_rel,
        spike_factor=imp.spike_factor,
        presorted=True,
    )
    warnings += aberrant_findings(series, z=imp.aberrant_z)  # 待核实: held alerts (issue 15)

    # regions: new ones inserted, renamed or re-parented ones updated
    incoming = valid.regions.copy()
    stored_by_code = stored_regions.set_index("code")
    upserts = []
    for r in incoming.itertuples(index=False):
        if r.code not in stored_by_code.index:
            upserts.append(
                {
                    "code": r.code,
                    "name": _text(r.name) or r.code,
                    "parent_code": _text(r.parent_code),
                    "level": r.level,
                }
            )
            continue
        old = stored_by_code.loc[r.code]
        name = _text(r.name) or old["name"]
        parent = _text(r.parent_code) or _text(old["parent_code"])
        if name != old["name"] or parent != old["parent_code"]:
            warnings.append(
                Finding(
                    "warning",
                    "region_changed",
                    f"统筹区 {r.code} 的名称或上级变更："
                    f"{old['name']}/{old['parent_code']} → {name}/{parent}",
                    region_code=r.code,
                )
            )
            upserts.append({"code": r.code, "name": name, "parent_code": parent, "level": r.level})
    names = {**known_names, **{u["code"]: u["name"] for u in upserts}}

    upserts_frame = pd.DataFrame(
        upserts, columns=["code", "name", "parent_code", "level"], dtype=object
    )
    warnings += _rollup_findings(conn, rows, stored_regions, upserts_frame, config)
    return ImportPlan(
        valid=valid,
        inserts=inserts,
        replaces=replaces,
        previous=previous,
        unchanged=unchanged,
        changes=changes,
        warnings=warnings,
        region_upserts=upserts_frame,
        region_names=names,
    )


def _settled(
    valid: ValidLedger, stored_regions: pd.DataFrame, parent_names: Mapping[str, str] | None
) -> ValidLedger:
    """The input with its regions completed by `parents.settle_family`."""
    family = settle_family(valid.regions, stored_regions, parent_names)
    if family.errors:
        raise LedgerRejected(family.errors)
    rows = valid.rows
    if family.recode:
        rows = rows.assign(region_code=rows["region_code"].replace(family.recode))
    named = family.named  # validate's "parent unnamed" is answered for these
    kept = [w for w in valid.warnings if w.code != "parent_unnamed" or w.region_code not in named]
    return replace(valid, rows=rows, regions=family.regions, warnings=kept + family.warnings)


def _unit_check(
    series: pd.DataFrame,
    valid: ValidLedger,
    known_names: dict[str, str],
    config: Config,
    unit_reads: Mapping[tuple[str | None, str | None], UnitRead] | None,
    accept_scale: bool,
) -> list[Finding]:
    """Refuse amounts 10⁴ or 10⁸ away from their history; with accept_scale, warn instead."""
    names = {**known_names, **dict(zip(valid.regions["code"], valid.regions["name"], strict=True))}
    reads = dict(unit_reads or {})
    if not reads and len(valid.units) == 1:
        reads[(None, None)] = UnitRead(next(iter(valid.units)), "unknown")

    def describe(code: str, fund: str) -> str:
        name = names.get(code)
        shown = name if isinstance(name, str) and name else code
        return f"{shown}（{code}）{vocabulary.fund_name(config.funds, fund)}"

    found = scale_findings(
        series,
        units=units_of(reads),
        describe=describe,
        reconcile_abs_yuan=config.imports.reconcile_abs_yuan,
    )
    if not found:
        return []
    if not accept_scale:
        raise LedgerRejected(found)
    return [
        replace(f, severity="warning", message=f"{f.message}（已按 --accept-scale 接受）")
        for f in found
    ]


def _rollup_findings(
    conn: Connection,
    rows: pd.DataFrame,
    stored_regions: pd.DataFrame,
    upserts: pd.DataFrame,
    config: Config,
) -> list[Finding]:
    """Roll-up findings for the families the input touches, about the incoming months."""
    regions = stored_regions.set_index("code")
    if not upserts.empty:
        regions = upserts.set_index("code").combine_first(regions)
    regions = regions.reset_index()
    parent_of = dict(zip(regions["code"], regions["parent_code"], strict=True))
    touched = set(rows["region_code"])
    parents = {p for c in touched if isinstance(p := parent_of.get(c), str)}
    family = (
        touched | parents | set(regions.loc[regions["parent_code"].isin(parents | touched), "code"])
    )
    if len(family) == len(touched) and not parents:
        return []
    stored = _stored_series(conn, sorted(family), sorted(rows["fund"].unique()))
    stored = _without(stored, rows)
    combined = pd.concat(
        [
            stored[[*KEYS, "income", "expenditure", "balance"]],
            rows[[*KEYS, "income", "expenditure", "balance"]],
        ],
        ignore_index=True,
    )
    fam = regions[regions["code"].isin(family)]
    imp = config.imports
    _, findings = rollup(
        combined, fam, tolerance_abs_yuan=imp.reconcile_abs_yuan, tolerance_rel=imp.reconcile_rel
    )
    months = set(rows["month"])
    whole = ("rollup_incomplete", "rollup_own_pool_hint")  # about the series, not a month
    return [f for f in findings if f.month in months or f.code in whole]


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """DataFrame → list of dicts with plain Python ints/None (what DB drivers want)."""
    out = frame[list(columns)].astype(object).where(frame[list(columns)].notna(), None)
    return out.to_dict("records")


def apply_import(
    conn: Connection,
    plan: ImportPlan,
    *,
    kind: str,
    source: str,
    checksum: str,
    user: str,
    now: dt.datetime,
    config: Config,
) -> int:
    """Write the plan in the caller's transaction; returns the import id."""
    sync_funds(conn, config.funds)
    units = plan.valid.units
    import_id = inserted_id(conn.execute(
        imports.insert().values(
            started_at=now,
            finished_at=now,
            user=user,
            kind=kind,
            source=source,
            checksum=checksum,
            unit="/".join(sorted(units)) or None,
            rows=len(plan.valid.rows),
            inserted=len(plan.inserts),
            replaced=len(plan.replaces),
            unchanged=plan.unchanged,
            warnings=len(plan.warnings),
        )
    ))

    if not plan.region_upserts.empty:
        existing = {r[0] for r in conn.execute(select(regions_table.c.code))}
        # parents first, so a foreign key from a child never points at nothing
        ups = plan.region_upserts.sort_values(
            "level", key=lambda s: s.map({"province": 0, "city": 1, "county": 2})
        )
        for rec in _records(ups, ["code", "name", "parent_code", "level"]):
            if rec["code"] in existing:
                conn.execute(
                    regions_table.update().where(regions_table.c.code == rec["code"]).values(**rec)
                )
            else:
                conn.execute(regions_table.insert().values(**rec))

    value_cols = list(VALUE_COLUMNS)
    if not plan.inserts.empty:
        new_rows = plan.inserts.assign(revision=1, import_id=import_id)
        bulk_insert(conn, ledger, new_rows, [*KEYS, *value_cols, "revision", "import_id"])

    if not plan.replaces.empty:
        old = plan.previous.assign(superseded_by=import_id)
        bulk_insert(
            conn,
            ledger_revisions,
            old,
            [*KEYS, *value_cols, "revision", "import_id", "superseded_by"],
        )
        new = _records(plan.replaces, ["ledger_id", *value_cols, "revision"])
        for rec in new:
            rec["_id"] = rec.pop("ledger_id")
            rec["_revision"] = int(rec.pop("revision")) + 1
            rec["_import_id"] = import_id
        stmt = (
            ledger.update()
            .where(ledger.c.id == bindparam("_id"))
            .values(
                {
                    **{c: bindparam(c) for c in value_cols},
                    "revision": bindparam("_revision"),
                    "import_id": bindparam("_import_id"),
                }
            )
        )
        conn.execute(stmt, new)

    if plan.warnings:
        conn.execute(
            import_findings.insert(),
            [
                {k: v for k, v in f.as_dict().items() if k != "severity"}
                | {"severity": f.severity, "import_id": import_id}
                for f in plan.warnings
            ],
        )
    record_reviews(conn, plan.warnings, plan.replaces, import_id=import_id, now=now)  # 待核实
    return int(import_id)


def run_import(
    engine: Engine,
    read_tables: Callable[[], list[RawTable]],
    *,
    config: Config,
    kind: str,
    source: str,
    checksum: str,
    unit: str | None = None,
    default_unit: str | None = None,
    refunds: Sequence[str] = (),
    check: bool = False,
    now: dt.datetime,
    user: str | None = None,
    before_commit: Callable[[], None] | None = None,
    accept_scale: bool = False,
) -> ImportResult:
    """Read, validate, plan and (unless check) store, all or nothing.

    `before_commit` runs last inside the transaction: whatever it raises rolls the import
    back (the watched folder checks there that the file did not change while it was read).

    :raises LedgerRejected: the input has errors; nothing was stored.
    """
    tables = read_tables()  # outside the transaction: reading a big file holds no lock
    with transaction(engine) as conn:
        known = dict(zip(*read_regions(conn)[["code", "name"]].T.to_numpy(), strict=True))
        valid = validate_tables(
            tables,
            catalogue=config.funds,
            unit=unit,
            default_unit=default_unit,
            refunds=refunds,
            known_regions=known,
            max_errors=config.imports.max_errors,
            now=now,
        )
        reads = _unit_reads(tables, unit, default_unit)
        plan = plan_import(
            conn, valid, config, unit_reads=reads, accept_scale=accept_scale,
            parent_names=given_parent_names(tables),
        )  # fmt: skip
        import_id = None
        if not check:
            import_id = apply_import(
                conn,
                plan,
                kind=kind,
                source=source,
                checksum=checksum,
                user=user or current_user(),
                now=now,
                config=config,
            )
        if before_commit is not None:
            before_commit()
    return ImportResult(
        import_id=import_id,
        rows=len(valid.rows),
        inserted=len(plan.inserts),
        replaced=len(plan.replaces),
        unchanged=plan.unchanged,
        changes=plan.changes,
        warnings=plan.warnings,
        units=valid.units,
        region_names=plan.region_names,
        tables=valid.tables,
    )


def _unit_reads(
    tables: Sequence[RawTable], unit: str | None, default_unit: str | None
) -> dict[tuple[str | None, str | None], UnitRead]:
    """How validation read each table's amounts (its `_resolve_unit`), for the unit check;
    keyed by file and sheet as findings carry them."""
    reads: dict[tuple[str | None, str | None], UnitRead] = {}
    for t in tables:
        if unit:
            read = UnitRead(unit, "option", "命令行 --unit")
        elif t.unit:
            read = UnitRead(t.unit, "file", t.unit_source)
        elif default_unit:
            read = UnitRead(default_unit, "config", "未注明单位，按配置读取")
        else:
            continue
        sheet = None if t.sheet is None else cell_text.escape(t.sheet, limit=None)
        reads[(cell_text.escape(t.source, limit=None), sheet)] = read
    return reads


def import_files(
    engine: Engine,
    paths: Sequence[str | os.PathLike[str]],
    *,
    config: Config,
    unit: str | None = None,
    sheet: str | None = None,
    refunds: Sequence[str] = (),
    check: bool = False,
    now: dt.datetime,
    user: str | None = None,
    before_commit: Callable[[], None] | None = None,
    isolated: bool = False,
    timeout: float | None = None,
    accept_scale: bool = False,
) -> ImportResult:
    """Import ledger files as one import, all or nothing (see `run_import`).

    `isolated`: read, validate and store in a child process limited to `[import]
    reader_memory_mb` (and `timeout` seconds), so a file that crashes or exhausts the reader
    is refused, naming it and how the reader died, instead of ending this process.

    :raises LedgerRejected: the input has errors, or its reading crashed; nothing was stored.
    """
    files = [Path(p) for p in paths]
    kwargs: dict[str, Any] = dict(
        config=config, unit=unit, sheet=sheet, refunds=refunds, check=check, now=now, user=user,
        before_commit=before_commit, accept_scale=accept_scale,
    )  # fmt: skip
    if isolated:
        return _import_isolated(engine, files, timeout=timeout, **kwargs)
    return _import_here(engine, files, **kwargs)


def _import_here(
    engine: Engine,
    files: list[Path],
    *,
    config: Config,
    unit: str | None,
    sheet: str | None,
    refunds: Sequence[str],
    check: bool,
    now: dt.datetime,
    user: str | None,
    before_commit: Callable[[], None] | None,
    accept_scale: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ImportResult:
    def read() -> list[RawTable]:
        tables: list[RawTable] = []
        refused: list[Finding] = []
        for path in files:  # read every file, so all their problems are reported together
            if progress is not None:
                progress(str(path))
            try:
                tables += read_ledger_file(path, sheet=sheet, limits=config.imports)
            except LedgerRejected as exc:
                refused += exc.findings
            except MemoryError:
                raise  # the child reports it as such
            except Exception as exc:  # a reader failing on a hostile file: the file's fault
                refused.append(_unreadable(path, f"{type(exc).__name__}: {exc}"))
        if refused:
            raise LedgerRejected(refused)
        return tables

    present = [p for p in files if p.is_file()]
    return run_import(
        engine,
        read,
        config=config,
        kind="file",
        source=_source(files),
        checksum=checksum_files(present),
        unit=unit,
        default_unit=config.imports.unit,
        refunds=refunds,
        check=check,
        now=now,
        user=user,
        before_commit=before_commit,
        accept_scale=accept_scale,
    )


def _source(files: Sequence[Path]) -> str:
    return "; ".join(str(p) for p in files)


def _unreadable(path: Path | str, reason: str) -> Finding:
    return Finding("error", "unreadable", f"读取失败：{reason}", file=str(path))


def _import_isolated(
    engine: Engine, files: list[Path], *, timeout: float | None, **kwargs: Any
) -> ImportResult:
    from monitor.core.errors import ChildCrashed
    from monitor.ledger.isolated import fresh_engine, run_in_child

    config: Config = kwargs["config"]
    with engine.connect() as conn:  # imports committed after this one are the child's
        last = conn.execute(select(func.max(imports.c.id))).scalar() or 0

    def work(progress: Callable[[str], None]) -> ImportResult:
        return _import_here(fresh_engine(engine), files, progress=progress, **kwargs)

    try:
        return run_in_child(work, memory_mb=config.imports.reader_memory_mb, timeout=timeout)
    except ChildCrashed as crash:
        # killed after its commit (at the deadline, say)? then the import stands
        stored = _committed_since(engine, last, _source(files))
        if stored is not None:
            return stored
        where = crash.progress or _source(files)
        raise LedgerRejected([_unreadable(where, crash.reason)]) from None


def _committed_since(engine: Engine, last: int, source: str) -> ImportResult | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(imports)
            .where(imports.c.id > last, imports.c.source == source, imports.c.kind == "file")
            .order_by(imports.c.id)
            .limit(1)
        ).first()
    if row is None:
        return None
    return ImportResult(
        import_id=row.id,
        rows=row.rows,
        inserted=row.inserted,
        replaced=row.replaced,
        unchanged=row.unchanged,
        changes=[],  # not kept in the store (ledger history shows them)
        warnings=[],
        units=set((row.unit or "").split("/")) - {""},
    )
