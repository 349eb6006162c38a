"""Vouchers over gRPC (issue 14 item 3): stored content-addressed, named by their hash in every
expense, viewable by the compound's owners and officers and by no one else, refused when the
stored file no longer matches its hash."""

from __future__ import annotations

import hashlib

import grpc
import pytest

from linli.governance.v1 import account_pb2

from .conftest import Governance
from .helpers import (
    JIANGNANTING,
    JINSHENG,
    build_chongzhou,
    expect_error,
    income,
    invoice_pdf,
    rid,
    upload_voucher,
    voucher,
    with_budget,
)


@pytest.fixture
async def books(gov: Governance) -> Governance:
    await build_chongzhou(gov)
    await with_budget(gov, JINSHENG)
    await income(gov, gov.caller("trustee", JINSHENG), JINSHENG, 1_000_000)
    return gov


async def upload(
    gov: Governance, content: bytes, media_type: str = "application/pdf", compound: str = JINSHENG
) -> account_pb2.StoredVoucher:
    reply = await gov.caller("trustee", compound)(
        gov.account.UploadVoucher,
        account_pb2.UploadVoucherRequest(
            compound_path=compound, content=content, media_type=media_type, filename="发票 0042.pdf", request_id=rid()
        ),
    )
    return reply.voucher


async def get(gov: Governance, name: str, role: str, scope: str) -> account_pb2.GetVoucherResponse:
    return await gov.caller(role, scope)(gov.account.GetVoucher, account_pb2.GetVoucherRequest(name=name))


async def test_a_voucher_is_stored_once_under_its_hash_and_owners_can_read_it(books: Governance) -> None:
    content = invoice_pdf("cleaning october")
    first = await upload(books, content)
    again = await upload(books, content)
    sha = hashlib.sha256(content).hexdigest()
    assert (first.sha256, first.size_bytes, first.media_type) == (sha, len(content), "application/pdf")
    assert first.name == f"compounds/{JINSHENG.replace('/', '~')}/vouchers/{sha}" and again == first
    stored = [p for p in books.app.vouchers.root.rglob("*") if p.is_file()]  # type: ignore[attr-defined]
    assert [p.name for p in stored] == [sha]

    owner = await get(books, first.name, "resident", f"{JINSHENG}/b0/h000")
    assert owner.content == content and owner.voucher.filename == "发票 0042.pdf"
    assert (await get(books, first.name, "trust_supervisor", JINSHENG)).content == content
    for role, scope in [("resident", f"{JIANGNANTING}/b1/h001"), ("street_officer", "chengdu/chongzhou/huaiyuan")]:
        await expect_error(get(books, first.name, role, scope), grpc.StatusCode.PERMISSION_DENIED)
    await expect_error(get(books, first.name.replace(sha, "0" * 64), "trustee", JINSHENG), grpc.StatusCode.NOT_FOUND)
    await expect_error(
        get(books, first.name.replace(sha, "xyz"), "trustee", JINSHENG), grpc.StatusCode.INVALID_ARGUMENT, field="name"
    )
    await expect_error(
        books.caller("resident", f"{JINSHENG}/b0/h000")(
            books.account.UploadVoucher,
            account_pb2.UploadVoucherRequest(compound_path=JINSHENG, content=content, media_type="application/pdf"),
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )


async def test_bad_files_are_refused_naming_the_field(books: Governance) -> None:
    for content, media_type, field in [
        (b"", "application/pdf", "content"),
        (b"<html>", "application/pdf", "content"),
        (invoice_pdf("x"), "application/zip", "media_type"),
        (b"%PDF-" + b"0" * (6 * 1024 * 1024), "application/pdf", "content"),
    ]:
        await expect_error(upload(books, content, media_type), grpc.StatusCode.INVALID_ARGUMENT, field=field)


async def test_an_expense_names_a_voucher_its_compound_holds(books: Governance) -> None:
    trustee = books.caller("trustee", JINSHENG)

    async def spend(proof: account_pb2.Voucher) -> account_pb2.Transfer:
        reply = await trustee(
            books.account.RecordExpense,
            account_pb2.RecordExpenseRequest(
                compound_path=JINSHENG,
                budget_line="cleaning",
                amount_fen=10_000,
                voucher=proof,
                counterparty="保洁服务部",
                request_id=rid(),
            ),
        )
        return reply.transfer

    await expect_error(
        spend(voucher("never uploaded")), grpc.StatusCode.FAILED_PRECONDITION, reason="VOUCHER_NOT_UPLOADED"
    )
    elsewhere = await upload(books, invoice_pdf("jiangnanting"), compound=JIANGNANTING)
    await expect_error(
        spend(account_pb2.Voucher(sha256=elsewhere.sha256)),
        grpc.StatusCode.FAILED_PRECONDITION,
        reason="VOUCHER_NOT_UPLOADED",
    )
    proof = await upload_voucher(books, JINSHENG, "october cleaning")
    spent = await spend(account_pb2.Voucher(sha256=proof.sha256))
    assert spent.voucher.sha256 == proof.sha256 and spent.counterparty == "保洁服务部"
    assert spent.voucher.file_ref == f"compounds/{JINSHENG.replace('/', '~')}/vouchers/{proof.sha256}"


async def test_a_file_changed_in_the_store_is_refused_not_served(books: Governance) -> None:
    stored = await upload(books, invoice_pdf("to be forged"))
    books.app.vouchers.path(stored.sha256).write_bytes(invoice_pdf("forged"))  # type: ignore[attr-defined]
    await expect_error(
        get(books, stored.name, "trustee", JINSHENG), grpc.StatusCode.FAILED_PRECONDITION, reason="VOUCHER_CORRUPTED"
    )
