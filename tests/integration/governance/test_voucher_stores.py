"""The voucher stores on real files and a real (loopback) S3-compatible endpoint: content-
addressed local files kept once, the default store beside the SQLite database, and the S3 store's
signed PUT and GET under its prefix."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from linli_governance.settings import GovernanceSettings
from linli_governance.vouchers import LocalVoucherStore, S3Settings, S3VoucherStore, digest, make_store

PDF = b"%PDF-1.4\n% a receipt\n%%EOF\n"


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
