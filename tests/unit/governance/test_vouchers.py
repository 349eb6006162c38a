"""Voucher stores without the service: content-addressed local files, the S3-compatible store's
AWS Signature V4 (against AWS's own published example) and its round trip against a stand-in
object store on loopback, and what an upload must be."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from linli_governance.settings import GovernanceSettings
from linli_governance.vouchers import (
    LocalVoucherStore,
    S3Settings,
    S3VoucherStore,
    check_upload,
    digest,
    make_store,
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


def test_local_files_are_kept_once_under_their_hash(tmp_path: Path) -> None:
    store = LocalVoucherStore(tmp_path)
    sha = digest(PDF)
    store.put(sha, PDF)
    store.put(sha, PDF)
    assert store.get(sha) == PDF and store.get("0" * 64) is None
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [sha]
    assert store.path(sha) == tmp_path / "sha256" / sha[:2] / sha


def test_the_default_store_is_beside_the_sqlite_database(tmp_path: Path) -> None:
    settings = GovernanceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/var/trust_governance.db")
    store = make_store(settings)
    assert isinstance(store, LocalVoucherStore) and store.root == tmp_path / "var" / "vouchers"
    assert isinstance(make_store(GovernanceSettings(voucher_store="s3", voucher_s3_bucket="b")), S3VoucherStore)


class FakeObjectStore(BaseHTTPRequestHandler):
    """An S3-compatible store on loopback: objects by path, signed requests only."""

    objects: ClassVar[dict[str, bytes]] = {}

    def log_message(self, *args: object) -> None:
        pass

    def _signed(self) -> bool:
        auth = self.headers.get("authorization", "")
        return (
            auth.startswith("AWS4-HMAC-SHA256 Credential=AKID/")
            and self.headers.get("x-amz-content-sha256") is not None
        )

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if not self._signed() or hashlib.sha256(body).hexdigest() != self.headers["x-amz-content-sha256"]:
            self.send_response(403)
            self.end_headers()
            return
        self.objects[self.path] = body
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:
        found = self.objects.get(self.path) if self._signed() else None
        self.send_response(200 if found is not None else 404)
        self.end_headers()
        self.wfile.write(found or b"")


@pytest.fixture
def object_store() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeObjectStore)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_s3_store_puts_and_gets_signed_objects_under_the_prefix(object_store: str) -> None:
    store = S3VoucherStore(S3Settings(object_store, "linli", "cn-chengdu", "AKID", "secret", prefix="v/"))
    sha = digest(PDF)
    store.put(sha, PDF)
    assert FakeObjectStore.objects[f"/linli/v/{sha}"] == PDF
    assert store.get(sha) == PDF and store.get("0" * 64) is None


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
