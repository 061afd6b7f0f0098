"""The demo: synthetic ledgers calibrated to published figures (`data`: the city, a
province, a country; public, used by tests and benchmarks), written as files (`files`), and
`fundmon demo` end to end (`run`).

May import what `monitor.service` may (not the service itself).
"""
