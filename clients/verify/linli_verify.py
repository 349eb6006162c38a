"""Check a Linli sealed disclosure without trusting the server that gave it to you.

    python -m linli_verify FILE [FILE ...] [--head SEAL]

FILE is a disclosure as the portal downloads it ("下载公示原文" on a compound's page,
`/c/<compound>/disclosures/<period>.json`): one JSON object of format
`linli.sealed-disclosure.v1`,

    {"format": "linli.sealed-disclosure.v1",
     "compound_path": …, "period": …, "sequence": …,
     "previous_seal_hash": …, "seal_hash": …,
     "sealed_body": {…}}

where `sealed_body` is the disclosure's full sealed content (format `linli.disclosure.v2`: the
figures and every transfer line with its voucher hash; README "Sealed disclosures" documents each
field). The seal is

    seal_hash = hex(SHA-256(previous_seal_hash + "\\n" + RFC8785(sealed_body)))

RFC 8785 (the JSON Canonicalization Scheme) fixes the bytes: keys sorted, no whitespace, UTF-8,
numbers in their shortest form — so this check gives the same answer in any language. This file
recomputes it and checks that the fields outside the body say what the body says: change any
single field of a download and it is rejected.

A seal proves the content unchanged since it was sealed, and with several files, that they form
one chain (each extends the seal before it, in sequence). What anchors the chain is a seal you
learned elsewhere — the notice every resident of the compound received when the disclosure was
published, a printed copy on the notice board: pass it with `--head`, and the newest file must
carry it.

Exit status: 0 all verified, 1 something does not verify (each problem printed), 2 a file
cannot be read. This module imports nothing of Linli: the standard library and `rfc8785` only
(`pip install rfc8785`), so that it can be read and run on its own.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rfc8785

DOWNLOAD_FORMAT = "linli.sealed-disclosure.v1"
BODY_FORMAT = "linli.disclosure.v2"
GENESIS = "0" * 64
HEX = frozenset("0123456789abcdef")
# The fields outside the body that must say what the body says.
MIRRORED = ("compound_path", "period", "sequence", "previous_seal_hash")
FIELDS = {"format", "seal_hash", "sealed_body", *MIRRORED}


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON, as the seal hashes it."""
    return rfc8785.dumps(value)


def seal_of(previous_seal_hash: str, body: Any) -> str:
    return hashlib.sha256(previous_seal_hash.encode() + b"\n" + canonical(body)).hexdigest()


def _is_seal(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= HEX


@dataclass(frozen=True)
class Checked:
    """One file's verdict: the problems found (none: verified) and what it claims."""

    name: str
    problems: tuple[str, ...]
    compound_path: str = ""
    period: str = ""
    sequence: int = 0
    previous_seal_hash: str = ""
    seal_hash: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def check(document: Any, name: str = "disclosure") -> Checked:
    """Verify one downloaded disclosure (already parsed from JSON)."""
    if not isinstance(document, dict):
        return Checked(name, ("not a JSON object",))
    problems: list[str] = []
    if document.get("format") != DOWNLOAD_FORMAT:
        problems.append(f"format is {document.get('format')!r}, expected {DOWNLOAD_FORMAT!r}")
    extra = sorted(set(document) - FIELDS)
    missing = sorted(FIELDS - set(document))
    if extra:
        problems.append(f"unexpected fields outside the sealed body: {', '.join(extra)}")
    if missing:
        problems.append(f"missing fields: {', '.join(missing)}")
    body = document.get("sealed_body")
    seal, previous = document.get("seal_hash"), document.get("previous_seal_hash")
    if not _is_seal(seal):
        problems.append("seal_hash is not 64 lower-case hex digits")
    if not _is_seal(previous):
        problems.append("previous_seal_hash is not 64 lower-case hex digits")
    if not isinstance(body, dict):
        problems.append("sealed_body is not a JSON object")
        return Checked(name, tuple(problems))
    if body.get("format") != BODY_FORMAT:
        problems.append(f"the sealed body's format is {body.get('format')!r}, expected {BODY_FORMAT!r}")
    for field in MIRRORED:
        if field in document and document[field] != body.get(field):
            problems.append(f"{field} is {document[field]!r} but the sealed body says {body.get(field)!r}")
    if _is_seal(seal) and _is_seal(previous):
        try:
            recomputed = seal_of(str(previous), body)
        except rfc8785.CanonicalizationError as exc:
            problems.append(f"the sealed body has no canonical form: {exc}")
        else:
            if recomputed != seal:
                problems.append(f"the seal does not match the content: SHA-256(previous seal + body) is "
                                f"{recomputed}, the file says {seal}")
    sequence = document.get("sequence")
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
        problems.append("sequence is not a positive whole number")
        sequence = 0
    elif sequence == 1 and previous != GENESIS:
        problems.append("the first disclosure of a chain extends no seal (previous_seal_hash is 64 zeros)")
    return Checked(name, tuple(problems), str(body.get("compound_path", "")), str(body.get("period", "")),
                   sequence, str(previous or ""), str(seal or ""))


def check_chain(checked: list[Checked], head: str = "") -> list[str]:
    """Problems with several verified files taken together: one compound, consecutive sequence
    numbers, each extending the seal before it; and the newest carrying `head` when given."""
    problems: list[str] = []
    ordered = sorted((c for c in checked if c.ok), key=lambda c: c.sequence)
    compounds = {c.compound_path for c in ordered}
    if len(compounds) > 1:
        problems.append(f"the files are of different compounds: {', '.join(sorted(compounds))}")
    for before, after in itertools.pairwise(ordered):
        if after.sequence != before.sequence + 1:
            problems.append(f"{after.name}: sequence {after.sequence} does not follow {before.sequence} "
                            f"({before.name}); a disclosure between them is missing")
        elif after.previous_seal_hash != before.seal_hash:
            problems.append(f"{after.name}: it extends {after.previous_seal_hash}, not the seal of "
                            f"{before.name} ({before.seal_hash})")
    if head:
        if not ordered:
            problems.append("no verified file to check the head against")
        elif ordered[-1].seal_hash != head.strip().lower():
            problems.append(f"the newest file ({ordered[-1].name}, sequence {ordered[-1].sequence}) is sealed "
                            f"{ordered[-1].seal_hash}, not the published head {head}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m linli_verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="downloaded disclosures (.json)")
    parser.add_argument("--head", default="", help="a seal learned outside the server (the notice, a printed copy)")
    args = parser.parse_args(argv)
    results: list[Checked] = []
    for path in args.files:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            print(f"{path}: cannot be read: {exc}", file=sys.stderr)
            return 2
        results.append(check(document, str(path)))
    for result in results:
        if result.ok:
            print(f"{result.name}: verified — {result.compound_path} {result.period} (#{result.sequence}), "
                  f"seal {result.seal_hash}")
        for problem in result.problems:
            print(f"{result.name}: NOT VERIFIED — {problem}")
    chain = check_chain(results, args.head)
    for problem in chain:
        print(f"NOT VERIFIED — {problem}")
    if args.head and not chain and all(r.ok for r in results):
        print(f"the newest disclosure carries the published head {args.head.strip().lower()}")
    return 0 if all(r.ok for r in results) and not chain else 1


if __name__ == "__main__":
    sys.exit(main())
