"""Every error a user may see is defined in `monitor.core.errors` and drawn in its tree; only
the private signals its docstring names are defined beside the code that raises them."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import monitor
import monitor.core.errors as errors

PACKAGE = Path(monitor.__file__).parent
# caught inside their own package, never shown to a user (see monitor.core.errors)
PRIVATE_SIGNALS = {"ModelFailed", "DeadlineExceeded", "StoreFailed", "_Unmeasurable"}
EXCEPTION_BASES = {"Exception", "BaseException", "RuntimeError", "ValueError", "OSError"}


def test_no_error_class_is_defined_outside_the_errors_module() -> None:
    ours = {n for n, c in vars(errors).items() if inspect.isclass(c) and issubclass(c, Exception)}
    stray = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == Path(errors.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef) or node.name in PRIVATE_SIGNALS:
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
