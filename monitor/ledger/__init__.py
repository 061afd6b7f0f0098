"""Ledgers in: files as offices export them (measured before they are read), cell text
screened, rows validated, quality warnings, the all-or-nothing import (also in a child
process), the SQL source, the export, and the watched folder.

May import `monitor.store`, `monitor.config` and `monitor.core`.
"""
