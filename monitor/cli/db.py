"""`fundmon db upgrade|current`: the store's schema version (Alembic)."""

from __future__ import annotations

import click

from monitor.cli.common import (
    Context,
    echo,
    reports_errors,
)
from monitor.cli.help_text import english, group


@group()
@english("The store database's schema version.")
def db() -> None:
    """存储数据库的结构版本。"""


@db.command("upgrade")
@click.pass_obj
@reports_errors
@english(
    "Upgrade the database schema to the latest version (PostgreSQL: run this by hand;"
    " SQLite upgrades itself on first use)."
)
def db_upgrade(obj: Context) -> None:
    """把数据库结构升级到最新版本（PostgreSQL 需手动执行；SQLite 首次使用时自动执行）。"""
    from monitor.store.db import create_store_engine, safe_url, upgrade

    engine = create_store_engine(obj.config.store_url)
    try:
        before, after = upgrade(engine)
    finally:
        engine.dispose()
    echo(f"{safe_url(obj.config.store_url)}：{before or '空'} → {after}")


@db.command("current")
@click.pass_obj
@reports_errors
@english("Show the database's current schema version and the version this program needs.")
def db_current(obj: Context) -> None:
    """显示数据库当前的结构版本与程序需要的版本。"""
    from monitor.store.db import create_store_engine, current_revision, head_revision, safe_url

    engine = create_store_engine(obj.config.store_url)
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
    finally:
        engine.dispose()
    echo(f"{safe_url(obj.config.store_url)}：当前 {current or '空'}，需要 {head_revision()}")
