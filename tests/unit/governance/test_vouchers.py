"""Vouchers without the service: the S3-compatible store's AWS Signature V4 (against AWS's own
published example) and what an upload must be. The stores themselves (files, a loopback object
store): tests/integration/governance/test_voucher_stores.py."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from linli_governance.vouchers import (
    S3Settings,
    check_upload,
    sigv4_headers,
)

from linli_runtime.errors import InvalidArgument

PDF = b"%PDF-1.4\n% a receipt\n%%EOF\n"


def test_aws_signature_v4_matches_the_published_example() -> None:
    """'GET Object' from AWS's Signature Version 4 documentation (examplebucket, test.txt)."""
    s3 = S3Settings(
        "https://examplebucket.s3.amazonaws.com",
        "examplebucket",
        "us-east-1",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )
    headers = sigv4_headers(
        s3,
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        hashlib.sha256(b"").hexdigest(),
        datetime(2013, 5, 24, tzinfo=UTC),
        {"Range": "bytes=0-9"},
    )
    assert headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


@pytest.mark.parametrize(
    ("content", "media_type", "field"),
    [
        (b"", "application/pdf", "content"),
        (PDF, "text/html", "media_type"),
        (b"<html>not a pdf</html>", "application/pdf", "content"),
        (b"RIFF0000WAVE", "image/webp", "content"),
        (PDF + b"x" * 100, "application/pdf", "content"),
    ],
)
def test_an_upload_is_a_small_file_of_an_accepted_type(content: bytes, media_type: str, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        check_upload(content, media_type, "r.pdf", max_bytes=100)
    assert caught.value.violations[0].field == field


def test_an_accepted_upload_keeps_its_name() -> None:
    assert check_upload(PDF, "application/pdf", "  收据.pdf ", max_bytes=1000) == "收据.pdf"
    assert check_upload(b"\x89PNG\r\n\x1a\n...", "image/png", "", max_bytes=1000) == ""
