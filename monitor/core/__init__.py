"""The domain, pure: months, money, funds, indicators, roll-up, threshold profiles,
classification and its reasons, alert decisions, forecasting (models, engine, joint
simulation), findings and errors, and how text from outside is made safe to show.

Imports nothing outside `monitor.core`: no store, no files, no clock of its own (callers pass
`now`), no settings file. Everything else in `monitor` may import it.
"""
