"""Errors of fund-risk-monitor: every error a user or the service's log may show, in one
place; raised where things happen, surfaced once (the CLI prints it and exits 1).

MonitorError
 ├── ConfigError            a config file or setting is invalid (names the file and key)
 │    └── ConfigProblems    every problem of one file, each with its key and line; defined in
 │                          monitor.config.problems, beside the wording it renders
 ├── ThresholdProfileError  a threshold profile was refused; lists every problem with its line
 ├── LedgerRejected         an input ledger was refused whole; carries every finding
 ├── ChildCrashed           the process reading a ledger died (out of memory, a signal)
 ├── FileChanged            a watched file changed while it was read; its import rolled back
 ├── StoreUnavailable       the store cannot be reached or opened
 ├── StoreOutdated          the store's schema is behind the program: run `fundmon db upgrade`
 ├── StoreConflict          another writer stored the same rows first; nothing of ours was kept
 ├── UnsafePath             a folder to write to is a symlink or not a folder; nothing written
 ├── ForecastError          one series cannot be forecast (too short, not numeric…); names it
 ├── DeliveryError          a message was not delivered (permanent or not; reconnect or not)
 │    └── ChatError         a chat or webhook post was not accepted; how long the platform
 │                          asked to wait (Retry-After)
 ├── ServiceLocked          another `fundmon run` holds this store
 ├── LockLost               the service's lock went with its connection and was taken
 └── NotFound               a region, fund or month asked for is not in the store

Every error class is drawn here (a test checks it). Signals caught inside their own package,
which no user sees, stay beside the code that raises them: `ModelFailed`
(monitor.core.forecast: the candidate model is dropped), `DeadlineExceeded`
(monitor.notify.mailer: becomes a DeliveryError), `StoreFailed` (monitor.notify.outbox: the
sending pass stops, the outcome journaled) and `_Unmeasurable` (monitor.ledger.sheet_limits:
the sheet is refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.core.findings import Finding


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a profile, with the line of the offending rule or key."""

    message: str
    line: int | None = None
    rule_id: str | None = None

    def describe(self, source: str | None = None) -> str:
        where = source or "<profile>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        rule = f"规则 {self.rule_id}：" if self.rule_id else ""
        return f"{where}: {rule}{self.message}"


class MonitorError(Exception):
    """Base of every error the CLI reports with exit code 1."""


class ConfigError(MonitorError):
    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        where = ", ".join(p for p in (path, f"键 {key}" if key else None) if p)
        super().__init__(f"配置错误（{where}）：{message}" if where else f"配置错误：{message}")


class ThresholdProfileError(MonitorError):
    """A threshold profile was refused; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[Problem], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        name = f"阈值配置 {source}" if source else "阈值配置"
        head = f"{name} 有 {len(self.problems)} 个问题，未采用："
        body = "\n".join("  " + p.describe(source) for p in self.problems)
        super().__init__(f"{head}\n{body}")


class LedgerRejected(MonitorError):
    """The input was refused whole; nothing of it was stored."""

    def __init__(self, findings: Sequence[Finding], *, truncated: int = 0) -> None:
        self.findings = list(findings)
        self.truncated = truncated
        n = len(self.findings) + truncated
        super().__init__(f"台账被拒绝：{n} 个错误，未写入任何数据")


class ChildCrashed(MonitorError):
    """The child reading a ledger died without an answer: `reason` says how, in Chinese."""

    def __init__(self, reason: str, *, progress: Any = None) -> None:
        self.reason = reason
        self.progress = progress  # the last progress message the child sent
        super().__init__(reason)


class FileChanged(MonitorError):
    """The dropped file changed while it was read: its import was rolled back."""


class StoreUnavailable(MonitorError):
    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"无法打开数据库 {url}：{reason}")


class StoreOutdated(MonitorError):
    def __init__(self, url: str, current: str | None, head: str) -> None:
        self.url = url
        self.current = current
        self.head = head
        super().__init__(
            f"数据库 {url} 的结构版本为 {current or '空'}，程序需要 {head}；"
            "请先运行 `fundmon db upgrade`"
        )


class StoreConflict(MonitorError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"写入冲突（另一个进程同时写入了相同的数据），本次未写入任何数据，请重试：{reason}"
        )


class UnsafePath(MonitorError):
    """A folder the service must write to is a symlink or not a folder: nothing was written."""


class ForecastError(MonitorError):
    def __init__(self, series_id: str, reason: str) -> None:
        self.series_id = series_id
        self.reason = reason
        super().__init__(f"序列 {series_id} 无法预测：{reason}")

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # crosses process-pool boundaries
        return (type(self), (self.series_id, self.reason))


class DeliveryError(MonitorError):
    """A message was not delivered.

    `permanent`: retrying will not help (a 5xx for this recipient or message).
    `scope`: "message" (the connection is still good) or "connection" (reconnect first).
    """

    def __init__(
        self,
        reason: str,
        *,
        code: int | None = None,
        permanent: bool = False,
        scope: str = "message",
    ) -> None:
        self.reason = reason
        self.code = code
        self.permanent = permanent
        self.scope = scope
        head = f"SMTP {code}" if code else ("永久失败" if permanent else "暂时失败")
        super().__init__(f"邮件未送达（{head}）：{reason}")


class ChatError(DeliveryError):
    """A chat message was not delivered; `retry_after`: seconds the platform asked to wait."""

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        scope: str = "message",
        retry_after: float | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(reason, code=code, permanent=permanent, scope=scope)
        self.retry_after = retry_after
        head = "永久失败" if permanent else "暂时失败"
        self.args = (f"消息未送达（{head}）：{reason}",)

    def __str__(self) -> str:
        return str(self.args[0])


class ServiceLocked(MonitorError):
    """Another `fundmon run` holds this store."""


class LockLost(MonitorError):
    """The lock went with its connection and another instance took it meanwhile."""


class NotFound(MonitorError):
    pass
