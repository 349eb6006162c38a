"""Sealing disclosures: canonical JSON, SHA-256 chained to the previous seal, and a digest of
the ledger entries a disclosure covers (so a changed entry breaks the seal's promise)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

GENESIS = "0" * 64


def canonical_json(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def seal(previous_seal_hash: str, body_json: str) -> str:
    return hashlib.sha256(f"{previous_seal_hash}\n{body_json}".encode()).hexdigest()


def ledger_digest(entries: Iterable[tuple[str, str, str, int]]) -> str:
    """Digest of (transfer id, debit, credit, amount) rows, order-independent."""
    lines = sorted(f"{tid}|{debit}|{credit}|{amount}" for tid, debit, credit, amount in entries)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
