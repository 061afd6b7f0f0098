"""`fundmon bulletin`, and the bulletin's edge: reading the store, writing the archive.

`read_inputs` reads everything a bulletin needs (regions, the month's evaluations, 24 months
of history, the imports and findings behind the month, acknowledged and silenced alerts when
the store has those tables) into a `monitor.render.bulletin.BulletinInputs`; `produce_bulletin`
builds, renders and writes one bulletin into an archive folder and rewrites the folder's
`index.html`. The service calls `produce_bulletin` (and `send_bulletin`) the same way the
command does.

Archive folder layout (one set per month, scope and language)::

    index.html                              every bulletin of the folder, newest first
    bulletin-2024-12-341700-zh.html         the bulletin (standalone: CSS and charts inline)
    bulletin-2024-12-341700-zh-mail.eml     its e-mail edition (PNG charts by Content-ID)
    bulletin-2024-12-341700-zh.pdf          with --pdf
    bulletin-2024-12-341700-zh.json         what the index shows of it (colour counts …)

Every file is written to a private temporary name first (monitor.store.files: never through a
planted symlink) and renamed into place together at the end, so a crash leaves the archive as
it was. Files are the service user's (0600, folders 0700), or readable by `[bulletin]
archive_group` (0640/0750) when leaders read the archive from a shared folder.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, MetaData, Table, inspect, select
from sqlalchemy.engine import Connection

from monitor.config.bulletin import BulletinSettings, settings_from_config
from monitor.config.settings import Config
from monitor.core.errors import MonitorError, NotFound
from monitor.core.findings import Finding
from monitor.core.fingerprint import figure_lines, fingerprint_of_lines
from monitor.core.indicators import payable_months
from monitor.core.rollup import rollup
from monitor.core.vocabulary import as_utc
from monitor.render.bulletin import (
    AlertRecord,
    BulletinContext,
    BulletinInputs,
    Evaluation,
    ImportInfo,
    MonthFigures,
    Region,
    SectionKey,
    archive_context,
    build_bulletin_email,
    build_context,
    bulletin_basename,
    manifest_of,
    render_archive,
    render_html,
)
from monitor.store.db import read_ledger, read_regions
from monitor.store.files import private_dir, replace_file, stage_file
from monitor.store.schema import evaluations, import_findings, imports, ledger

if TYPE_CHECKING:
    pass

log = logging.getLogger("monitor.bulletin")
HISTORY = 25  # months read per fund: the charts' 24 and the month before them


# ---------------------------------------------------------------- reading the store
def top_region(regions: pd.DataFrame) -> str | None:
    """The region without a parent that has the most regions under it (ties: lowest code)."""
    if regions.empty:
        return None
    parent = dict(zip(regions["code"], regions["parent_code"], strict=True))
    below: dict[str, int] = {c: 0 for c in parent}
    for code in parent:
        seen, p = set(), parent.get(code)
        while p and p in below and p not in seen:
            below[p] += 1
            seen.add(p)
            p = parent.get(p)
    roots = [c for c, p in parent.items() if not p or p not in parent]
    return min(roots, key=lambda c: (-below[c], c)) if roots else None


def subtree(regions: pd.DataFrame, scope: str) -> list[str]:
    children: dict[str, list[str]] = {}
    for code, p in zip(regions["code"], regions["parent_code"], strict=True):
        if p:
            children.setdefault(p, []).append(code)
    out, stack = [], [scope]
    while stack:
        code = stack.pop()
        out.append(code)
        stack += children.get(code, [])
    return out


def read_inputs(
    conn: Connection,
    *,
    config: Config,
    settings: BulletinSettings,
    month: str | None,
    scope: str | None,
    lang: str,
    now: dt.datetime,
) -> BulletinInputs:
    """Everything one bulletin needs, read from the store.

    :raises NotFound: no regions, an unknown scope, or no evaluation of the month.
    """
    regions = read_regions(conn)
    scope = scope or top_region(regions)
    if scope is None:
        raise NotFound("存储中没有统筹区：请先 `fundmon import` 台账并 `fundmon evaluate`")
    if scope not in set(regions["code"]):
        raise NotFound(f"统筹区 {scope} 不在存储中（`fundmon ledger regions` 可查看已有统筹区）")
    codes = subtree(regions, scope)
    if month is None:
        latest = conn.execute(
            select(evaluations.c.month)
            .where(evaluations.c.region_code.in_(codes))
            .order_by(evaluations.c.month.desc())
            .limit(1)
        ).scalar()
        if latest is None:
            raise NotFound(f"{scope} 还没有评估结果：请先运行 `fundmon evaluate`")
        month = str(latest)
    rows = conn.execute(
        select(evaluations).where(
            evaluations.c.month == month, evaluations.c.region_code.in_(codes)
        )
    ).all()
    if not rows:
        raise NotFound(
            f"{scope} 没有 {month} 的评估结果：请先运行 `fundmon evaluate --month {month}`"
        )

    data = read_ledger(
        conn,
        end=month,
        columns=("region_code", "fund", "month", "income", "expenditure", "balance"),
    )
    combined, rollup_findings = rollup(data, regions)
    combined = combined[combined["region_code"].isin(codes)]
    pm = payable_months(combined)
    combined = combined.merge(pm, on=["region_code", "fund", "month"], how="left")
    history, hashes, derived = _histories(combined)
    evs = []
    for r in rows:
        key = (r.region_code, r.fund)
        evs.append(
            Evaluation(
                region_code=r.region_code,
                fund=r.fund,
                level=r.level,
                previous_level=r.previous_level,
                data_missing=bool(r.data_missing),
                decision=_json(r.decision) or {},
                indicators=_json(r.indicators) or {},
                forecast=_json(r.forecast),
                profile=r.profile,
                stale=key in hashes and hashes[key] != r.data_hash,
            )
        )
    evaluated = {(e.region_code, e.fund) for e in evs}
    at_month = combined[combined["month"] == month][["region_code", "fund"]].drop_duplicates()
    not_evaluated = sorted(
        (code, fund)
        for code, fund in at_month.to_numpy().tolist()
        if (code, fund) not in evaluated
    )

    import_ids = [
        int(i)
        for (i,) in conn.execute(
            select(ledger.c.import_id)
            .where(ledger.c.month == month, ledger.c.region_code.in_(codes))
            .distinct()
        ).all()
    ]
    infos, findings = _imports_and_findings(conn, import_ids, codes)
    findings += [f for f in rollup_findings if f.region_code in set(codes)]
    by_code = {
        r.code: Region(r.code, r.name, r.parent_code or None, r.level) for r in regions.itertuples()
    }
    return BulletinInputs(
        month=month,
        scope=scope,
        lang=lang,
        regions=tuple(by_code[c] for c in codes),
        evaluations=tuple(evs),
        history=history,
        profile=config.load_profile(),
        funds=config.funds,
        generated_at=now,
        settings=settings,
        imports=tuple(infos),
        findings=tuple(findings),
        alerts=read_alerts(conn, codes, now),
        not_evaluated=tuple(not_evaluated),
        derived=frozenset(derived),
    )


def _histories(
    combined: pd.DataFrame,
) -> tuple[dict[SectionKey, tuple[MonthFigures, ...]], dict[SectionKey, str], set[SectionKey]]:
    """Per fund: its last HISTORY months, its fingerprint (`monitor.core.fingerprint`, what
    the evaluation stored: a difference tells a stale evaluation), and whether it is a
    roll-up. Done over all funds at once: a province has 300 of them."""
    df = combined.sort_values(["region_code", "fund", "month"]).reset_index(drop=True)
    if df.empty:
        return {}, {}, set()
    frame = df[["month"]].copy()
    for col in ("income", "expenditure", "balance"):
        frame[col] = df[col].astype("float64") / 100
    # formatted value by value, so each fund's slice is the text its own fingerprint hashes
    lines = figure_lines(df["month"], df["income"], df["expenditure"], df["balance"])
    region, fund = df["region_code"].to_numpy(), df["fund"].to_numpy()
    starts = [
        0,
        *(i for i in range(1, len(df)) if (region[i], fund[i]) != (region[i - 1], fund[i - 1])),
    ]
    ends = [*starts[1:], len(df)]
    months = df["month"].to_numpy()
    income, expenditure, balance = (
        frame[c].to_numpy() for c in ("income", "expenditure", "balance")
    )
    payable = df["payable_months"].to_numpy(dtype="float64")
    is_derived = df["derived"].to_numpy(dtype=bool)
    history, hashes, derived = {}, {}, set()
    for a, z in zip(starts, ends, strict=True):
        key = (str(region[a]), str(fund[a]))
        hashes[key] = fingerprint_of_lines(lines[a:z])
        if is_derived[a:z].any():
            derived.add(key)
        history[key] = tuple(
            MonthFigures(
                str(months[i]),
                float(income[i]),
                float(expenditure[i]),
                float(balance[i]),
                None if np.isnan(payable[i]) else float(payable[i]),
            )
            for i in range(max(a, z - HISTORY), z)
        )
    return history, hashes, derived


def _json(value: Any) -> Any:
    """JSON columns arrive decoded from SQLAlchemy; tolerate text from other writers."""
    if isinstance(value, str):
        return json.loads(value)
    return value


def _imports_and_findings(
    conn: Connection, import_ids: Sequence[int], codes: Sequence[str]
) -> tuple[list[ImportInfo], list[Finding]]:
    if not import_ids:
        return [], []
    infos = [
        ImportInfo(r.id, r.started_at, r.user, r.kind, r.source, r.warnings)
        for r in conn.execute(
            select(imports).where(imports.c.id.in_(import_ids)).order_by(imports.c.id)
        ).all()
    ]
    wanted = set(codes)
    findings = []
    for r in conn.execute(
        select(import_findings)
        .where(import_findings.c.import_id.in_(import_ids))
        .order_by(import_findings.c.id)
    ).all():
        if r.region_code is not None and r.region_code not in wanted:
            continue
        findings.append(
            Finding(
                severity=r.severity,
                code=r.code,
                message=r.message,
                file=r.file,
                sheet=r.sheet,
                row=r.row,
                column=r.column,
                value=r.value,
                expected=r.expected,
                region_code=r.region_code,
                fund=r.fund,
                month=r.month,
            )
        )
    return infos, findings


# Column names of the alert tables (monitor.store.schema `alerts`, `alert_silences`); the first one
# present is read, so a renamed column degrades to a blank cell rather than a crash.
_ALERT_COLUMNS = {
    "region": ("region_code", "region"),
    "fund": ("fund",),
    "level": ("level", "new_level"),
    "acked_at": ("acked_at", "acknowledged_at", "ack_at"),
    "acked_by": ("acked_by", "acknowledged_by", "ack_by"),
    "until": ("ack_until",),
    "note": ("ack_note", "note", "comment"),
}
_SILENCE_COLUMNS = {
    "region": ("region_glob", "region_code", "region", "pattern"),
    "fund": ("fund",),
    "level": ("level",),
    "from": ("created_at", "starts_at", "silenced_at"),
    "until": ("until", "ends_at", "expires_at"),
    "by": ("created_by", "silenced_by", "user"),
    "note": ("reason", "note", "comment"),
    "lifted": ("removed_at", "lifted_at", "deleted_at", "unsilenced_at"),
}


def read_alerts(
    conn: Connection, codes: Sequence[str], now: dt.datetime
) -> tuple[AlertRecord, ...] | None:
    """Acknowledgements and silences in force at `now` for the regions in `codes`; None when
    the store has no alert tables (alert handling not installed).

    `alerts`: an event with `acked_at` set (and `ack_until` unset or after `now`) counts as
    acknowledged; the latest per region and fund is listed. `alert_silences`: a silence not
    removed whose `until` is after `now`; `region_glob` is matched against the scope's codes,
    a `fund` of "*" means every fund.
    """
    import fnmatch

    insp = inspect(conn)
    silences_table = next((n for n in ("alert_silences", "silences") if insp.has_table(n)), None)
    have_alerts = insp.has_table("alerts")
    if not have_alerts and silences_table is None:
        return None
    wanted = set(codes)
    t = as_utc(now)
    out: list[AlertRecord] = []
    if have_alerts:
        table = Table("alerts", MetaData(), autoload_with=conn)
        cols = _pick(table, _ALERT_COLUMNS)
        latest: dict[tuple[str, str | None], AlertRecord] = {}
        if "acked_at" in cols and "region" in cols:
            query = select(table).where(
                table.c[cols["acked_at"]].is_not(None), table.c[cols["region"]].in_(codes)
            )
            for r in conn.execute(query).mappings():
                acked_at, until = _when(_get(r, cols, "acked_at")), _when(_get(r, cols, "until"))
                if acked_at is None or acked_at > t or (until is not None and until <= t):
                    continue
                record = AlertRecord(
                    "acknowledged",
                    _get(r, cols, "region"),
                    _get(r, cols, "fund"),
                    _get(r, cols, "level"),
                    _get(r, cols, "acked_by"),
                    acked_at,
                    until,
                    _get(r, cols, "note"),
                )
                key = (record.region_code or "", record.fund)
                if key not in latest or (latest[key].at or t) < acked_at:
                    latest[key] = record
        out += sorted(latest.values(), key=lambda a: (a.region_code or "", a.fund or ""))
    if silences_table is not None:
        table = Table(silences_table, MetaData(), autoload_with=conn)
        cols = _pick(table, _SILENCE_COLUMNS)
        for r in conn.execute(select(table)).mappings():
            region = _get(r, cols, "region")
            if region is not None and not any(fnmatch.fnmatchcase(c, str(region)) for c in wanted):
                continue
            start, until = _when(_get(r, cols, "from")), _when(_get(r, cols, "until"))
            lifted = _when(_get(r, cols, "lifted"))
            if (start and start > t) or (until and until <= t) or (lifted and lifted <= t):
                continue
            fund = _get(r, cols, "fund")
            out.append(
                AlertRecord(
                    "silenced",
                    str(region) if region is not None else None,
                    None if fund in (None, "*") else fund,
                    _get(r, cols, "level"),
                    _get(r, cols, "by"),
                    start,
                    until,
                    _get(r, cols, "note"),
                )
            )
    return tuple(out)


def _pick(table: Table, names: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    present = set(table.columns.keys())
    return {
        k: next(c for c in cands if c in present)
        for k, cands in names.items()
        if any(c in present for c in cands)
    }


def _get(row: Mapping[Any, Any], cols: Mapping[str, str], name: str) -> Any:
    return row[cols[name]] if name in cols else None


def _when(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    return as_utc(value) if isinstance(value, dt.datetime) else None


# ---------------------------------------------------------------- writing the archive
@dataclass(frozen=True)
class WrittenBulletin:
    context: BulletinContext
    html: Path
    eml: Path
    pdf: Path | None
    manifest: Path
    index: Path
    message: EmailMessage
    recipients: tuple[str, ...]


def pdf_renderer() -> Callable[[Path, Path], None] | None:
    """A function printing an HTML file to PDF (headless Chromium, else WeasyPrint), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        exe = shutil.which(name)
        if exe:
            return lambda html, pdf: _chromium_pdf(exe, html, pdf)
    try:
        weasyprint = importlib.import_module("weasyprint")
    except ImportError:
        return None
    return lambda html, pdf: weasyprint.HTML(filename=str(html)).write_pdf(str(pdf))


