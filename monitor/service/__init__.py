"""`fundmon run`: the scheduler and its simulated-time twin (`daemon`), the steps it runs
(`steps`: ingest → evaluate → alert → deliver, the monthly bulletin), one instance per store
(`lock`), `status`, and the log format.

May import everything below it: `monitor.pipeline`, `monitor.ledger`, `monitor.notify`,
`monitor.render`, `monitor.store`, `monitor.config`, `monitor.core`.
"""
