"""The monthly bulletin: context, templates, editions, archive and `fundmon bulletin`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import io
import json
import re
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from jinja2 import meta
from sqlalchemy import Engine

from monitor.cli.app import main
from monitor.config import bulletin as bs
from monitor.config.settings import Config, ForecastSettings, parse_config
from monitor.core.errors import ConfigError
from monitor.demo.data import demo_city
from monitor.demo.files import write_canonical_csv
from monitor.ledger.importer import import_files
from monitor.pipeline.bulletin import produce_bulletin
from monitor.pipeline.evaluate import evaluate_store
from monitor.render import bulletin as b
from monitor.render.charts import ChartSpec, HLine, Line, chart_png, chart_svg, nice_ticks
from monitor.render.templating import create_environment, environment
from monitor.store.db import open_store

NOW = dt.datetime(2025, 1, 6, 2, 30, tzinfo=dt.UTC)
SMALL = ForecastSettings(horizon=12, paths=300, seed=0, workers=2)


def evaluated_store(folder: Path, ledger, months: tuple[str, ...], url: str | None = None) -> str:  # type: ignore[no-untyped-def]
    """Import `ledger` into a store and evaluate `months` with a small forecast; its URL."""
    url = url or f"sqlite:///{folder / 'store.db'}"
    csv = write_canonical_csv(ledger, folder / "ledger.csv")
    config = Config(store_url=url, forecast=SMALL)
    engine = open_store(url, auto_upgrade=True)
    try:
        import_files(engine, [csv], config=config, unit="元", now=NOW, user="test")
        for month in months:
            evaluate_store(engine, config, now=NOW, month=month, progress=False)
    finally:
        engine.dispose()
    return url


@pytest.fixture(scope="module")
def city_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo city imported and evaluated for 2024-11 and 2024-12 (read-only for tests)."""
    return evaluated_store(
        tmp_path_factory.mktemp("city"), demo_city().ledger, ("2024-11", "2024-12")
    )


@pytest.fixture
def city_engine(city_url: str) -> Engine:
    engine = open_store(city_url)
    yield engine  # type: ignore[misc]
    engine.dispose()


def produce(engine: Engine, out: Path, **kwargs):  # type: ignore[no-untyped-def]
    config = kwargs.pop("config", None) or Config(forecast=SMALL)
    return produce_bulletin(engine, config=config, out=out, now=NOW, **kwargs)


