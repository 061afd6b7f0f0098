"""Findings about input data: errors refuse an import, warnings are stored with it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from monitor.core.text_safety import safe_text

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One problem, located as the user sees it: file, sheet, row, column, value.

    `row` is the row number shown by Excel or a text editor (1-based, header included).
    `expected` says what would have been accepted, in the analyst's words.
    """

    severity: Severity
    code: str  # stable machine name, e.g. "bad_month", "reconcile"
    message: str  # what is wrong, in Chinese
    file: str | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    value: str | None = None
    expected: str | None = None
    region_code: str | None = None
    fund: str | None = None
    month: str | None = None

    def location(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.sheet:
            parts.append(f"工作表 {self.sheet}")
        if self.row is not None:
            parts.append(f"第 {self.row} 行")
        if self.column:
            parts.append(f"列 {self.column}")
        return "，".join(parts)

    def render(self) -> str:
        """One line for a terminal, a log or an `.errors.txt`: the file name, sheet and value
        came from outside, so control characters in any part are shown escaped."""
        text = self.message
        if self.value is not None:
            text += f"（值：'{self.value}'）"  # escaped below, once, like every output
        if self.expected:
            text += f"；应为：{self.expected}"
        where = self.location()
        return safe_text(f"{where}：{text}" if where else text)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
