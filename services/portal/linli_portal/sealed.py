"""A sealed disclosure as residents download it: the full sealed content in its documented
canonical form, for the standalone verifier (`python -m linli_verify FILE`, which imports
nothing of Linli and checks the seal without trusting the server).

The file is one JSON object of format `linli.sealed-disclosure.v1`, written in RFC 8785 canonical
form (so two downloads of one disclosure are the same bytes): the body exactly as the seal hashes
it (`sealed_body`, parsed), the seal and the seal it extends, and — outside the body, for people
reading it — the compound, period and place in the chain, which the verifier checks against the
body."""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from linli.governance.v1 import disclosure_pb2

FORMAT = "linli.sealed-disclosure.v1"


def document(d: disclosure_pb2.Disclosure) -> dict[str, Any]:
    """The download of a disclosure GetDisclosure returned (with its `sealed_body`)."""
    return {
        "format": FORMAT,
        "compound_path": d.compound_path,
        "period": d.period,
        "sequence": d.sequence,
        "previous_seal_hash": d.previous_seal_hash,
        "seal_hash": d.seal_hash,
        "sealed_body": json.loads(d.sealed_body) if d.sealed_body else None,
    }


def file_bytes(d: disclosure_pb2.Disclosure) -> bytes:
    return rfc8785.dumps(document(d))


def file_name(d: disclosure_pb2.Disclosure) -> str:
    return f"{d.compound_path.rsplit('/', 1)[-1]}-{d.period}.json"
