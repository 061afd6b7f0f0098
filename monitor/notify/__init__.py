"""Telling people: the outbox (alert decisions recorded and queued in the evaluation's
transaction, the bulletin queued, delivery with leases and a journal), the mailers (SMTP
with deadlines, or .eml files) and the poster for chat robots and webhooks (HTTP with
deadlines, or .json files; each platform's signing, answers and rate limits).

May import `monitor.render`, `monitor.store`, `monitor.config` and `monitor.core`; not
`monitor.ledger` or `monitor.pipeline`.
"""
