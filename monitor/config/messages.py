"""What a refused setting is told, in Chinese and in English: one table, keyed by the kind of
problem.

A kind is either pydantic's own error type (`int_type`, `greater_than_equal`, `missing` …) or
one of ours, raised by the validators in `monitor.config.fields` and the section models
(`duration`, `address`, `dask_scheduler` …). Placeholders are filled from the error's context;
`{input}` is the value as written in the file (never for a value that may hold a secret).
A kind missing here falls back to pydantic's English message.
"""

from __future__ import annotations

# kind → (zh, en)
MESSAGES: dict[str, tuple[str, str]] = {
    # -- shape: what pydantic finds by itself
    "missing": ("缺少此键", "this key is required"),
    "unknown_key": (
        "未知的键 {name}{hint}（可用：{allowed}）",
        "unknown key {name}{hint} (known: {allowed})",
    ),
    "unknown_section": (
        "未知的配置节 [{name}]{hint}（可用：{allowed}）",
        "unknown section [{name}]{hint} (known: {allowed})",
    ),
    "hint": ("，是否应为 {name}？", ", did you mean {name}?"),
    "table": ("应为一个表，实为 {input}", "should be a table, not {input}"),
    "string_type": ("应为字符串，实为 {input}", "should be a string, not {input}"),
    "int_type": ("应为整数，实为 {input}", "should be an integer, not {input}"),
    "float_type": ("应为数值，实为 {input}", "should be a number, not {input}"),
    "bool_type": ("应为 true 或 false，实为 {input}", "should be true or false, not {input}"),
    "strings": ("应为字符串列表，实为 {input}", "should be a list of strings, not {input}"),
    "list_type": ("应为表数组，实为 {input}", "should be an array of tables, not {input}"),
    "greater_than_equal": ("应不小于 {ge}，实为 {input}", "should be at least {ge}, not {input}"),
    "less_than_equal": ("应不大于 {le}，实为 {input}", "should be at most {le}, not {input}"),
    "greater_than": ("应大于 {gt}，实为 {input}", "should be more than {gt}, not {input}"),
    "less_than": ("应小于 {lt}，实为 {input}", "should be less than {lt}, not {input}"),
    "too_short": ("不能为空", "must not be empty"),
    "choice": ("应为 {choices} 之一，实为 {input}", "should be one of {choices}, not {input}"),
    # -- values: our validators
    "duration": (
        '不是时长，实为 {input}；应如 "7d"、"12h"、"30m" 或秒数',
        'is not a duration: {input}; write it like "7d", "12h", "30m" or a number of seconds',
    ),
    "pause": (
        '不是时长，实为 {input}；应如 "30s"、"2m"，或 "0s"（不等待）',
        'is not a duration: {input}; write it like "30s", "2m", or "0s" (no wait)',
    ),
    "address": (
        "{input} 不是电子邮件地址（如 name@example.gov.cn）",
        "{input} is not an e-mail address (like name@example.gov.cn)",
    ),
    "unit": (
        "未知的金额单位 {input}，应为 元、万元 或 亿元",
        "unknown money unit {input}: 元, 万元 or 亿元",
    ),
    "folder": ("目录 {path} 不存在或不是目录", "folder {path} does not exist or is not a folder"),
    "url": (
        "不是 SQLAlchemy 数据库 URL（如 postgresql+psycopg://user@host/db）",
        "is not an SQLAlchemy database URL (like postgresql+psycopg://user@host/db)",
    ),
    "store_password": (
        "不要把密码写在配置文件里（{shown}）："
        "把含密码的 URL 放进环境变量 FUNDMON_DB，或用 --db 给出",
        "no password in the configuration file ({shown}): put the URL with its password in "
        "the FUNDMON_DB environment variable, or give it with --db",
    ),
    "source_password": (
        "不要把密码写在配置文件里（{shown}）："
        "把含密码的 URL 放进一个环境变量，并用 url_env 写出变量名",
        "no password in the configuration file ({shown}): put the URL with its password in an "
        "environment variable and name that variable in url_env",
    ),
    "smtp_password": (
        "不要把密码写在配置文件里：把它放进一个环境变量，并用 password_env 写出变量名",
        "no password in the configuration file: put it in an environment variable and name "
        "that variable in password_env",
    ),
    "glob": (
        "{input} 不是统筹区编码或通配（如 341721、3417*）",
        "{input} is not a region code or a glob on one (like 341721, 3417*)",
    ),
    "fund": ("未知险种 {input}：{known}", "unknown fund {input}: {known}"),
    "region_code": ("{input} 不是 6 位统筹区编码", "{input} is not a 6-digit region code"),
    "cron": (
        '{input} 不是 5 段 cron 表达式（分 时 日 月 周，如 "0 8 5 * *"）：{reason}',
        "{input} is not a 5-field cron expression (minute hour day month weekday, like "
        '"0 8 5 * *"): {reason}',
    ),
    "timezone": (
        "时区 {input} 不存在，应如 Asia/Shanghai",
        "no time zone {input}; like Asia/Shanghai",
    ),
    "group": ("系统中没有用户组 {input}", "no group {input} on this system"),
    "placeholders": (
        "只能使用占位符 {{month}}、{{region}}、{{fund}}（{reason}）",
        "only the placeholders {{month}}, {{region}}, {{fund}} may be used ({reason})",
    ),
    # -- the file itself
    "syntax": ("TOML 语法错误：{reason}", "TOML syntax error: {reason}"),
    "unreadable": ("无法读取配置文件（{reason}）", "cannot read the configuration file ({reason})"),
    "not_utf8": ("配置文件不是 UTF-8 编码", "the configuration file is not UTF-8"),
    # -- combinations
    "backoff_order": ("不能小于 retry_backoff", "must not be less than retry_backoff"),
    "password_env_needed": (
        "设置了 username，还需给出存放密码的环境变量名（password_env）",
        "with a username, name the environment variable holding the password (password_env)",
    ),
    "plain_password": (
        "不在明文连接上发送密码：使用 username 时应为 starttls 或 ssl",
        "no password over a plain connection: with a username use starttls or ssl",
    ),
    "dask_scheduler": (
        'executor = "dask" 需要 scheduler'
        '（如 "tcp://10.0.0.5:8786"，或 "local" 在本机启动 LocalCluster）',
        'executor = "dask" needs a scheduler (like "tcp://10.0.0.5:8786", or "local" for a '
        "LocalCluster on this machine)",
    ),
    "stop_timeout": (
        "应不超过 10 秒：停止须在 15 秒内完成",
        "at most 10 seconds: stopping must finish within 15 seconds",
    ),
    "sql_query": (
        "[ingest] sql = true 需要 [source] query",
        "[ingest] sql = true needs [source] query",
    ),
    "sql_url": (
        "[ingest] sql = true 需要 [source] url_env（含密码的 URL 放在环境变量里）或 url",
        "[ingest] sql = true needs [source] url_env (the URL with its password in an "
        "environment variable) or url",
    ),
    # -- chat channels ([alerts.channels.*], routes' channels)
    "chat_secret": (
        "不要把机器人地址或签名密钥写在配置文件里（地址中含机器人的密钥）：把它放进一个环境变量，"
        "并用 url_env / secret_env 写出变量名",
        "no robot URL or signing secret in the configuration file (the URL embeds the robot's "
        "key): put it in an environment variable and name that variable in url_env / "
        "secret_env",
    ),
    "chat_env_name": (
        "应为环境变量的名字（如 FUNDMON_WECOM_URL），不是地址或密钥本身",
        "should be the NAME of an environment variable (like FUNDMON_WECOM_URL), not the URL "
        "or secret itself",
    ),
    "channel_name": (
        "渠道名 {input} 只能由字母、数字、下划线和连字符组成（至多 60 个字符）",
        "channel name {input}: letters, digits, underscores and hyphens only (at most 60)",
    ),
    "channel_unknown": (
        "未定义的渠道 {input}：请在 [alerts.channels.{input}] 中定义（已定义：{known}）",
        "unknown channel {input}: define it in [alerts.channels.{input}] (defined: {known})",
    ),
    "route_recipients": (
        "路由须有收件人：to（电子邮件地址）或 channels（渠道名），或二者都有",
        "a route needs recipients: to (e-mail addresses) or channels (channel names), or both",
    ),
}

# pydantic's error types that mean the same to an operator
SAME_AS = {
    "missing_argument": "missing",
    "extra_forbidden": "unknown_key",
    "unexpected_keyword_argument": "unknown_key",
    "dict_type": "table",
    "dataclass_type": "table",
    "dataclass_exact_type": "table",
    "model_type": "table",
    "model_attributes_type": "table",
    "int_parsing": "int_type",
    "int_from_float": "int_type",
    "float_parsing": "float_type",
    "bool_parsing": "bool_type",
    "tuple_type": "strings",
    "frozen_set_type": "strings",
    "string_too_short": "too_short",
}

HEADS = {
    "error": ("配置错误", "configuration error"),
    "key": ("键", "key"),
    "problems": ("{n} 个问题，未采用：", "{n} problems, not taken:"),
}