# ---------------------------------------------------------------- settings
def test_bulletin_settings_take_recipients_per_scope_and_paths_beside_the_file(
    tmp_path: Path,
) -> None:
    conf = tmp_path / "config.toml"
    cfg = parse_config(
        {
            "bulletin": {
                "to": ["leader@example.gov.cn"],
                "issuer": "池州市医疗保障局",
                "archive": "bulletins",
                "mail_charts": 4,
                "scopes": {"341721": {"to": ["dongzhi@example.gov.cn"]}},
            }
        },
        path=conf,
    )
    settings = bs.settings_from_config(cfg)
    assert settings.recipients("341700") == ("leader@example.gov.cn",)
    assert settings.recipients("341721") == ("dongzhi@example.gov.cn",)
    assert settings.archive == (tmp_path / "bulletins").resolve()
    assert settings.issuer_for("341721") == "池州市医疗保障局" and settings.mail_charts == 4
    assert bs.parse_settings({}) == bs.BulletinSettings()


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"recipients": []}, "bulletin.recipients"),
        ({"to": ["not an address"]}, "bulletin.to"),
        ({"to": "a@b.cn", "lang": "fr"}, "bulletin.lang"),
        ({"mail_charts": -1}, "bulletin.mail_charts"),
        ({"scopes": {"3417": {"to": []}}}, "bulletin.scopes.3417"),
        ({"scopes": {"341721": {"cc": []}}}, "bulletin.scopes.341721.cc"),
    ],
    ids=["unknown-key", "bad-address", "bad-lang", "negative-charts", "bad-code", "scope-key"],
)
def test_a_bad_bulletin_section_is_refused_with_its_key(section: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        bs.parse_settings(section, path="config.toml")
    assert err.value.key == key and "config.toml" in str(err.value)


# ---------------------------------------------------------------- templates and context
def _template_names(env, name: str) -> set[str]:  # type: ignore[no-untyped-def]
    """Every template `name` pulls in (extends, include, import), itself included."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        source = env.loader.get_source(env, current)[0]
        todo += [n for n in meta.find_referenced_templates(env.parse(source)) if n]
    return seen


def _top_level_names(env, names: set[str]) -> set[str]:  # type: ignore[no-untyped-def]
    """Names the templates take from the context: undeclared names, less the loop variables
    a template binds for the partials it includes (`{% for f in funds %}{% include … %}`)."""
    from jinja2 import nodes

    used: set[str] = set()
    bound: set[str] = set()
    for name in names:
        tree = env.parse(env.loader.get_source(env, name)[0])
        used |= meta.find_undeclared_variables(tree)
        for loop in tree.find_all(nodes.For):
            targets = [loop.target, *loop.target.find_all(nodes.Name)]
            bound |= {n.name for n in targets if isinstance(n, nodes.Name)}
    return used - bound


@pytest.mark.parametrize(
    ("outputs", "context"),
    [
        (("bulletin.html", "bulletin_mail.html", "bulletin_mail.txt"), b.BulletinContext),
        (("archive_index.html",), b.ArchiveContext),
    ],
    ids=["bulletin", "archive"],
)
def test_templates_use_exactly_the_documented_context_fields(outputs, context) -> None:  # type: ignore[no-untyped-def]
    env = create_environment()
    templates = set().union(*(_template_names(env, o) for o in outputs))
    macros = {"badge", "legend"}  # imported from _macros.html
    used = _top_level_names(env, templates) - macros
    documented = {f.name for f in dataclasses.fields(context)}
    assert used == documented
    assert all(f.metadata.get("help") for f in dataclasses.fields(context))


def test_html_is_escaped_and_text_is_not() -> None:
    env = create_environment()
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
    assert env.select_autoescape if hasattr(env, "select_autoescape") else True
    html = env.get_template("_summary.html").render(summary=["<i>x</i>"], notes=[])
    assert "&lt;i&gt;x&lt;/i&gt;" in html
    txt = env.get_template("bulletin_mail.txt")
    assert env.autoescape(txt.name) is False and env.autoescape("bulletin.html") is True


def test_a_missing_field_fails_the_render_instead_of_rendering_blank() -> None:
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        create_environment().get_template("_summary.html").render(summary=[])


def test_model_names_read_as_words() -> None:
    model = "mean(snaive×0.09,theta(M)×0.24,ets(A,Ad,A)·log×0.47,sarima(0,1,1)(0,1,1)12·log×0.20)"
    assert b.model_text(model) == (
        "组合：ETS(A,Ad,A)·对数 47%、Theta(M) 24%、SARIMA(0,1,1)(0,1,1)12·对数 20%、季节朴素 9%"
    )
    assert b.model_text("snaive", "en") == "seasonal naive"


# ---------------------------------------------------------------- charts
def test_charts_hold_no_words_only_numbers_and_years() -> None:
    months = tuple(f"{2023 + i // 12}-{i % 12 + 1:02d}" for i in range(36))
    spec = ChartSpec(
        months=months,
        forecast_from=24,
        lines=(Line("actual", tuple([8.0 - 0.1 * i for i in range(24)] + [None] * 12)),),
        hlines=(HLine("red", 3.0), HLine("orange", 6.0)),
        include_zero=True,
    )
    svg = chart_svg(spec, label="东至县 <可支付月数>")
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert texts and all(re.fullmatch(r"[-0-9.,]+", t) for t in texts)
    assert 'aria-label="东至县 &lt;可支付月数&gt;"' in svg and "<script" not in svg
    png = chart_png(spec)
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    assert image.size == (960, 440) and len(png) < 40_000
    assert nice_ticks(0.0, 9.3) == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]


def test_legend_colours_of_the_stylesheet_are_the_charts_colours() -> None:
    from monitor.render.charts import PALETTE

    css = create_environment().loader.get_source(create_environment(), "_styles.html")[0]
    rules = dict(re.findall(r"\.k-(\w+)[^{]*\{ color: (#[0-9a-f]{6}); \}", css))
    rules.update({"forecast": rules["actual"]})  # `.k-actual, .k-forecast { … }`
    for role in (
        "actual",
        "band80",
        "band95",
        "income",
        "expenditure",
        "income_fc",
        "red",
        "notice",
    ):
        assert rules[role] == PALETTE[role], role


# ---------------------------------------------------------------- the city's bulletin
def test_city_bulletin_reads_like_a_bureau_document(city_engine: Engine, tmp_path: Path) -> None:
    written = produce(city_engine, tmp_path, month="2024-12")
    html = written.html.read_text(encoding="utf-8")
    assert written.html.name == "bulletin-2024-12-341700-zh.html"
    assert "<title>池州市医保基金运行风险监测月报（2024年12月）</title>" in html
    assert "池州市医疗保障局" in html and "2024年 第12期" in html
    ctx = written.context
    assert {c.level: c.count for c in ctx.counts} == {
        "red": 1,
        "orange": 1,
        "yellow": 2,
        "green": 6,
    }
    assert ctx.total_funds == 10 and len(ctx.kpi) == 10 and ctx.kpi[0].region_code == "341700"
    assert ctx.kpi[0].derived and ctx.kpi[0].depth == 0 and ctx.kpi_unit == "万元"
    # the summary is generated from the data: counts, changes, the worst case and its forecast
    summary = "".join(ctx.summary)
    assert "红色预警 1 个、橙色 1 个、黄色 2 个，6 个运行正常" in summary
    assert "风险最突出的是东至县居民医保（红色）" in summary and "基金耗尽的概率" in summary
    assert ctx.warnings[0].title == "东至县居民医保" and ctx.warnings[0].level == "red"
    assert any(p.high for p in ctx.warnings[0].probabilities)
    # KPI table: badges with Chinese colour names, amounts with thousands separators
    for word in ("红色", "橙色", "黄色", "正常"):
        assert f'">{word}</span>' in html
    assert re.search(r"<td data-label=\"期末累计结余\">\d{1,3}(,\d{3})+\.\d\d</td>", html)
    # three charts per fund, inline; nothing fetched, no script
    assert html.count('<svg class="chart"') == 30
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//|url\(|@import""", html)
    assert "default-src 'none'" in html
    # the rest of the document
    for heading in ("五、预警处理情况", "六、数据质量", "七、方法说明", "可支付月数</dt>"):
        assert heading in html
    assert "已确认的预警" in html and "静默中的预警" in html  # none in force: 无
    assert "导入 #1" in html and "MASE" in html and "组合：" in html
    assert not ctx.notes  # evaluations are current


