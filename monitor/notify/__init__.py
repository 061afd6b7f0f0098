"""Telling people: the outbox (alert decisions recorded and queued in the evaluation's
transaction, the bulletin queued, delivery with leases and a journal) and the mailers (SMTP
with deadlines, or .eml files).

May import `monitor.render`, `monitor.store`, `monitor.config` and `monitor.core`; not
`monitor.ledger` or `monitor.pipeline`.
"""
