"""A transfer's fingerprint is stored with it and compared with every replay's: its bytes must
never change (a replay of a transfer written by an older version would be refused as an id
reused for another request)."""

from __future__ import annotations

import hashlib

from linli_points.ledger.model import Kind, TransferRequest, fingerprints


def test_the_fingerprint_is_the_sha256_of_the_fields_joined_by_unit_separators() -> None:
    requests = [
        TransferRequest("chengdu/jinjiang/fengshu", "t-1", "system/issuance", "volunteers/v1", 12),
        TransferRequest("chengdu/jinjiang/fengshu", "h.2", "volunteers/v1", "system/redemption-clearing",
                        1_000_000_000, kind=Kind.PENDING, reason="兑换", source="pos/7", related_transfer_id="r:1",
                        timeout_seconds=300),
    ]
    for r in requests:
        parts = (r.community_path, r.transfer_id, r.debit_account, r.credit_account, str(r.amount), str(int(r.kind)),
                 r.reason, r.source, r.related_transfer_id, str(r.timeout_seconds))
        assert r.fingerprint() == hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
    # As the versions before wrote it.
    assert requests[0].fingerprint() == "fd0da2d8d726f8eb00c3ea004a6c14105551d7d18abc8971ae6a7e7e097241fc"


def test_a_batch_fingerprints_each_request_as_it_alone_would_be() -> None:
    # Requests that share their tail (kind, reason, source, related id, timeout) and some that
    # do not, in an order that returns to an earlier tail.
    requests = [
        TransferRequest("chengdu/a", f"t-{i}", "system/issuance", f"volunteers/v{i % 3}", i + 1,
                        reason="bench" if i % 4 else "", source="pos/1" if i % 5 == 0 else "")
        for i in range(20)
    ]
    requests.append(TransferRequest("chengdu/a", "h", "volunteers/v1", "system/redemption-clearing", 5,
                                    kind=Kind.PENDING, timeout_seconds=60))
    assert fingerprints(requests) == [r.fingerprint() for r in requests]