def test_english_edition(city_engine: Engine, tmp_path: Path) -> None:
    written = produce(city_engine, tmp_path, month="2024-12", lang="en")
    html = written.html.read_text(encoding="utf-8")
    assert '<html lang="en">' in html
    assert "池州市 Medical Insurance Fund Risk Monitoring Bulletin (December 2024)" in html
    assert ">Red</span>" in html and "Payable months" in html and "CNY million" in html
    assert "1 red, 1 orange, 2 yellow and 6 normal" in "".join(written.context.summary)
    assert written.html.name.endswith("-en.html")


def test_email_edition_is_inline_css_tables_and_png_by_content_id(
    city_engine: Engine, tmp_path: Path
) -> None:
    written = produce(city_engine, tmp_path, month="2024-12")
    raw = written.eml.read_bytes()
    assert b"\r\n" in raw and "-mail" in written.eml.name
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "池州市医保基金运行风险监测月报（2024年12月）：红色 1、橙色 1、黄色 2"
    assert raw.startswith(b"Subject: =?utf-8?")  # encoded, not raw UTF-8 in the header
    assert msg.get_content_type() == "multipart/alternative"
    plain, related = msg.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    html = html_part.get_content()
    assert "<script" not in html.lower() and "<svg" not in html.lower() and "<style" not in html
    assert 'style="' in html and "<table" in html
    cids = set(re.findall(r'src="cid:([^"]+)"', html))
    assert cids == {img["Content-ID"].strip("<>") for img in images}
    # the scope's two funds and the three other funds with a colour: 5 funds × 3 charts
    assert len(images) == 15 and all(img.get_content_type() == "image/png" for img in images)
    assert images[0].get_payload(decode=True).startswith(b"\x89PNG")
    text_body = plain.get_content()
    assert "东至县居民医保" in text_body and not re.search(r"<[a-zA-Z/!]", text_body)  # no tags
    assert written.context.mail.bulletin_file in text_body


