"""Persistence: the database (schema, Alembic migrations, queries) and every file the
service writes (`files`: private, never through a link, never over a stranger's file).

May import `monitor.config` and `monitor.core`.
"""
