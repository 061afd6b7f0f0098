"""One line per event, `key=value` fields first, for journald and for grep.

    2024-06-03T14:00:05+0800 INFO event=imported job=ingest file=2024-05.csv rows=30 已导入 …

The format, which a reader (or a parser) can rely on whatever text the event carries:

- the time (left out under systemd: JOURNAL_STREAM is set, the journal stamps each line),
  the level, then the fields, then the message; the traceback of an error follows on the
  same line, its lines joined by " ⏎ ". One event is always exactly one line.
- A field is `key=value`; keys are the program's (`extra=`: job, event, region, fund, file…).
  A value is written bare when it is non-empty and has no whitespace, `"`, `=`, `\\` or
  control character; otherwise in double quotes, with `\\` as `\\\\`, `"` as `\\"` and
  control characters escaped as text_safety.safe_text does (`\\n`, `\\r`, `\\t`,
  `\\u001b`, `\\u202e` …). So `file="a b event=imported"` is one field: no value can end
  the line or start another field.
- The fields end at the first word that is not `key=value`; the message is the rest of the
  line, control characters escaped the same way. A message whose first word would read as
  a field (a rejected file named `event=imported…` leads its finding) is quoted like a value.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

from monitor.core.text_safety import safe_text

FIELDS = ("event", "job", "region", "fund", "file", "month", "at", "run_id", "seconds", "outcome")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_BARE = re.compile(r'[^\s"=\\]+')  # and nothing safe_text would escape
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOOKS_LIKE_FIELD = re.compile(r'[^\s"=]+=')


class EventFormatter(logging.Formatter):
    def __init__(self, with_time: bool) -> None:
        super().__init__()
        self.with_time = with_time

    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        ordered = [k for k in FIELDS if k in extra] + sorted(k for k in extra if k not in FIELDS)
        fields = " ".join(f"{_key(k)}={_value(extra[k])}" for k in ordered)
        parts = [record.levelname]
        if self.with_time:
            parts.insert(0, self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"))
        if fields:
            parts.append(fields)
        parts.append(_message(record.getMessage()))
        line = " ".join(parts)
        if record.exc_info:  # journald keeps one entry per line: fold the traceback
            line += " ⏎ " + _folded(self.formatException(record.exc_info))
        if record.stack_info:
            line += " ⏎ " + _folded(self.formatStack(record.stack_info))
        return line


def _key(k: str) -> str:
    return k if _KEY.fullmatch(k) else _quoted(k)


def _value(v: Any) -> str:
    text = str(v)
    if _BARE.fullmatch(text) and safe_text(text) == text:
        return text
    return _quoted(text)


def _quoted(text: str) -> str:
    return '"' + safe_text(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'


def _message(text: str) -> str:
    return _quoted(text) if _LOOKS_LIKE_FIELD.match(text) else safe_text(text)


def _folded(text: str) -> str:
    """A traceback's own lines joined by " ⏎ "; a newline inside an exception's message is
    folded the same way, any other control character escaped."""
    return " ⏎ ".join(safe_text(line) for line in text.rstrip("\n").split("\n"))


def setup_logging(level: int = logging.INFO) -> None:
    """Route the `monitor` loggers and APScheduler's to stderr, one line per event."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EventFormatter(with_time="JOURNAL_STREAM" not in os.environ))
    for name in ("monitor", "apscheduler"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    # APScheduler says "Running job …" at INFO for every run: our own lines say more
    logging.getLogger("apscheduler.executors").setLevel(max(level, logging.WARNING))
    logging.getLogger("apscheduler.scheduler").setLevel(max(level, logging.WARNING))
