"""The points ledger: double-entry accounts per community, immutable transfers, holds.

Read in this order: `model.py` (the value types), `accounts.py` (account names), `tables.py`
(the tables and why they have their shape; also the base of every table of the service),
`store.py` (the Ledger: every write and its concurrency story), `batch.py` (a batch of transfers
and holds in a few statements), `lots.py` (where points came from), `queries.py` (what the rest of
the service may ask of the history — nothing else outside this package reads these tables),
`sweeper.py` (expiring the holds nobody resolved).
"""
