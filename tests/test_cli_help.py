"""Issue 16: the whole CLI help in English as well as Chinese.

Every command, group and option of `fundmon` carries both texts (walked from the click tree,
so a new option without its English fails here); `fundmon --lang en …`, a command's own
`--lang en` or $FUNDMON_LANG=en shows the English, with no Chinese left but the unit names a
user types (元, 万元, 亿元); with none of them the help is the Chinese it was. The choice is
also the default output language of evaluate, history and thresholds explain — not of the
bulletin, whose language is config.toml [bulletin] lang.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from monitor.cli.app import main
from monitor.cli.help_text import BilingualCommand, BilingualOption

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")  # incl. '（' '；' '、' '：'
UNITS = re.compile("亿元|万元|元")  # amount units, typed as such: `--unit 万元`


def commands(cmd: click.Command = main, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The command path of every command and group, the top included."""
    yield path
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from commands(sub, (*path, name))


def command_at(path: tuple[str, ...]) -> click.Command:
    cmd: click.Command = main
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    return cmd


ALL = list(commands())
IDS = [" ".join(p) or "fundmon" for p in ALL]


def chinese_left(text: str) -> list[str]:
    """Chinese in `text` other than the unit names, each with a little context."""
    rest = UNITS.sub("", text)
    return [rest[max(m.start() - 20, 0) : m.end() + 20] for m in CJK.finditer(rest)]


def squeezed(text: str) -> str:
    """`text` without whitespace: click wraps help lines where it likes."""
    return re.sub(r"\s+", "", text)


