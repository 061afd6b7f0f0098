"""A refused configuration, every problem at once: the key, its line in the file, and what is
wrong, worded from `monitor.config.messages` in Chinese (or English).

pydantic reports each problem with a location (`("alerts", "routes", 0, "to")`), a kind and
its context; `problems_from` turns that into `ConfigProblem`s: the key as the operator writes
it (`alerts.routes[1].to`, arrays counted from 1), the line found by scanning the text
(`monitor.core.toml_lines`), and a close match for a misspelt key. `ConfigProblems` is the one
`ConfigError` raised for a whole file, so an operator fixes everything in one go.
"""

from __future__ import annotations

import difflib
import json
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from monitor.config.messages import HEADS, MESSAGES, SAME_AS
from monitor.core.errors import ConfigError
from monitor.core.toml_lines import TomlLines

Lang = Literal["zh", "en"]
# a key refused for what it would hold
_SECRET_KEYS: dict[tuple[str | int, ...], str] = {("smtp", "password"): "smtp_password"}
_SHOWS_NO_INPUT = {
    "store_password",
    "source_password",
    "smtp_password",
    "url",
    "chat_secret",
    "chat_env_name",
}


@dataclass(frozen=True)
class ConfigProblem:
    loc: tuple[str | int, ...]  # where pydantic found it, arrays counted from 0
    kind: str  # a key of MESSAGES (or pydantic's type, worded by pydantic)
    ctx: dict[str, Any] = field(default_factory=dict)
    line: int | None = None
    fallback: str = ""  # pydantic's own message, for a kind MESSAGES does not have

    @property
    def key(self) -> str:
        """`alerts.routes[1].to`: as written in the file, arrays counted from 1."""
        text = ""
        for part in self.loc:
            text += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text

    def message(self, lang: Lang = "zh") -> str:
        pair = MESSAGES.get(self.kind)
        if pair is None:
            return self.fallback or self.kind
        values = dict(self.ctx)
        if "hint_name" in values:
            hint = MESSAGES["hint"][lang == "en"].format(name=values["hint_name"])
            values["hint"] = hint
        values.setdefault("hint", "")
        try:
            return pair[lang == "en"].format(**values)
        except (KeyError, IndexError, ValueError):
            return pair[lang == "en"]

    def where(self, path: str | None) -> str:
        shown = path or "<config>"
        return f"{shown}:{self.line}" if self.line else shown


class ConfigProblems(ConfigError):
    """Every problem of one configuration file; `key` and `path` are the first problem's."""

    def __init__(
        self, problems: Sequence[ConfigProblem], *, path: str | None = None, lang: Lang = "zh"
    ) -> None:
        if not problems:
            raise ValueError("ConfigProblems needs at least one problem")
        self.problems = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
        first = self.problems[0]
        super().__init__(first.message(lang), path=first.where(path), key=first.key or None)
        self.path = path
        self.args = (self.render(lang),)

    def render(self, lang: Lang = "zh") -> str:
        """One line for one problem; a head line and one line per problem otherwise."""
        en = lang == "en"
        head, colon = HEADS["error"][en], (": " if en else "：")
        opening, closing = (" (", ")") if en else ("（", "）")

        def named(p: ConfigProblem) -> str:
            return f"{HEADS['key'][en]} {p.key}" if p.key else ""

        if len(self.problems) == 1:
            p = self.problems[0]
            where = ", ".join(w for w in (p.where(self.path), named(p)) if w)
            return f"{head}{opening}{where}{closing}{colon}{p.message(lang)}"
        count = HEADS["problems"][en].format(n=len(self.problems))
        lines = [f"{head}{opening}{self.path or '<config>'}{closing}{colon}{count}"]
        for p in self.problems:
            lines.append(
                f"  {p.where(self.path)}: {named(p)}{colon if p.key else ''}{p.message(lang)}"
            )
        return "\n".join(lines)


def problems_from(
    error: ValidationError,
    *,
    model: Any,
    text: str | None = None,
    prefix: tuple[str, ...] = (),
) -> list[ConfigProblem]:
    """`error` (from validating `model`, the section found at `prefix` of the file) as
    problems with their keys and lines."""
    at = TomlLines(text)
    errors = error.errors(include_url=False)
    found = []
    for e in errors:
        loc = tuple(p for p in e["loc"] if p != "[key]")  # a bad table name: the table itself
        if e["type"] == "too_short" and any(
            len(o["loc"]) > len(loc) and o["loc"][: len(loc)] == loc for o in errors
        ):
            continue  # a list "too short" only because its entries were refused: said below
        ctx = dict(e.get("ctx") or {})
        if "field" in ctx:  # a check on the whole section names the key at fault
            at_fault = ctx.pop("field")
            loc = (*loc, *(at_fault if isinstance(at_fault, list | tuple) else (at_fault,)))
        full = (*prefix, *loc)
        kind = SAME_AS.get(e["type"], e["type"])
        if kind == "unknown_key":
            kind = _SECRET_KEYS.get(full[-2:], kind)
            if kind == "unknown_key":
                known = known_keys(model, loc[:-1])
                kind = "unknown_section" if len(full) == 1 else kind
                ctx.update(name=str(full[-1]), allowed=", ".join(known))
                close = difflib.get_close_matches(str(full[-1]), known, n=1, cutoff=0.75)
                if close:
                    ctx["hint_name"] = close[0]
        if kind not in _SHOWS_NO_INPUT and "input" not in ctx:
            ctx["input"] = shown(e.get("input"))
        elif "input" in ctx:
            ctx["input"] = shown(ctx["input"])
        found.append(ConfigProblem(full, kind, ctx, at.line(full), e.get("msg", "")))
    return found


def shown(value: object) -> str:
    """A value as TOML would write it, shortened."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str | int | float):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, dict):
        text = "{…}" if value else "{}"
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(shown(v) for v in value[:5]) + (", …]" if len(value) > 5 else "]")
    else:
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


# ---------------------------------------------------------------- the keys a table may hold
_MAPPINGS = (dict, Mapping)


def known_keys(model: Any, loc: Iterable[str | int]) -> list[str]:
    """The keys the table at `loc` inside `model` may hold (for "did you mean …")."""
    kind: Any = model
    for part in loc:
        kind = _inner(kind)
        names = _fields(kind)
        if isinstance(part, str) and part in names:
            kind = names[part]
        elif isinstance(part, int) or typing.get_origin(kind) in _MAPPINGS:
            kind = _item(kind)
        else:
            return []
    return sorted(_fields(_inner(kind)))


def _fields(kind: Any) -> dict[str, Any]:
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return {(f.alias or n): f.annotation for n, f in kind.model_fields.items()}
    if isinstance(kind, type) and is_dataclass(kind):
        hints = typing.get_type_hints(kind, include_extras=True)
        return {f.name: hints.get(f.name) for f in fields(kind)}
    return {}


def _inner(kind: Any) -> Any:
    """Through Annotated[…] and X | None to the type that holds keys."""
    while True:
        if typing.get_origin(kind) is typing.Annotated:
            kind = typing.get_args(kind)[0]
            continue
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if typing.get_origin(kind) in (typing.Union, type(int | None)) and len(args) == 1:
            kind = args[0]
            continue
        return kind


def _item(kind: Any) -> Any:
    kind = _inner(kind)
    args = typing.get_args(kind)
    return args[-1] if typing.get_origin(kind) in _MAPPINGS else (args[0] if args else None)