def _chromium_pdf(exe: str, html: Path, pdf: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="fundmon-chromium-") as profile:
        result = subprocess.run(
            [
                exe,
                "--headless",
                "--no-sandbox",  # as root (a container, CI) Chromium refuses its sandbox
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--no-pdf-header-footer",
                f"--print-to-pdf={pdf}",
                html.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if result.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
        raise MonitorError(
            f"Chromium 未能生成 PDF（退出码 {result.returncode}）：{result.stderr[-500:]}"
        )


def _printed(printer: Callable[[Path, Path], None], html: str) -> bytes:
    """The PDF of `html`, printed in a private temporary folder (Chromium wants a file that
    ends in .html, and writes where it is told)."""
    with tempfile.TemporaryDirectory(prefix="fundmon-pdf-") as folder:
        source, target = Path(folder) / "bulletin.html", Path(folder) / "bulletin.pdf"
        source.write_text(html, encoding="utf-8")
        printer(source, target)
        return target.read_bytes()


def produce_bulletin(
    engine: Engine,
    *,
    config: Config,
    out: Path,
    now: dt.datetime,
    month: str | None = None,
    scope: str | None = None,
    lang: str | None = None,
    pdf: bool = False,
) -> WrittenBulletin:
    """Build one bulletin from the store and write it, its e-mail edition (and PDF) into the
    archive folder `out`; rewrite `out/index.html`.

    :raises NotFound: see `read_inputs`. :raises ConfigError: a bad `[bulletin]` section.
    :raises MonitorError: `pdf` without Chromium or WeasyPrint.
    """
    settings = settings_from_config(config)
    lang = lang or settings.lang
    printer = pdf_renderer() if pdf else None
    if pdf and printer is None:
        raise MonitorError(
            "--pdf 需要 Chromium（apt-get install chromium）或 WeasyPrint（pip install weasyprint）"
        )
    with engine.connect() as conn:
        inputs = read_inputs(
            conn, config=config, settings=settings, month=month, scope=scope, lang=lang, now=now
        )
    from monitor.render.templating import environment, override_folder

    env = environment(override_folder(config))
    ctx = build_context(inputs)
    html = render_html(ctx, env)
    recipients = settings.recipients(inputs.scope)
    message = build_bulletin_email(ctx, to=recipients, sender=settings.sender, date=now, env=env)

    group = settings.archive_group
    private_dir(out, group=group)
    stem = bulletin_basename(inputs.month, inputs.scope, lang)
    paths = {
        "html": out / f"{stem}.html",
        "eml": out / f"{stem}-mail.eml",
        "pdf": out / f"{stem}.pdf",
        "manifest": out / f"{stem}.json",
    }
    temps: dict[str, str] = {}
    try:
        temps["html"] = stage_file(paths["html"], html, group=group)
        temps["eml"] = stage_file(paths["eml"], message.as_bytes(), group=group)
        if printer is not None:
            temps["pdf"] = stage_file(paths["pdf"], _printed(printer, html), group=group)
        files = {
            "html": paths["html"].name,
            "eml": paths["eml"].name,
            "pdf": paths["pdf"].name if printer is not None else None,
        }
        manifest = json.dumps(manifest_of(ctx, files), ensure_ascii=False, indent=2)
        temps["manifest"] = stage_file(paths["manifest"], manifest, group=group)
        for name in ("html", "eml", "pdf", "manifest"):  # the manifest last: the index lists it
            if name in temps:
                os.replace(temps.pop(name), paths[name])  # replaces a name, never follows it
    finally:
        for leftover in temps.values():
            Path(leftover).unlink(missing_ok=True)
    index = write_index(out, lang=settings.lang, now=now, env=env, group=group)
    return WrittenBulletin(
        context=ctx,
        html=paths["html"],
        eml=paths["eml"],
        pdf=paths["pdf"] if printer is not None else None,
        manifest=paths["manifest"],
        index=index,
        message=message,
        recipients=recipients,
    )


def write_index(
    out: Path, *, lang: str, now: dt.datetime, env: Any = None, group: str | None = None
) -> Path:
    """Rewrite `out/index.html` from the manifests of every bulletin in `out`."""
    manifests = []
    for path in sorted(out.glob("bulletin-*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if (
                isinstance(data, dict)
                and "month" in data
                and (out / str(data["files"]["html"])).is_file()
            ):
                manifests.append(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("skipping %s in the archive index: %s", path, exc)
    html = render_archive(archive_context(manifests, lang=lang, generated_at=now), env)
    return replace_file(out / "index.html", html, group=group)  # in the office's language