def test_archive_index_lists_every_bulletin_newest_first_with_colour_counts(
    city_engine: Engine, tmp_path: Path
) -> None:
    produce(city_engine, tmp_path, month="2024-11")
    written = produce(city_engine, tmp_path, month="2024-12")
    produce(city_engine, tmp_path, month="2024-12", scope="341721")
    index = written.index.read_text(encoding="utf-8")
    assert index.index("2024年12月") < index.index("2024年11月")
    assert 'href="bulletin-2024-12-341700-zh.html"' in index
    assert 'href="bulletin-2024-11-341700-zh-mail.eml"' in index
    assert "东至县医保基金运行风险监测月报（2024年12月）" in index
    manifest = json.loads(written.manifest.read_text(encoding="utf-8"))
    assert manifest["counts"] == {"red": 1, "orange": 1, "yellow": 2, "green": 6}
    # counts of the 12-month bulletin of the city appear as badges
    row = index[index.index('href="bulletin-2024-12-341700-zh.html"') :]
    assert re.search(
        r'badge-red">红色 1<.*badge-orange">橙色 1<.*badge-yellow">黄色 2<.*badge-green">正常 6<',
        row,
        re.S,
    )
    assert not list(tmp_path.glob(".*.tmp*"))  # no temporary files left


def test_a_county_scope_covers_only_that_county(city_engine: Engine, tmp_path: Path) -> None:
    written = produce(city_engine, tmp_path, month="2024-12", scope="341721")
    ctx = written.context
    assert ctx.title == "东至县医保基金运行风险监测月报（2024年12月）"
    assert {r.region_code for r in ctx.kpi} == {"341721"} and ctx.total_funds == 2
    assert ctx.summary[0].startswith("2024年12月，东至县共 2 个基金")


def test_acknowledged_and_silenced_alerts_in_force_are_shown(city_url: str, tmp_path: Path) -> None:
    import shutil

    from monitor.store.schema import alert_silences, alerts

    path = tmp_path / "with-alerts.db"
    shutil.copy(city_url.removeprefix("sqlite:///"), path)
    engine = open_store(f"sqlite:///{path}")
    at = dt.datetime(2025, 1, 3, 2, 0)
    event = {
        "region_name": "x", "month": "2024-12", "kind": "raise", "previous_level": "orange",
        "headline": "h", "event": {}, "recipients": [], "created_at": at,
        "acked_at": None, "acked_by": None, "ack_note": None, "ack_until": None,
    }  # fmt: skip
    try:
        with engine.begin() as conn:
            conn.execute(
                alerts.insert(),
                [
                    {
                        **event,
                        "region_code": "341721",
                        "fund": "resident",
                        "level": "red",
                        "acked_at": at,
                        "acked_by": "张科长",
                        "ack_note": "已报告分管领导",
                    },
                    {**event, "region_code": "341722", "fund": "resident", "level": "orange"},
                    {
                        **event,
                        "region_code": "341723",
                        "fund": "employee",
                        "level": "yellow",
                        "acked_at": at,
                        "acked_by": "x",
                        "ack_until": dt.datetime(2025, 1, 4),
                        "ack_note": "expired",
                    },
                ],
            )
            silence = {"reason": "年度清算中", "created_by": "李四", "created_at": at, "levels": {}}
            conn.execute(
                alert_silences.insert(),
                [
                    {
                        **silence,
                        "region_glob": "341723",
                        "fund": "*",
                        "until": dt.datetime(2025, 3, 1),
                    },
                    {
                        **silence,
                        "region_glob": "3417*",
                        "fund": "employee",
                        "reason": "ended",
                        "until": dt.datetime(2025, 1, 5),
                    },
                ],
            )
        written = produce(engine, tmp_path / "out", month="2024-12")
    finally:
        engine.dispose()
    alerts_view = written.context.alerts
    assert alerts_view.available
    assert [(a.region, a.who, a.note) for a in alerts_view.acknowledged] == [
        ("东至县（341721）", "张科长", "已报告分管领导")
    ]
    assert [(a.region, a.fund, a.note) for a in alerts_view.silenced] == [
        ("青阳县（341723）", "全部险种", "年度清算中")
    ]
    html = written.html.read_text(encoding="utf-8")
    assert "张科长" in html and "年度清算中" in html
    assert "ended" not in html and "expired" not in html


