"""Every error a user may see is defined in `monitor.core.errors` and drawn in its tree; the
few defined elsewhere (private signals; an error that renders a higher layer's wording) are
named in that docstring too, so it stays the one map of every error."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import monitor
import monitor.core.errors as errors

PACKAGE = Path(monitor.__file__).parent
EXCEPTION_BASES = {"Exception", "BaseException", "RuntimeError", "ValueError", "OSError"}


def test_an_error_class_defined_outside_the_errors_module_is_named_in_its_docstring() -> None:
    ours = {n for n, c in vars(errors).items() if inspect.isclass(c) and issubclass(c, Exception)}
    drawn = set(re.findall(r"\w+", errors.__doc__ or ""))
    stray = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == Path(errors.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef) or node.name in drawn:
                continue
            bases = {getattr(b, "id", None) or getattr(b, "attr", "") for b in node.bases}
            if bases & (ours | EXCEPTION_BASES):
                stray.append(f"{path.relative_to(PACKAGE.parent)}: {node.name}")
    assert stray == []


def test_the_tree_in_the_docstring_names_every_error() -> None:
    doc = errors.__doc__ or ""
    for name, cls in vars(errors).items():
        if inspect.isclass(cls) and issubclass(cls, errors.MonitorError):
            assert f" {name} " in doc or doc.startswith(name) or f"\n{name}\n" in doc, name
