"""The events identity reacts to: none yet. Identity is a source (IDENTITY stream:
`identity.account.*`, `identity.grant.*`); the org tree's events may later let it refuse
grants at places that do not exist."""

from __future__ import annotations

from linli_runtime.events.consumer import ConsumerSpec


def consumer_specs() -> list[ConsumerSpec]:
    return []
