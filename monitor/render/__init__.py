"""Results into words and pictures: the evaluation tables, forecast outlooks, the bulletin
(context, charts, HTML and its e-mail edition), alert e-mails and chat messages, and the
Jinja environment.

Pure functions from data to strings and messages: no store, no files written. May import
`monitor.config` and `monitor.core`.
"""
