"""The line of a key or table in TOML text, for messages that point at the file.

`tomllib` gives values without positions, so a refused setting would otherwise be named by its
key alone. `TomlLines` scans the text once for table headers (`[a.b]`, `[[a.b]]`, with the
n-th `[[…]]` of an array numbered like the parsed list) and finds a location — the path of
keys and list indices a validator reports, such as `("alerts", "routes", 0, "to")` — under the
deepest header that matches it. A location not written in the file (a missing key) gets the
line of its nearest table; one that cannot be placed at all gets None.

Used for config.toml and, through `thresholds._Locator`, for threshold profiles.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")
_DOTTED_PART = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*(\.|$)""")

Location = Sequence[str | int]


def split_key(dotted: str) -> tuple[str, ...]:
    """`a."b.c".d` → ("a", "b.c", "d") (quotes removed; escapes kept as written)."""
    parts: list[str] = []
    pos = 0
    while pos < len(dotted):
        m = _DOTTED_PART.match(dotted, pos)
        if not m or m.end() == pos:
            return (*parts, dotted[pos:].strip())
        part = m.group(1)
        parts.append(part[1:-1] if part[0] in "\"'" else part)
        pos = m.end()
    return tuple(parts)


class TomlLines:
    def __init__(self, text: str | None) -> None:
        self.lines = text.splitlines() if text else []
        # (first line index, location of the table) for every header, in file order
        self.headers: list[tuple[int, tuple[str | int, ...]]] = []
        arrays: dict[tuple[str | int, ...], int] = {}  # array-of-tables → elements seen
        quote = None  # the delimiter of a multi-line string we are inside ('"""' or "'''")
        for i, line in enumerate(self.lines):
            m = None if quote else _HEADER.match(line)
            for delimiter in ('"""', "'''"):
                if (quote in (None, delimiter)) and line.count(delimiter) % 2:
                    quote = None if quote else delimiter
            if not m:
                continue
            names = split_key(m.group(2))
            is_array = m.group(1) == "[["
            where: tuple[str | int, ...] = ()
            for j, name in enumerate(names):
                where = (*where, name)
                last = j == len(names) - 1
                if last and is_array:
                    n = arrays.get(where, 0)
                    arrays[where] = n + 1
                    where = (*where, n)
                elif where in arrays:  # [[a]] then [a.b]: b belongs to the latest a
                    where = (*where, arrays[where] - 1)
            self.headers.append((i, where))

    def span(self, location: Location) -> tuple[int, int] | None:
        """0-based [first, end) lines of the table written under its own header at `location`,
        with its sub-tables: up to the next header of a table outside it. None when the table
        has no header (it is inline, or not written)."""
        loc = tuple(location)
        for n, (start, where) in enumerate(self.headers):
            if where == loc:
                for after, inner in self.headers[n + 1 :]:
                    if inner[: len(loc)] != loc:
                        return start, after
                return start, len(self.lines)
        return None

    def line(self, location: Location) -> int | None:
        """1-based line of `location`: the key's own line when it is written, else its table's."""
        loc = tuple(location)
        best: tuple[int, int, int] | None = None  # (matched length, header index, end line)
        for n, (start, where) in enumerate(self.headers):
            deeper = best is None or len(where) > best[0]
            if deeper and len(where) <= len(loc) and loc[: len(where)] == where:
                end = self.headers[n + 1][0] if n + 1 < len(self.headers) else len(self.lines)
                best = (len(where), start, end)
        if best is None:  # a key before the first header (or a table never written)
            first = self.headers[0][0] if self.headers else len(self.lines)
            return self._key_line(loc, -1, first)
        depth, start, end = best
        if depth == len(loc):
            return start + 1
        return self._key_line(loc[depth:], start, end) or start + 1

    def _key_line(self, rest: tuple[str | int, ...], start: int, end: int) -> int | None:
        """The line of `rest[0] =` (or `rest[0].x =`) between the header at `start` and `end`,
        then of the next named key below it (an inline table or array written on more lines)."""
        found = None
        for key in rest:
            if not isinstance(key, str):
                continue
            pattern = re.compile(rf"""(^|[{{,.\s])["']?{re.escape(key)}["']?\s*[.=]""")
            begin = start + 1 if found is None else found - 1
            for i in range(begin, end):
                text = self.lines[i]
                if text.lstrip().startswith("#"):
                    continue
                if pattern.search(text):
                    found = i + 1
                    break
            else:
                break
        return found