def help_of(args: list[str], env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_tree_is_walked_whole() -> None:
    assert len(ALL) > 25 and ("ledger", "confirm") in ALL and ("db", "upgrade") in ALL


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_every_command_and_option_has_both_helps(path: tuple[str, ...]) -> None:
    cmd = command_at(path)
    assert isinstance(cmd, BilingualCommand), f"{path}: made with click.command, not help_text"
    assert cmd.help and CJK.search(cmd.help), f"{path}: no Chinese help"
    assert cmd.help_en, f"{path}: no English help (@english)"
    assert not chinese_left(cmd.help_en), (path, chinese_left(cmd.help_en))
    for param in cmd.params:
        if isinstance(param, click.Argument):  # click shows no help for arguments
            continue
        where = f"{' '.join(path) or 'fundmon'} {param.opts[0]}"
        assert isinstance(param, BilingualOption), f"{where}: made with click.option"
        assert param.help and CJK.search(param.help), f"{where}: no Chinese help"
        assert param.help_en, f"{where}: no English help (en=)"
        assert not chinese_left(param.help_en), (where, chinese_left(param.help_en))


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_every_help_page_in_english(path: tuple[str, ...]) -> None:
    page = help_of(["--lang", "en", *path, "--help"])
    assert not chinese_left(page), chinese_left(page)  # defaults shown too: [default: 万元]
    cmd = command_at(path)
    assert cmd.help_en is not None
    assert squeezed(cmd.help_en) in squeezed(page)
    for param in cmd.params:
        if isinstance(param, BilingualOption) and param.help_en:
            assert squeezed(param.help_en) in squeezed(page), param.opts
    assert "Show this message and exit." in page


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_the_chinese_help_is_the_default(path: tuple[str, ...]) -> None:
    page = squeezed(help_of([*path, "--help"]))
    cmd = command_at(path)
    assert cmd.help is not None and cmd.help_en is not None
    assert squeezed(cmd.help.partition("\f")[0]) in page
    assert squeezed(cmd.help_en) not in page
    for param in cmd.params:
        if isinstance(param, BilingualOption) and param.help:
            assert squeezed(param.help) in page, param.opts
            assert param.help_en is not None and squeezed(param.help_en) not in page
    assert "显示本帮助并退出" in page


def test_import_help_in_english() -> None:
    page = help_of(["--lang", "en", "import", "--help"])
    assert not chinese_left(page)
    assert "Import ledgers (.xlsx/.xls/.csv)" in page
    unit = "Amount unit: 元 (yuan), 万元 (wan, 10k yuan) or 亿元 (yi, 100m yuan)"
    assert squeezed(unit) in squeezed(page)  # the unit names stay: they are what one types
    assert "--accept-scale" in page and "Only check, and show what would change" in page


@pytest.mark.parametrize(
    "args, env",
    [
        (["--lang", "en", "evaluate", "--help"], {}),
        (["-h", "--lang", "en"], {}),  # -h first: the language is read before it acts
        (["evaluate", "--help", "--lang", "en"], {}),  # a command's own output --lang
        (["ledger", "show", "--help"], {"FUNDMON_LANG": "en"}),
        (["alerts", "list", "-h"], {"FUNDMON_LANG": "en"}),
    ],
    ids=["global", "help-first", "own-lang", "env", "env-subgroup"],
)
def test_the_ways_to_ask_for_english(args: list[str], env: dict[str, str]) -> None:
    page = help_of(args, env)
    assert not chinese_left(page), chinese_left(page)
    assert "Show this message and exit." in page


@pytest.mark.parametrize(
    "args, env",
    [
        (["--lang", "zh", "import", "--help"], {"FUNDMON_LANG": "en"}),  # command line wins
        (["--lang", "en", "evaluate", "--lang", "zh", "--help"], {}),  # the nearer wins
    ],
    ids=["cli-over-env", "own-over-global"],
)
def test_chinese_when_asked(args: list[str], env: dict[str, str]) -> None:
    assert CJK.search(help_of(args, env))


def test_an_unknown_language_is_refused() -> None:
    """Never guessed: a wrong $FUNDMON_LANG stops every command, saying so (exit code 2)."""
    result = CliRunner().invoke(main, ["import", "--help"], env={"FUNDMON_LANG": "de"})
    assert result.exit_code == 2
    assert "Invalid value for '--lang' (env var: 'FUNDMON_LANG')" in result.output
    result = CliRunner().invoke(main, ["--lang", "fr", "ledger", "regions"])
    assert result.exit_code == 2 and "'fr' is not one of 'zh', 'en'" in result.output


@pytest.mark.parametrize(
    "args, error",
    [
        (["ledger", "show", "--region", "341721"], "Error: Missing option '--fund'."),
        (["evaluate", "--format", "html"], "'html' is not one of 'table', 'json', 'csv'."),
        (["evaluate", "--month", "2024-13"], "'2024-13' is not a month (e.g. 2024-12)"),
        (["import", "--unit", "斤", "x.csv"], "'斤': should be 元, 万元 or 亿元"),
        (["history", "--region", "1", "--fund", "x", "--format", "xlsx"], "needs --out FILE"),
        (["nosuch"], "Error: No such command 'nosuch'."),
    ],
    ids=["missing", "choice", "month", "unit", "out", "command"],
)
def test_usage_errors_in_english(args: list[str], error: str) -> None:
    result = CliRunner().invoke(main, ["--lang", "en", *args])
    assert result.exit_code == 2
    assert error in result.output
    assert "Try 'main " in result.output and "for help." in result.output


def test_usage_errors_of_shared_options_stay_chinese_by_default() -> None:
    result = CliRunner().invoke(main, ["evaluate", "--month", "2024-13"])
    assert result.exit_code == 2 and "'2024-13' 不是月份（应如 2024-12）" in result.output


def _params(top: list[str], path: list[str], own: list[str]) -> dict[str, object]:
    """The parameters click hands the command at `path` for `fundmon TOP PATH OWN`: parsed
    as click parses them when it runs the command, the command itself not run."""
    ctx = main.make_context("fundmon", [*top, path[0]])
    cmd: click.Command = main
    for i, name in enumerate(path):
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
        args = list(own) if i == len(path) - 1 else [path[i + 1]]  # click eats its list
        ctx = cmd.make_context(name, args, parent=ctx)
    return ctx.params


EXPLAIN = ["--region", "1", "--fund", "x"]


@pytest.mark.parametrize(
    "top, path, own, env, lang",
    [
        ([], ["evaluate"], [], {}, "zh"),
        (["--lang", "en"], ["evaluate"], [], {}, "en"),
        ([], ["evaluate"], [], {"FUNDMON_LANG": "en"}, "en"),
        (["--lang", "en"], ["evaluate"], ["--lang", "zh"], {}, "zh"),
        (["--lang", "zh"], ["evaluate"], [], {"FUNDMON_LANG": "en"}, "zh"),
        (["--lang", "en"], ["history"], EXPLAIN, {}, "en"),
        ([], ["thresholds", "explain"], EXPLAIN, {"FUNDMON_LANG": "en"}, "en"),
        (["--lang", "en"], ["bulletin"], [], {}, None),  # config.toml [bulletin] lang decides
    ],
    ids=["default", "global", "env", "own", "cli-over-env", "history", "explain", "bulletin"],
)
def test_the_choice_is_the_default_output_language(
    monkeypatch: pytest.MonkeyPatch,
    top: list[str],
    path: list[str],
    own: list[str],
    env: dict[str, str],
    lang: str | None,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert _params(top, path, own)["lang"] == lang
