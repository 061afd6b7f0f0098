"""The kinds of value config.toml holds, as annotated types for the section models.

Each type says what the file may write and what the program receives: `Duration` takes "7d",
"12h", "30m" or seconds and gives a `timedelta`; `Strings` takes a string or a list of them
and gives a tuple; `RelPath` takes a path relative to the file and gives it absolute. A value
that does not fit raises a `PydanticCustomError` whose kind is a key of
`monitor.config.messages.MESSAGES`, so every problem is worded once, in both languages.

Numbers, strings and booleans are strict (`"5"` is not 5, `true` is not 1): the file is typed,
and a quoted number is more often a slip than a choice.

Validation context (given when a file is validated, absent when code builds settings):
`base_dir` (relative paths), `funds` (the catalogue fund names resolve against).
"""

from __future__ import annotations

import datetime as dt
import grp
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, BeforeValidator, StrictBool, StrictFloat, StrictInt, StrictStr
from pydantic import ValidationInfo as Info
from pydantic_core import PydanticCustomError

from monitor.config.messages import MESSAGES
from monitor.core.alerts import envelope_address
from monitor.core.money import parse_unit

Text = StrictStr
Int = StrictInt
Number = StrictFloat  # an integer is a number too: 1000 is 1000.0
Flag = StrictBool


class Configured(Protocol):
    """What the section accessors read of a `monitor.config.settings.Config` (a protocol, so
    the section modules need not import the module that imports them)."""

    @property
    def sections(self) -> Any: ...
    @property
    def raw(self) -> Any: ...
    @property
    def forecast(self) -> Any: ...
    @property
    def imports(self) -> Any: ...


def fail(kind: str, **ctx: Any) -> PydanticCustomError:
    """A problem of `kind` (a key of MESSAGES); `field=` names the key at fault when a check
    on the whole section raises it."""
    return PydanticCustomError(kind, MESSAGES[kind][1], ctx)


def _context(info: Info, name: str) -> Any:
    return info.context.get(name) if isinstance(info.context, dict) else None


# ---------------------------------------------------------------- durations
_DURATION = re.compile(r"(\d+)\s*(w|d|h|m|s)")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(value: object) -> dt.timedelta:
    """`"7d"`, `"1d12h"`, `"30m"`, `"45s"`, `"2w"` or a number of seconds → timedelta.

    :raises ValueError: anything else, or a duration that is not positive.
    """
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            seconds = float(text)
        else:
            parts = _DURATION.findall(text)
            if not parts or _DURATION.sub("", text).strip():
                raise ValueError(value)
            seconds = float(sum(int(n) * _UNIT_SECONDS[u] for n, u in parts))
    else:
        raise ValueError(value)
    if seconds <= 0:
        raise ValueError(value)
    return dt.timedelta(seconds=seconds)


def _duration(value: object) -> dt.timedelta:
    if isinstance(value, dt.timedelta) and value > dt.timedelta(0):
        return value
    try:
        return parse_duration(value)
    except ValueError:
        raise fail("duration") from None


def _pause(value: object) -> dt.timedelta:
    """A duration that may be zero ("0s": no wait at all)."""
    if isinstance(value, dt.timedelta) and value >= dt.timedelta(0):
        return value
    zero = isinstance(value, int | float) and not isinstance(value, bool) and value == 0
    if zero or (isinstance(value, str) and re.fullmatch(r"\s*0+\s*[wdhms]?\s*", value)):
        return dt.timedelta(0)
    try:
        return parse_duration(value)
    except ValueError:
        raise fail("pause") from None


Duration = Annotated[dt.timedelta, BeforeValidator(_duration)]
Pause = Annotated[dt.timedelta, BeforeValidator(_pause)]


# ---------------------------------------------------------------- text
def as_strings(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple | set | frozenset) or not all(
        isinstance(v, str) for v in value
    ):
        raise fail("strings")
    return tuple(v.strip() for v in value)


def _optional_text(value: object) -> str | None:
    """ "" (or nothing) means "not set"."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise fail("string_type")
    return value.strip() or None


def _addresses(values: tuple[str, ...]) -> tuple[str, ...]:
    for v in values:
        _address(v)
    return values


def _address(value: str | None) -> str | None:
    if value is not None and envelope_address(value) is None:
        raise fail("address", input=value)
    return value


def choice(*values: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in values:
            raise fail("choice", choices=", ".join(values))
        return value

    return check


Strings = Annotated[tuple[str, ...], BeforeValidator(as_strings)]
OptionalText = Annotated[str | None, BeforeValidator(_optional_text)]
Addresses = Annotated[Strings, AfterValidator(_addresses)]
OptionalAddress = Annotated[OptionalText, AfterValidator(_address)]


def _unit(value: object) -> str | None:
    text = _optional_text(value)
    if text is None:
        return None
    unit = parse_unit(text)
    if unit is None:
        raise fail("unit", input=text)
    return unit


Unit = Annotated[str | None, BeforeValidator(_unit)]  # None: not stated (refuse, or ask)


# ---------------------------------------------------------------- paths
def _path(value: object, info: Info) -> Path | None:
    """Relative to the file's folder when a file is validated; as given otherwise."""
    if isinstance(value, str):
        value = value.strip() or None
    if value is None:
        return None
    if not isinstance(value, str | Path):
        raise fail("string_type")
    path = Path(value)
    base = _context(info, "base_dir")
    if base is not None and not path.is_absolute():
        path = (Path(base) / path).resolve()
    return path


def _folder(value: Path | None) -> Path | None:
    if value is not None and not value.is_dir():
        raise fail("folder", path=str(value))
    return value


RelPath = Annotated[Path, BeforeValidator(_path)]
OptionalPath = Annotated[Path | None, BeforeValidator(_path)]
OptionalFolder = Annotated[OptionalPath, AfterValidator(_folder)]  # must exist


def _group(value: str | None) -> str | None:
    if value is not None:
        try:
            grp.getgrnam(value)
        except KeyError:
            raise fail("group", input=value) from None
    return value


OptionalGroup = Annotated[OptionalText, AfterValidator(_group)]
