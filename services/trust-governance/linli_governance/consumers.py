"""The events trust-governance reacts to: its own `governance.disclosure.published`, to keep the
register of published chain heads outside its database (chain_heads.py). It learns nothing from
the other services' events; they learn from its (`governance.*`: org units created, disclosures
published)."""

from __future__ import annotations

from linli_governance.chain_heads import HeadKeeper
from linli_runtime.events import ConsumerSpec


def specs(heads: HeadKeeper) -> list[ConsumerSpec]:
    return [
        ConsumerSpec(
            "governance-chain-heads", "GOVERNANCE", ["governance.disclosure.published"], heads.on_published
        ),
    ]
