"""What every command shares: the context (configuration checked whole, the store opened once),
the clock, printing that escapes text from outside, and the core's errors turned into exit
code 1 with the reasons on stderr — once, here."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import click
from tabulate import tabulate

from monitor.cli.help_text import help_lang, say
from monitor.config.problems import ConfigProblems
from monitor.config.settings import Config, load_config
from monitor.core.errors import LedgerRejected, MonitorError, ThresholdProfileError
from monitor.core.findings import Finding
from monitor.core.money import parse_unit
from monitor.core.text_safety import safe_lines, safe_rows, safe_text
from monitor.core.vocabulary import DISPLAY_TZ as DISPLAY_TZ
from monitor.core.vocabulary import local_time as local_time  # for every command's times

P = ParamSpec("P")
R = TypeVar("R")
MAX_LISTED = 50  # findings and changes printed; all are stored


class Context:
    def __init__(self, config_path: str | None, db: str | None) -> None:
        self.config_path = config_path
        self.db = db
        self._config: Config | None = None
        self._engine: Any = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from monitor.config.check import check_sections

            config = load_config(self.config_path, db=self.db)
            check_sections(config)  # every section now, not when a step first reads it
            self._config = config
        return self._config

    def engine(self) -> Any:
        """The store, opened once per command and closed when the command ends."""
        from monitor.store.db import open_store

        if self._engine is None:
            self._engine = open_store(self.config.store_url)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def now() -> dt.datetime:
    """The one place the CLI reads the clock."""
    return dt.datetime.now(dt.UTC)


_SGR = re.compile(r"(\x1b\[[0-9;]*m)")


def echo(
    message: object = "",
    *,
    err: bool = False,
    nl: bool = True,
    block: bool = False,
    styled: bool = False,
) -> None:
    """The one way the CLI prints, so that text from outside (file, region and sheet names,
    cell values, messages quoting them) cannot forge a line or drive the terminal.

    By default `message` is one line: every control character in it, a newline included, is
    shown escaped (text_safety.safe_text). `block=True` is for text the program laid out over
    several lines — a table, JSON, CSV — whose values it escaped itself: its line breaks are
    kept, anything else is escaped. `styled` keeps the colour codes (SGR) of click.style in a
    block; click drops them when the output is not a terminal.
    """
    text = str(message)
    if not block:
        text = safe_text(text)
    elif styled:
        text = "".join(
            part if _SGR.fullmatch(part) else safe_lines(part) for part in _SGR.split(text)
        )
    else:
        text = safe_lines(text)
    click.echo(text, err=err, nl=nl)


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn the core's errors into messages on stderr and exit code 1."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except LedgerRejected as exc:
            for finding in exc.findings:
                echo(f"错误：{finding.render()}", err=True)
            if exc.truncated:
                echo(f"……另有 {exc.truncated} 个错误未列出", err=True)
            echo(str(exc), err=True)
            sys.exit(1)
        except ThresholdProfileError as exc:  # a head line, then one line per problem
            head = str(exc).split("\n", 1)[0]
            echo(f"错误：{head}", err=True)
            for problem in exc.problems:
                echo("  " + problem.describe(exc.source), err=True)
            sys.exit(1)
        except ConfigProblems as exc:  # a file's problems: a head line, one line per problem
            en = (kwargs.get("lang") or help_lang()) == "en"  # the command's, else the CLI's
            head, *problems = exc.render("en" if en else "zh").split("\n")
            echo(f"{'Error: ' if en else '错误：'}{head}", err=True)
            for line in problems:
                echo(line, err=True)
            sys.exit(1)
        except MonitorError as exc:
            echo(f"错误：{exc}", err=True)
            sys.exit(1)
        except BrokenPipeError:  # `fundmon … | head`: the reader left, nothing to report
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except OSError as exc:  # a folder that cannot be written, a disk that is full
            echo(f"错误：{exc.strerror or exc}（{exc.filename or ''}）", err=True)
            sys.exit(1)

    return wrapper


def unit_option(value: str | None) -> str | None:
    if value is None:
        return None
    unit = parse_unit(value)
    if unit is None:
        raise click.BadParameter(
            say(f"{value!r}：应为 元、万元 或 亿元", f"{value!r}: should be 元, 万元 or 亿元")
        )
    return unit


def print_findings(findings: Sequence[Finding], label: str = "警告") -> None:
    for finding in findings[:MAX_LISTED]:
        echo(f"{label}：{finding.render()}")
    if len(findings) > MAX_LISTED:
        echo(f"……另有 {len(findings) - MAX_LISTED} 条{label}未列出（均已随导入记录保存）")


def table(rows: list[list[Any]], headers: list[str], **options: Any) -> str:
    """A table for `echo(…, block=True)`: every text cell escaped, so rows stay rows."""
    options = {"disable_numparse": True, "stralign": "right", **options}
    return tabulate(safe_rows(rows), headers=headers, **options)


def month_option(_c: Any, _p: Any, value: str | None) -> str | None:
    from monitor.core.months import parse_month

    if value is None:
        return None
    month = parse_month(value)
    if month is None:
        raise click.BadParameter(
            say(f"{value!r} 不是月份（应如 2024-12）", f"{value!r} is not a month (e.g. 2024-12)")
        )
    return month


def profile_option(obj: Context, path: str | None) -> Any:
    """The threshold profile of `--profile FILE`, else the configured one."""
    from monitor.core.thresholds import load_profile

    if path:
        return load_profile(path, funds=list(obj.config.funds.funds))
    return obj.config.load_profile()
