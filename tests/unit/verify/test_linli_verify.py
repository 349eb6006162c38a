"""The standalone verifier (clients/verify/linli_verify.py) on a disclosure sealed as
trust-governance seals it and downloaded as the portal serves it: verified as it is, refused
after any single field of the file — outside or inside the sealed body — is changed, and chains
checked against a head learned elsewhere."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import linli_verify
import pytest
from linli_governance.sealing import GENESIS, canonical_json, seal
from linli_portal.sealed import document, file_bytes

from linli.governance.v1 import disclosure_pb2

COMPOUND = "chengdu/chongzhou/longxing/longxing-community/shengjian"


def sealed(period: str, sequence: int, previous: str) -> disclosure_pb2.Disclosure:
    body = {
        "format": "linli.disclosure.v2", "sequence": sequence, "previous_seal_hash": previous,
        "compound_path": COMPOUND, "period": period, "income_fen": 1_250_000, "expense_fen": 830_000,
        "surplus_fen": 420_000, "to_maintenance_fund_fen": 84_000, "closed": True, "note": None,
        "lines": [
            {"transfer": f"{COMPOUND}/transfers/t1", "kind": "income", "debit": "asset:bank",
             "credit": "income:fees", "amount_fen": 1_250_000, "budget_line": "", "counterparty": "业主 owners",
             "posted_at": f"{period}-03T02:00:00.000000Z", "voucher_ref": "", "voucher_sha256": "",
             "owners_decision": "", "memo": "物业费 fees"},
            {"transfer": f"{COMPOUND}/transfers/t2", "kind": "expense", "debit": "expense:cleaning",
             "credit": "asset:bank", "amount_fen": 830_000, "budget_line": "cleaning", "counterparty": "保洁公司",
             "posted_at": f"{period}-20T02:00:00.000000Z", "voucher_ref": "invoice.pdf",
             "voucher_sha256": "ab" * 32, "owners_decision": "", "memo": "保洁 cleaning"},
        ],
    }
    text = canonical_json(body)
    return disclosure_pb2.Disclosure(compound_path=COMPOUND, period=period, sequence=sequence,
                                     previous_seal_hash=previous, seal_hash=seal(previous, text), sealed_body=text)


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path


def changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value[:-1] + ("0" if value[-1:] != "0" else "1") if value else "x"
    return "x"  # null


def with_change(doc: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = changed(target[path[-1]])
    return out


def test_a_download_verifies_and_any_single_changed_field_is_refused() -> None:
    doc = json.loads(file_bytes(sealed("2026-09", 1, GENESIS)))
    assert linli_verify.check(doc).ok, linli_verify.check(doc).problems
    paths = list(leaves(doc))
    assert len(paths) > 40  # every field of the file, the body's lines included
    for path in paths:
        result = linli_verify.check(with_change(doc, path))
        assert not result.ok, f"changing {'/'.join(map(str, path))} went unnoticed"
    # Fields added or removed are refused too, inside the body and outside it.
    for extra in ({**doc, "note": "trust me"}, {k: v for k, v in doc.items() if k != "period"},
                  {**doc, "sealed_body": {**doc["sealed_body"], "bonus_fen": 1}}):
        assert not linli_verify.check(extra).ok


def test_the_file_is_canonical_and_a_chain_is_checked_against_the_published_head(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = sealed("2026-09", 1, GENESIS)
    second = sealed("2026-10", 2, first.seal_hash)
    assert file_bytes(second) == file_bytes(second) and document(second)["sealed_body"]["period"] == "2026-10"
    files = []
    for d in (first, second):
        path = tmp_path / f"{d.period}.json"
        path.write_bytes(file_bytes(d))
        files.append(str(path))
    assert linli_verify.main([*files, "--head", second.seal_hash]) == 0
    out = capsys.readouterr().out
    assert "verified" in out and "published head" in out
    # Another head than the newest file's: the server showed an old chain (or a forged one).
    assert linli_verify.main([*files, "--head", "cd" * 32]) == 1
    assert "not the published head" in capsys.readouterr().out
    # A gap in the chain, and a file that does not extend the one before.
    third = sealed("2026-11", 3, second.seal_hash)
    gap = [linli_verify.check(json.loads(file_bytes(d)), d.period) for d in (first, third)]
    assert any("missing" in p for p in linli_verify.check_chain(gap))
    forged = sealed("2026-10", 2, "ef" * 32)
    broken = [linli_verify.check(json.loads(file_bytes(d)), d.period) for d in (first, forged)]
    assert any("extends" in p for p in linli_verify.check_chain(broken))
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    assert linli_verify.main([str(tmp_path / "bad.json")]) == 2


@pytest.mark.parametrize("module", ["linli_verify"])
def test_the_verifier_imports_nothing_of_linli(module: str) -> None:
    source = Path(linli_verify.__file__).read_text(encoding="utf-8")
    imports = [line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not [name for name in imports if name.startswith("linli")], imports
    assert set(imports) <= {"__future__", "argparse", "hashlib", "itertools", "json", "sys", "dataclasses", "pathlib",
                            "typing", "rfc8785"}
