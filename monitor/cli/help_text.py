"""Help in two languages: every command, group and option carries its Chinese help and its
English one side by side, in its own module, and the help shown follows the language the
user chose — Chinese unless told otherwise.

How a module writes them::

    @command("import")                    # or @group(), @alerts.command("list")
    @option("--sheet", help="只读取这个工作表", en="Read only this sheet")
    @english("Import ledgers …")          # next to the docstring, the Chinese help
    def import_cmd(...):
        \"\"\"导入台账……\"\"\"

Which language: the last `--lang` on the command line so far — `fundmon --lang en …` (the
global option), or a command's own output `--lang` (`fundmon evaluate --lang en --help`) —
else `$FUNDMON_LANG`, else Chinese. The command line is read for `--lang` before anything
else, so `-h` before or after `--lang` gives the same help.

The same choice is the default of the output `--lang` of `evaluate`, `history` and
`thresholds explain` (`output_lang`): what they print is for the person at the terminal.
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

LANGS = ("zh", "en")
LANG_ENV = "FUNDMON_LANG"
_META = "monitor.cli.lang"  # in ctx.meta, which a command's context shares with its group's
_EN_ATTR = "__fundmon_help_en__"
HELP_OPTION = {"zh": "显示本帮助并退出", "en": "Show this message and exit."}

F = TypeVar("F", bound=Callable[..., Any])


def chosen_lang(ctx: click.Context | None = None) -> str | None:
    """The language the user asked for (command line, then $FUNDMON_LANG); None if neither."""
    ctx = ctx or click.get_current_context(silent=True)
    said = ctx.meta.get(_META) if ctx is not None else None
    if said in LANGS:
        return str(said)
    env = os.environ.get(LANG_ENV, "")
    return env if env in LANGS else None  # a bad value is refused by the global option


def help_lang(ctx: click.Context | None = None) -> str:
    """The language of help and of the CLI's own messages: Chinese unless asked."""
    return chosen_lang(ctx) or "zh"


def output_lang() -> str:
    """Default of an output `--lang` (a click default is called without arguments)."""
    return help_lang()


def say(zh: str, en: str, ctx: click.Context | None = None) -> str:
    """One of a message's two texts, in the help language (usage errors of shared options)."""
    return en if help_lang(ctx) == "en" else zh


def remember_lang(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """Callback of the global `--lang`: its checked value (or $FUNDMON_LANG's) for the rest."""
    if value is not None:
        ctx.meta[_META] = value


def _lang_on_command_line(command: click.Command, ctx: click.Context, args: list[str]) -> None:
    """Read `--lang` of this command's own arguments before click handles any of them, so
    that `-h` (handled first, being eager) already speaks the language, wherever it stands.
    A command line click will refuse is left to click to refuse."""
    if not any(p.name == "lang" and isinstance(p, click.Option) for p in command.params):
        return
    try:
        opts, _args, _order = command.make_parser(ctx).parse_args(args=list(args))
    except click.UsageError:
        return
    if opts.get("lang") in LANGS:
        ctx.meta[_META] = opts["lang"]


class BilingualOption(click.Option):
    """An option with `help` (Chinese) and `en` (English)."""

    def __init__(self, *args: Any, en: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help_en = inspect.cleandoc(en) if en else None

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        if help_lang(ctx) != "en" or self.help_en is None:
            return super().get_help_record(ctx)
        shown = copy.copy(self)  # this object stays as declared
        shown.help = self.help_en
        return click.Option.get_help_record(shown, ctx)


class BilingualCommand(click.Command):
    """A command whose docstring (or `help`) is Chinese and whose `@english` text is English."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        text = getattr(self.callback, _EN_ATTR, None)
        self.help_en: str | None = inspect.cleandoc(text) if text else None

    def _shown(self, ctx: click.Context | None) -> click.Command:
        """This command as its help is shown in the chosen language (a copy when English)."""
        if help_lang(ctx) != "en" or self.help_en is None:
            return self
        shown = copy.copy(self)
        shown.help, shown.short_help = self.help_en, None
        return shown

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        click.Command.format_help_text(self._shown(ctx), ctx, formatter)

    def get_short_help_str(self, limit: int = 45) -> str:
        # a group lists its commands without passing the context: the current one decides
        return click.Command.get_short_help_str(self._shown(None), limit)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)
        if option is not None:  # click's own, made once: its text follows the language
            option.help = HELP_OPTION[help_lang(ctx)]
        return option

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        _lang_on_command_line(self, ctx, args)
        return super().parse_args(ctx, args)


class BilingualGroup(BilingualCommand, click.Group):
    """A group of bilingual commands: `@grp.command(…)` and `@grp.group(…)` make them too."""

    command_class = BilingualCommand
    group_class = type  # subgroups of the same class


def english(text: str) -> Callable[[F], F]:
    """The English help of the command defined below it (its docstring is the Chinese)."""

    def mark(fn: F) -> F:
        # kept through functools.wraps (reports_errors) and click's pass_obj, which copy it
        setattr(fn, _EN_ATTR, text)
        return fn

    return mark


def command(
    name: str | None = None, **attrs: Any
) -> Callable[[Callable[..., Any]], BilingualCommand]:
    return click.command(name, cls=BilingualCommand, **attrs)


def group(name: str | None = None, **attrs: Any) -> Callable[[Callable[..., Any]], BilingualGroup]:
    return click.group(name, cls=BilingualGroup, **attrs)


def option(*param_decls: str, en: str, **attrs: Any) -> Callable[[F], F]:
    """`click.option` with the English help next to the Chinese `help`."""
    return click.option(*param_decls, cls=BilingualOption, en=en, **attrs)


def lang_option() -> Callable[[F], F]:
    """The output `--lang` of `evaluate`, `history` and `thresholds explain` — defined once:
    what they print is for the person at the terminal, so its default is the language chosen
    for the CLI (`fundmon --lang`, $FUNDMON_LANG), else Chinese. (`bulletin --lang` is not
    this: a bulletin is for its recipients, its default is config.toml [bulletin] lang.)"""
    return option(
        "--lang",
        type=click.Choice(LANGS),
        default=output_lang,
        help="输出语言 / output language: zh 中文, en English"
        "（默认：fundmon --lang 或 $FUNDMON_LANG，否则 zh）",
        en="Output language: zh Chinese, en English"
        " (default: fundmon --lang or $FUNDMON_LANG, else zh)",
    )
