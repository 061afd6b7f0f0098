"""From the store to results: the evaluation of every fund (indicators, forecasts,
classification, level history), where many forecasts run (`compute`: a local pool or Dask),
forecasts of many series, and the bulletin read from the store and written to its archive.

May import `monitor.render`, `monitor.store`, `monitor.config` and `monitor.core`; not
`monitor.ledger` or `monitor.notify` (its siblings).
"""
