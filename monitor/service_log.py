"""One line per event, `key=value` fields first, for journald and for grep.

    INFO event=imported job=ingest file=2024-05.csv rows=30 已导入 2024-05.csv：30 行

Fields come from `extra=` (job, event, region, fund, file, …). Under systemd (JOURNAL_STREAM
is set) the journal stamps each line itself, so the time is left out.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

FIELDS = ("event", "job", "region", "fund", "file", "month", "at", "run_id", "seconds", "outcome")
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class EventFormatter(logging.Formatter):
    def __init__(self, with_time: bool) -> None:
        super().__init__()
        self.with_time = with_time

    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        ordered = [k for k in FIELDS if k in extra] + sorted(k for k in extra if k not in FIELDS)
        fields = " ".join(f"{k}={_value(extra[k])}" for k in ordered)
        parts = [record.levelname]
        if self.with_time:
            parts.insert(0, self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"))
        if fields:
            parts.append(fields)
        parts.append(record.getMessage().replace("\n", " ⏎ "))
        line = " ".join(parts)
        if record.exc_info:  # journald keeps one entry per line: fold the traceback
            line += " ⏎ " + self.formatException(record.exc_info).replace("\n", " ⏎ ")
        return line


def _value(v: Any) -> str:
    text = str(v)
    return f'"{text}"' if (" " in text or not text) else text


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
