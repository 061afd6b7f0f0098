"""Text cells from outside: what is refused, what is quietly normalised, how a value is shown.

Refused anywhere inside a cell (after its ends are trimmed), on every import path:
- control characters: C0 U+0000–U+001F (NUL, tab, LF, CR, ESC…), DEL and C1 U+007F–U+009F;
- invisible format characters (Unicode Cf): the bidi embeddings, overrides and isolates
  U+202A–U+202E and U+2066–U+2069, the marks U+200E/U+200F/U+061C, zero-width characters
  (U+200B–U+200D, U+2060, U+FEFF), the soft hyphen, and the rest of the category;
- the line and paragraph separators U+2028/U+2029, and lone surrogates.
They break e-mail headers (CR/LF: Excel's Alt+Enter), PostgreSQL (NUL), terminals and logs
(ESC sequences), or make a name read other than it is (bidi). A region, fund or month is one
line of visible text; nothing legitimate in a ledger needs them, so the cell is refused and
the analyst cleans it, rather than the program guessing what was meant.

Normalised, because harmless: whitespace at either end of a cell is dropped (a trailing
newline, a tab, spaces, a no-break or full-width space); a no-break space inside a cell
(U+00A0, U+2007, U+202F) becomes an ordinary space. A full-width space U+3000 inside a name
is kept: it is a visible character Chinese forms use to space out short names.

A refused value is shown with each such character escaped the way every output shows them
(`monitor.core.text_safety.safe_text`: `\\n`, `\\u202e`), never raw, so an error message, a log line
or a terminal cannot be forged or garbled by it; the message names the characters in words.
"""

from __future__ import annotations

import re
import unicodedata

from monitor.core.text_safety import FORBIDDEN, safe_text

_NO_BREAK_SPACES = re.compile("[\u00a0\u2007\u202f]")
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NAMES = {
    "\x00": "空字符 NUL",
    "\t": "制表符",
    "\n": "换行",
    "\r": "回车",
    "\x1b": "转义符 ESC",
    "\u2028": "行分隔符",
    "\u2029": "段分隔符",
    "\u200b": "零宽空格",
    "\ufeff": "零宽不换行空格（BOM）",
}
MAX_SHOWN = 80  # characters of a refused value shown in a message
EXPECTED = (
    "一行可见文字，不含换行、回车、制表符等控制字符，也不含双向文字控制符等不可见字符"
    "（Excel 单元格内用 Alt+Enter 输入的换行请删除；首尾的空白会自动去掉）"
)


def clean(text: str) -> str:
    """The harmless normalisation: ends trimmed, no-break spaces inside made plain."""
    text = text.strip()
    return _NO_BREAK_SPACES.sub(" ", text) if not text.isascii() else text


def is_hostile(text: str) -> bool:
    """True when `text`, once cleaned, still holds a character that is refused."""
    return FORBIDDEN.search(text.strip()) is not None


def escape(text: str, limit: int | None = MAX_SHOWN) -> str:
    """`text` with every refused character escaped (`safe_text`), so a message never carries
    it raw; cut to `limit` characters from a little before the first one (None: whole)."""
    first = FORBIDDEN.search(text)
    start = 0
    if limit is not None and len(text) > limit:
        start = max(first.start() - limit // 4, 0) if first else 0
        more = "…" if start + limit < len(text) else ""
        text = ("…" if start else "") + text[start : start + limit] + more
    return safe_text(text) if first else text


def describe(text: str) -> str:
    """The refused characters of `text`, named for an analyst: '换行（U+000A）、回车（U+000D）'."""
    seen: dict[str, None] = dict.fromkeys(FORBIDDEN.findall(text.strip()))
    names = [f"{_name(c)}（U+{ord(c):04X}）" for c in list(seen)[:3]]
    return "、".join(names) + ("等" if len(seen) > 3 else "")


def _name(char: str) -> str:
    if char in _NAMES:
        return _NAMES[char]
    if char in _BIDI:
        return "双向文字控制符"
    category = unicodedata.category(char)
    return {"Cc": "控制字符", "Cs": "无效字符（代理项）"}.get(category, "不可见格式字符")
