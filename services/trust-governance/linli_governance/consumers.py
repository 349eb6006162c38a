"""The events trust-governance reacts to: none. It owns the org tree and the compounds' books,
and learns nothing from the other services' events; they learn from its (`governance.*`:
org units created, disclosures published)."""

from __future__ import annotations

from linli_runtime.events import ConsumerSpec


def specs() -> list[ConsumerSpec]:
    return []