# ---------------------------------------------------------------- data is escaped; both stores
def test_a_region_name_from_a_ledger_is_escaped_on_sqlite_and_postgresql(
    store_url: str, engine: Engine, tmp_path: Path
) -> None:
    ledger = demo_city().ledger
    ledger = ledger[ledger.region_code.isin(["341721", "341722"]) & (ledger.fund == "resident")]
    ledger = ledger.copy()
    evil = "<script>alert(1)</script>县"
    ledger.loc[ledger.region_code == "341722", "region_name"] = evil
    # a balance that does not reconcile: a data-quality finding of this month's import
    row = ledger.index[(ledger.region_code == "341721") & (ledger.month == "2024-12")][0]
    ledger.loc[row, "balance"] += 500_000_00
    evaluated_store(tmp_path, ledger, ("2024-12",), url=store_url)
    written = produce(engine, tmp_path / "out")
    html = written.html.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;县" in html
    assert "<script" not in html.lower()
    msg = email.message_from_bytes(written.eml.read_bytes(), policy=policy.default)
    mail_html = msg.get_body(("html",)).get_content()
    assert "&lt;script&gt;" in mail_html and "<script" not in mail_html.lower()
    assert evil in msg.get_body(("plain",)).get_content()  # plain text shows it as it is
    findings = written.context.findings
    assert any("结余" in f.text for f in findings.items), findings
    assert "六、数据质量" in html and "导入 #1" in html


# ---------------------------------------------------------------- the command
def test_fundmon_bulletin_writes_the_archive_and_prints_where(
    city_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "archive"
    result = runner.invoke(
        main, ["--db", city_url, "bulletin", "--month", "2024-12", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (
        "池州市医保基金运行风险监测月报（2024年12月）：10 个基金（红色 1，橙色 1，黄色 2，正常 6）"
        in (result.output)
    )
    assert f"月报：{out / 'bulletin-2024-12-341700-zh.html'}" in result.output
    assert (out / "index.html").is_file() and (
        out / "bulletin-2024-12-341700-zh-mail.eml"
    ).is_file()


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--month", "2024-13", "--out", "x"], 2, "不是月份"),
        (["--month", "2024-12"], 2, "--out"),
        (["--scope", "3417", "--out", "x"], 2, "6 位"),
        (["--scope", "110000", "--out", "x"], 1, "不在存储中"),
        (["--month", "2023-06", "--out", "x"], 1, "fundmon evaluate --month 2023-06"),
    ],
    ids=["bad-month", "no-out", "bad-scope", "unknown-scope", "not-evaluated"],
)
def test_fundmon_bulletin_refuses_with_reasons(
    city_url: str, tmp_path: Path, args: list[str], code: int, words: str
) -> None:
    result = CliRunner().invoke(main, ["--db", city_url, "bulletin", *args])
    assert result.exit_code == code
    assert words in result.output


def test_send_queues_the_email_edition_once_per_recipient_and_delivers_it(
    city_url: str, tmp_path: Path
) -> None:
    """--send goes through the real outbox; producing the bulletin again queues nothing twice,
    and `fundmon outbox send` writes the messages (no [smtp]: .eml files in mail_dir)."""
    import email
    import email.policy

    from sqlalchemy import create_engine, select

    from monitor.store.schema import outbox

    conf = tmp_path / "config.toml"
    runner = CliRunner()
    args = ["--config", str(conf), "--db", city_url, "bulletin", "--out", str(tmp_path), "--send"]
    conf.write_text("[forecast]\nhorizon = 12\n", encoding="utf-8")
    refused = runner.invoke(main, args)
    assert refused.exit_code == 1 and "没有收件人" in refused.output

    conf.write_text(
        '[bulletin]\nto = ["局领导 <leader@example.gov.cn>", "cw@example.gov.cn"]\n'
        '[alerts]\nmail_dir = "mail"\n',
        encoding="utf-8",
    )
    for _ in range(2):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
    engine = create_engine(city_url)
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.recipient, outbox.c.subject)).all()
    engine.dispose()
    assert sorted(r.recipient for r in rows) == [
        "cw@example.gov.cn",
        "局领导 <leader@example.gov.cn>",
    ]
    assert all("月报" in r.subject for r in rows)

    sent = runner.invoke(main, ["--config", str(conf), "--db", city_url, "outbox", "send"])
    assert sent.exit_code == 0, sent.output
    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert "月报" in msg["Subject"] and msg["Message-ID"].endswith("@fundmon>")
    html = msg.get_body(("html",)).get_content()
    cids = {p["Content-ID"].strip("<>") for p in msg.walk() if p["Content-ID"]}
    assert cids and all(f"cid:{cid}" in html for cid in cids)


def test_the_environment_is_shared_and_overridable(tmp_path: Path) -> None:
    assert environment() is environment()
    (tmp_path / "_masthead.html").write_text("<header>OWN {{ issuer }}</header>", encoding="utf-8")
    env = environment(tmp_path)
    assert (
        env.get_template("_masthead.html").render(issuer="<x>") == "<header>OWN &lt;x&gt;</header>"
    )
