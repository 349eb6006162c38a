"""Sealing disclosures, and the documented form anyone can check them in.

A disclosure's seal is

    seal = hex(SHA-256(previous_seal + "\\n" + body))

where `previous_seal` is the seal of the compound's disclosure before it (64 zeros for the
first) and `body` is the disclosure's content as canonical JSON: RFC 8785 (JSON Canonicalization
Scheme — keys sorted by UTF-16 code units, no insignificant whitespace, UTF-8, integers as
integers), so that a verifier written in any language reproduces the bytes exactly. The body is
stored exactly as hashed and returned by GetDisclosure as `sealed_body`.

Bodies of format `linli.disclosure.v2` (every disclosure sealed since transfer lines are sealed)
carry, besides the period's figures:

- `format`: "linli.disclosure.v2";
- `sequence`: the disclosure's place in its compound's chain (1 for the first), and
  `previous_seal_hash`: the head of the chain it extends — each disclosure publishes the head
  before it;
- `lines`: every transfer the disclosure summarises, in ledger order, each
  `{"transfer", "kind", "debit", "credit", "amount_fen", "budget_line", "counterparty",
  "posted_at", "voucher_ref", "voucher_sha256", "owners_decision", "memo"}` — `posted_at` in UTC
  as `YYYY-MM-DDTHH:MM:SS.ffffffZ`, `kind` the TransferKind's name in lower case
  (`income`, `expense`, …), absent values as "".

So changing anything a line records — its amount, posting time, counterparty, voucher hash —
changes the body the seal was computed over, and verification (which rebuilds the lines from
the ledger) names the transfer and the field. Bodies sealed before (no `format`) are checked on
their figures and the digest of (transfer id, debit, credit, amount) rows they carry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

import rfc8785

from linli.governance.v1 import account_pb2

GENESIS = "0" * 64
FORMAT = "linli.disclosure.v2"
LINE_FIELDS = (
    "transfer",
    "kind",
    "debit",
    "credit",
    "amount_fen",
    "budget_line",
    "counterparty",
    "posted_at",
    "voucher_ref",
    "voucher_sha256",
    "owners_decision",
    "memo",
)


class Line(Protocol):
    """What a sealed line reads from a transfer."""

    @property
    def transfer_id(self) -> str: ...
    @property
    def kind(self) -> int: ...
    @property
    def debit_account(self) -> str: ...
    @property
    def credit_account(self) -> str: ...
    @property
    def amount_fen(self) -> int: ...
    @property
    def budget_line(self) -> str: ...
    @property
    def counterparty(self) -> str: ...
    @property
    def posted_at(self) -> datetime | None: ...
    @property
    def voucher_ref(self) -> str: ...
    @property
    def voucher_sha256(self) -> str: ...
    @property
    def owners_decision(self) -> str: ...
    @property
    def memo(self) -> str: ...


def canonical_json(body: dict[str, Any]) -> str:
    """RFC 8785 canonical JSON of a body, as text (UTF-8 when hashed)."""
    return rfc8785.dumps(body).decode("utf-8")


def is_canonical(body_json: str) -> bool:
    """True when stored text is exactly the canonical form of what it encodes."""
    try:
        return canonical_json(json.loads(body_json)) == body_json
    except (ValueError, rfc8785.CanonicalizationError):
        return False


def seal(previous_seal_hash: str, body_json: str) -> str:
    return hashlib.sha256(f"{previous_seal_hash}\n{body_json}".encode()).hexdigest()


def timestamp(when: datetime | None) -> str:
    """A posting time as the body records it: UTC, microseconds, `Z`."""
    if when is None:
        return ""
    moment = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def kind_name(kind: int) -> str:
    try:
        return account_pb2.TransferKind.Name(kind).removeprefix("TRANSFER_KIND_").lower()  # type: ignore[arg-type]
    except ValueError:
        return str(kind)


def sealed_line(t: Line) -> dict[str, Any]:
    """One transfer as a disclosure seals it."""
    return {
        "transfer": t.transfer_id,
        "kind": kind_name(t.kind),
        "debit": t.debit_account,
        "credit": t.credit_account,
        "amount_fen": t.amount_fen,
        "budget_line": t.budget_line or "",
        "counterparty": t.counterparty or "",
        "posted_at": timestamp(t.posted_at),
        "voucher_ref": t.voucher_ref or "",
        "voucher_sha256": t.voucher_sha256 or "",
        "owners_decision": t.owners_decision or "",
        "memo": t.memo or "",
    }


def line_difference(sealed: list[dict[str, Any]], ledger: list[dict[str, Any]]) -> tuple[str, str]:
    """The first transfer whose sealed line differs from the ledger's, and what differs
    (("", "") when they agree): a field, or that the line is missing or extra."""
    by_id = {line["transfer"]: line for line in ledger}
    sealed_ids = {line.get("transfer") for line in sealed}
    for line in sealed:
        current = by_id.get(line.get("transfer", ""))
        if current is None:
            return str(line.get("transfer", "")), "no longer stamped with this disclosure in the ledger"
        for field in LINE_FIELDS:
            if line.get(field) != current[field]:
                return current["transfer"], f"{field} differs from the sealed line"
    for line in ledger:
        if line["transfer"] not in sealed_ids:
            return line["transfer"], "is stamped with this disclosure but not among its sealed lines"
    if [line.get("transfer") for line in sealed] != [line["transfer"] for line in ledger]:
        return "", "the sealed lines are not in ledger order"
    return "", ""


def ledger_digest(entries: Iterable[tuple[str, str, str, int]]) -> str:
    """Digest of (transfer id, debit, credit, amount) rows, order-independent."""
    lines = sorted(f"{tid}|{debit}|{credit}|{amount}" for tid, debit, credit, amount in entries)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
