"""Voucher files (invoices, receipts, photos of the work), stored content-addressed, and who may
see them.

The bytes live in a `VoucherStore` under their SHA-256; the database keeps which compound holds
which voucher (`gov_vouchers`: media type, name, size, who uploaded it). Storing the same bytes
twice stores nothing new. An expense or a fund use names its voucher by that hash and must name
one its compound holds, so every sealed line's `voucher_sha256` is a file an owner can fetch and
hash again. Reading a voucher re-hashes it: a file changed in the store is refused, never served.

Stores (`make_store` picks one from the settings):

- `LocalVoucherStore` (default): files under the service's var directory,
  `<dir>/sha256/ab/abcdef…`, written to a temporary file and renamed (a crash leaves no half
  file under a hash).
- `S3VoucherStore` (production): any S3-compatible object store (AWS S3, Alibaba OSS, Tencent
  COS, MinIO), path-style requests signed with AWS Signature V4; objects `<prefix><sha256>`.
  Settings: `LINLI_VOUCHER_STORE=s3`, `LINLI_VOUCHER_S3_ENDPOINT` (https://…),
  `LINLI_VOUCHER_S3_BUCKET`, `LINLI_VOUCHER_S3_REGION`, `LINLI_VOUCHER_S3_PREFIX` (default
  `vouchers/`), `LINLI_VOUCHER_S3_ACCESS_KEY_ID`, `LINLI_VOUCHER_S3_SECRET_ACCESS_KEY`.

Store calls block (files, HTTP): they run in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli_governance import names
from linli_governance.settings import GovernanceSettings
from linli_governance.tables import VOUCHERS, StoredVoucher
from linli_runtime import fields
from linli_runtime.db import Database
from linli_runtime.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from linli_runtime.models import typed

# What a voucher may be, told by its first bytes as well as by what the caller says.
MEDIA_TYPES = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),
}
FILENAME_LEN = 200


class VoucherStore(Protocol):
    """Bytes by their SHA-256 (hex). `put` is idempotent; `get` returns None for an unknown hash."""

    def put(self, sha256: str, content: bytes) -> None: ...

    def get(self, sha256: str) -> bytes | None: ...


class LocalVoucherStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256[:2] / sha256

    def put(self, sha256: str, content: bytes) -> None:
        target = self.path(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, sha256: str) -> bytes | None:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            return None


@dataclass(frozen=True)
class S3Settings:
    endpoint: str  # https://s3.cn-north-1.amazonaws.com.cn, https://oss-cn-chengdu.aliyuncs.com, http://minio:9000
    bucket: str
    region: str
    access_key_id: str
    secret_access_key: str
    prefix: str = "vouchers/"
    timeout: float = 20.0


def sigv4_headers(
    s3: S3Settings, method: str, url: str, payload_sha256: str, now: datetime, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """AWS Signature Version 4 headers for one S3 request (service `s3`)."""
    parts = urllib.parse.urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = now.strftime("%Y%m%d")
    headers = {"host": parts.netloc, "x-amz-content-sha256": payload_sha256, "x-amz-date": amz_date}
    headers.update({k.lower(): v for k, v in (extra or {}).items()})
    signed = sorted(headers)
    canonical = "\n".join(
        [
            method,
            urllib.parse.quote(parts.path or "/", safe="/-_.~"),
            parts.query,
            "".join(f"{k}:{headers[k].strip()}\n" for k in signed),
            ";".join(signed),
            payload_sha256,
        ]
    )
    scope = f"{day}/{s3.region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{s3.secret_access_key}".encode()
    for part in (day, s3.region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={s3.access_key_id}/{scope}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signature}"
    )
    return headers


class S3VoucherStore:
    def __init__(self, s3: S3Settings) -> None:
        self.s3 = s3

    def url(self, sha256: str) -> str:
        return f"{self.s3.endpoint.rstrip('/')}/{self.s3.bucket}/{self.s3.prefix}{sha256}"

    def _request(self, method: str, sha256: str, body: bytes = b"") -> tuple[int, bytes]:
        url = self.url(sha256)
        payload = hashlib.sha256(body).hexdigest()
        headers = sigv4_headers(self.s3, method, url, payload, datetime.now(UTC))
        headers.pop("host")
        request = urllib.request.Request(url, data=body if method == "PUT" else None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.s3.timeout) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as error:
            return int(error.code), error.read()
        except OSError as error:
            raise Unavailable(
                f"the voucher store does not answer: {error}", reason="VOUCHER_STORE_UNAVAILABLE"
            ) from error

    def put(self, sha256: str, content: bytes) -> None:
        status, _ = self._request("PUT", sha256, content)
        if status >= 300:
            raise Unavailable(f"the voucher store refused the file (HTTP {status})", reason="VOUCHER_STORE_REFUSED")

    def get(self, sha256: str) -> bytes | None:
        status, body = self._request("GET", sha256)
        if status == 404:
            return None
        if status >= 300:
            raise Unavailable(f"the voucher store refused the read (HTTP {status})", reason="VOUCHER_STORE_REFUSED")
        return body


def make_store(settings: GovernanceSettings) -> VoucherStore:
    if settings.voucher_store == "s3":
        return S3VoucherStore(
            S3Settings(
                endpoint=settings.voucher_s3_endpoint,
                bucket=settings.voucher_s3_bucket,
                region=settings.voucher_s3_region,
                access_key_id=settings.voucher_s3_access_key_id,
                secret_access_key=settings.voucher_s3_secret_access_key,
                prefix=settings.voucher_s3_prefix,
            )
        )
    return LocalVoucherStore(settings.voucher_root())


# -- rules ----------------------------------------------------------------------------------------


def check_upload(content: bytes, media_type: str, filename: str, max_bytes: int) -> str:
    """The file is there, not too big, of an accepted type that its first bytes confirm.
    Returns the filename, trimmed."""
    if not content:
        raise InvalidArgument.field("content", "is empty: send the voucher file")
    if len(content) > max_bytes:
        raise InvalidArgument.field("content", f"is {len(content)} bytes; a voucher may be at most {max_bytes} bytes")
    signatures = MEDIA_TYPES.get(media_type)
    if signatures is None:
        raise InvalidArgument.field("media_type", f"must be one of {', '.join(MEDIA_TYPES)}")
    if not content.startswith(signatures) or (media_type == "image/webp" and content[8:12] != b"WEBP"):
        raise InvalidArgument.field("content", f"is not a {media_type} file")
    return fields.text("filename", filename, FILENAME_LEN)


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True)
class Voucher:
    row: StoredVoucher

    @property
    def name(self) -> str:
        return names.voucher_name(self.row.compound_path, self.row.sha256)


# -- within a transaction -------------------------------------------------------------------------


async def upload(
    session: AsyncSession,
    store: VoucherStore,
    compound_path: str,
    content: bytes,
    *,
    media_type: str,
    filename: str,
    uploaded_by: str,
    when: datetime,
) -> Voucher:
    """Keep the bytes (first: a row never names a file that is not there), then the compound's
    record of them; the same bytes again change nothing."""
    sha256 = digest(content)
    await asyncio.to_thread(store.put, sha256, content)
    conn = await session.connection()
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(
        insert(VOUCHERS)
        .values(
            compound_path=compound_path,
            sha256=sha256,
            media_type=media_type,
            filename=filename,
            size_bytes=len(content),
            uploaded_by=uploaded_by,
            uploaded_at=when,
        )
        .on_conflict_do_nothing(index_elements=["compound_path", "sha256"])
    )
    return Voucher(await _row(conn, compound_path, sha256))


async def _row(conn: AsyncConnection, compound_path: str, sha256: str) -> StoredVoucher:
    row = (
        await conn.execute(
            select(VOUCHERS).where(VOUCHERS.c.compound_path == compound_path, VOUCHERS.c.sha256 == sha256)
        )
    ).first()
    if row is None:
        raise NotFound(f"{names.voucher_name(compound_path, sha256)} does not exist", reason="VOUCHER_NOT_FOUND")
    return typed(StoredVoucher, row)


async def require_uploaded(
    conn: AsyncConnection, compound_path: str, sha256: str, field: str = "voucher.sha256"
) -> None:
    """A transfer names a voucher its compound holds."""
    found = (
        await conn.execute(
            select(VOUCHERS.c.sha256).where(VOUCHERS.c.compound_path == compound_path, VOUCHERS.c.sha256 == sha256)
        )
    ).first()
    if found is None:
        raise FailedPrecondition(
            f"no voucher with {field} {sha256[:12]}… is stored for this compound; upload the file first "
            "(UploadVoucher) and name it by the SHA-256 it returns",
            reason="VOUCHER_NOT_UPLOADED",
        )


# -- reads ----------------------------------------------------------------------------------------


async def get(db: Database, store: VoucherStore, compound_path: str, sha256: str) -> tuple[Voucher, bytes]:
    """A voucher and its bytes, hashed again: a file that no longer matches is refused."""
    async with db.session() as session:
        voucher = Voucher(await _row(await session.connection(), compound_path, sha256))
    content = await asyncio.to_thread(store.get, sha256)
    if content is None:
        raise FailedPrecondition(
            f"{voucher.name} is recorded but its file is missing from the voucher store", reason="VOUCHER_FILE_MISSING"
        )
    if digest(content) != sha256:
        raise FailedPrecondition(
            f"{voucher.name}: the stored file no longer matches its SHA-256; it was changed in the store",
            reason="VOUCHER_CORRUPTED",
        )
    return voucher, content
