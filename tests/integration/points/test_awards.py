"""Year-end awards (issue 14, item 8) through gRPC, SQLite and PostgreSQL: the close records who
closed it; each Red Maple Guardian's certificate is a PDF with its Chinese text and the CJK font
embedded, drawn once and then the same bytes, readable by workers and by the volunteer alone;
a server without a CJK font says so; the material reward is recorded once when handed over."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import grpc
from linli_identity.testing import TestIssuer
from linli_points.app import PointsApp, create_app
from linli_points.settings import PointsSettings
from linli_points.tables import KNOWN_ORG_UNITS
from pypdf import PdfReader

from linli.events.v1 import points_pb2 as events_pb
from linli.points.v1 import awards_pb2 as aw
from linli.points.v1 import ledger_pb2 as led
from linli.points.v1 import volunteers_pb2 as vol
from linli_runtime import org_units
from linli_runtime.clock import ManualClock
from linli_runtime.processes import NatsServer

from .conftest import FENGSHU, Metadata, Stubs, expect_error, ts

ISSUER = "中共枫树社区委员会　枫树社区居民委员会"


async def closed_2026(s: Stubs, as_service: Metadata, md: Metadata, clock: ManualClock) -> aw.CloseYearResponse:
    """Three volunteers with points in 2026, the year closed on 2 January 2027 by `md`'s account."""
    for vid, name, points in (("v-wan", "万秀英", 50), ("v-li", "李建国", 30), ("v-zhao", "赵桂兰", 10)):
        await s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=FENGSHU, volunteer_id=vid, display_name=name)), metadata=md)
        await s.ledger.CreateTransfer(led.CreateTransferRequest(
            community_path=FENGSHU, transfer_id=f"t-{vid}", debit_account="system/issuance",
            credit_account=f"volunteers/{vid}", amount=points, reason="governance"), metadata=as_service)
    clock.set(datetime(2027, 1, 2, 2, tzinfo=UTC))
    return await s.awards.CloseYear(aw.CloseYearRequest(community_path=FENGSHU, year=2026, gold_count=1,
                                                        silver_count=1, bronze_count=1, issuer_name=ISSUER),
                                    metadata=md)


def pdf_text(content: bytes) -> tuple[str, set[str]]:
    """The PDF's text without spaces, and the names of the fonts embedded in it (those with a
    font file)."""
    reader = PdfReader(io.BytesIO(content))
    embedded: set[str] = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", [font]):
                descriptor: Any = descendant.get_object().get("/FontDescriptor")
                if descriptor is not None and any(k in descriptor.get_object() for k in
                                                  ("/FontFile", "/FontFile2", "/FontFile3")):
                    embedded.add(str(font["/BaseFont"]))
    # (letter-spaced titles come back with spaces between the characters)
    return "".join(page.extract_text() for page in reader.pages).replace(" ", ""), embedded


async def test_the_close_records_who_closed_it_and_certificates_are_pdfs_in_chinese(
    stubs: Stubs, as_service: Metadata, token_for: Callable[..., Metadata],
    as_volunteer: Callable[..., Awaitable[Metadata]], clock: ManualClock
) -> None:
    s = stubs
    li = token_for("community_worker", subject="worker-li")
    zhang = token_for("community_worker", subject="worker-zhang")
    closed = await closed_2026(s, as_service, li, clock)
    assert (closed.newly_closed, closed.year_close.closed_by, closed.year_close.issuer_name) == (
        True, "worker-li", ISSUER)
    assert closed.year_close.close_time == ts(datetime(2027, 1, 2, 2, tzinfo=UTC))
    again = await s.awards.CloseYear(aw.CloseYearRequest(community_path=FENGSHU, year=2026, gold_count=1,
                                                         silver_count=1, bronze_count=1), metadata=zhang)
    assert (again.newly_closed, again.year_close.closed_by) == (False, "worker-li"), "the first closer stays"
    await expect_error(s.awards.CloseYear(aw.CloseYearRequest(
        community_path=FENGSHU, year=2026, gold_count=1, silver_count=1, bronze_count=1, issuer_name="别的单位"),
        metadata=zhang), grpc.StatusCode.ALREADY_EXISTS, "YEAR_CLOSED_WITH_OTHER_RULE")
    listed = await s.awards.ListAwards(aw.ListAwardsRequest(community_path=FENGSHU, year=2026), metadata=zhang)
    assert listed.year_close.closed_by == "worker-li"
    assert [(a.volunteer_id, a.tier) for a in listed.awards] == [
        ("v-wan", events_pb.AWARD_TIER_GOLD), ("v-li", events_pb.AWARD_TIER_SILVER),
        ("v-zhao", events_pb.AWARD_TIER_BRONZE)]

    ask = aw.GetAwardCertificateRequest(community_path=FENGSHU, year=2026, volunteer_id="v-wan")
    first = await s.awards.GetAwardCertificate(ask, metadata=zhang, timeout=60)
    assert first.pdf_content.startswith(b"%PDF-") and first.filename == "fengshu-2026-gold-v-wan.pdf"
    text, embedded = pdf_text(first.pdf_content)
    for words in ("荣誉证书", "万秀英", "金牌·红枫卫士", "50积分", "第1名", ISSUER, "2027年1月2日"):
        assert words in text, f"{words!r} missing from the certificate's text"
    assert embedded, "the font is embedded, so the Chinese shows on any device"
    # Drawn once: the same bytes every time, to the volunteer too.
    own = await s.awards.GetAwardCertificate(ask, metadata=await as_volunteer("v-wan"), timeout=60)
    assert (own.pdf_content, own.sha256) == (first.pdf_content, first.sha256)
    silver, _ = pdf_text((await s.awards.GetAwardCertificate(aw.GetAwardCertificateRequest(
        community_path=FENGSHU, year=2026, volunteer_id="v-li"), metadata=zhang, timeout=60)).pdf_content)
    assert "银牌·红枫卫士" in silver and "李建国" in silver

    refused = [
        (s.awards.GetAwardCertificate(ask, metadata=await as_volunteer("v-li")),
         grpc.StatusCode.PERMISSION_DENIED, "NOT_SELF"),
        (s.awards.GetAwardCertificate(ask, metadata=token_for("community_worker", scope="chengdu/chongzhou")),
         grpc.StatusCode.PERMISSION_DENIED, "OUT_OF_SCOPE"),
        (s.awards.GetAwardCertificate(aw.GetAwardCertificateRequest(
            community_path=FENGSHU, year=2026, volunteer_id="v-nobody"), metadata=zhang),
         grpc.StatusCode.NOT_FOUND, "AWARD_NOT_FOUND"),
        (s.awards.GetAwardCertificate(aw.GetAwardCertificateRequest(
            community_path=FENGSHU, year=2025, volunteer_id="v-wan"), metadata=zhang),
         grpc.StatusCode.FAILED_PRECONDITION, "YEAR_NOT_CLOSED"),
    ]
    for call, code, reason in refused:
        await expect_error(call, code, reason)
    for request, field in ((aw.GetAwardCertificateRequest(community_path=FENGSHU, year=2026, volunteer_id="a b"),
                            "volunteer_id"),
                           (aw.GetAwardCertificateRequest(community_path=FENGSHU, year=99, volunteer_id="v-wan"),
                            "year")):
        await expect_error(s.awards.GetAwardCertificate(request, metadata=zhang), grpc.StatusCode.INVALID_ARGUMENT,
                           field=field)


async def test_the_material_reward_is_recorded_once_with_who_when_and_what(
    stubs: Stubs, as_service: Metadata, token_for: Callable[..., Metadata],
    as_volunteer: Callable[..., Awaitable[Metadata]], clock: ManualClock
) -> None:
    s = stubs
    li = token_for("community_worker", subject="worker-li")
    zhang = token_for("community_worker", subject="worker-zhang")
    await closed_2026(s, as_service, li, clock)
    clock.set(datetime(2027, 1, 8, 3, tzinfo=UTC))
    give = aw.RecordRewardHandoverRequest(community_path=FENGSHU, year=2026, volunteer_id="v-wan",
                                          item="米面油礼包", received_by="万秀英本人")
    given = (await s.awards.RecordRewardHandover(give, metadata=zhang)).award
    assert (given.reward.item, given.reward.received_by, given.reward.handed_over_by) == (
        "米面油礼包", "万秀英本人", "worker-zhang")
    assert given.reward.handover_time == ts(datetime(2027, 1, 8, 3, tzinfo=UTC))
    clock.set(datetime(2027, 1, 9, 3, tzinfo=UTC))
    assert (await s.awards.RecordRewardHandover(give, metadata=li)).award == given, "a repeat answers the record"
    other = aw.RecordRewardHandoverRequest(community_path=FENGSHU, year=2026, volunteer_id="v-wan", item="电饭煲",
                                           received_by="万秀英本人")
    await expect_error(s.awards.RecordRewardHandover(other, metadata=li), grpc.StatusCode.ALREADY_EXISTS,
                       "REWARD_ALREADY_HANDED_OVER")
    listed = await s.awards.ListAwards(aw.ListAwardsRequest(community_path=FENGSHU, year=2026), metadata=li)
    assert [(a.volunteer_id, a.reward.item) for a in listed.awards] == [("v-wan", "米面油礼包"), ("v-li", ""),
                                                                        ("v-zhao", "")]
    # An earlier time may be given (entered afterwards), within the close and now.
    earlier = aw.RecordRewardHandoverRequest(community_path=FENGSHU, year=2026, volunteer_id="v-li", item="保温杯",
                                             received_by="李建国的女儿",
                                             handover_time=ts(datetime(2027, 1, 5, tzinfo=UTC)))
    assert (await s.awards.RecordRewardHandover(earlier, metadata=li)).award.reward.handover_time == ts(
        datetime(2027, 1, 5, tzinfo=UTC))

    bad = [
        (aw.RecordRewardHandoverRequest(community_path=FENGSHU, year=2026, volunteer_id="v-zhao", received_by="x"),
         "item"),
        (aw.RecordRewardHandoverRequest(community_path=FENGSHU, year=2026, volunteer_id="v-zhao", item="x" * 201,
                                        received_by="x"), "item"),
        (aw.RecordRewardHandoverRequest(community_path=FENGSHU, year=2026, volunteer_id="v-zhao", item="x"),
         "received_by"),
        (aw.RecordRewardHandoverRequest(community_path=FENGSHU, year=2026, volunteer_id="v-zhao", item="x",
                                        received_by="x", handover_time=ts(datetime(2027, 2, 1, tzinfo=UTC))),
         "handover_time"),
        (aw.RecordRewardHandoverRequest(community_path=FENGSHU, year=2026, volunteer_id="v-zhao", item="x",
                                        received_by="x", handover_time=ts(datetime(2026, 12, 1, tzinfo=UTC))),
         "handover_time"),
    ]
    for request, field in bad:
        await expect_error(s.awards.RecordRewardHandover(request, metadata=li), grpc.StatusCode.INVALID_ARGUMENT,
                           field=field)
    for caller in (token_for("party_committee"), await as_volunteer("v-zhao")):
        await expect_error(s.awards.RecordRewardHandover(aw.RecordRewardHandoverRequest(
            community_path=FENGSHU, year=2026, volunteer_id="v-zhao", item="x", received_by="x"), metadata=caller),
            grpc.StatusCode.PERMISSION_DENIED)
    await expect_error(s.awards.RecordRewardHandover(aw.RecordRewardHandoverRequest(
        community_path=FENGSHU, year=2026, volunteer_id="v-nobody", item="x", received_by="x"), metadata=li),
        grpc.StatusCode.NOT_FOUND, "AWARD_NOT_FOUND")


async def test_a_server_without_a_chinese_font_says_how_to_get_one(
    database_url: str, nats_server: NatsServer, clock: ManualClock, issuer: TestIssuer, tmp_path: Any
) -> None:
    settings = PointsSettings(port=0, database_url=database_url, nats_url=nats_server.url,
                              certificate_font=str(tmp_path / "no-such-font.ttc"))
    app: PointsApp = issuer.trust(create_app(settings, clock))
    await app.start()
    await org_units.learn_demo_tree(app.db, KNOWN_ORG_UNITS, clock.now())  # as governance's events would
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            s = Stubs(channel)
            md = (("authorization", f"Bearer {issuer.issue('worker-li', role='community_worker', scope=FENGSHU)}"),)
            service = (("authorization", f"Bearer {issuer.issue_service_token('partner-redemption')}"),)
            await closed_2026(s, service, md, clock)
            try:
                await s.awards.GetAwardCertificate(aw.GetAwardCertificateRequest(
                    community_path=FENGSHU, year=2026, volunteer_id="v-wan"), metadata=md, timeout=60)
                raise AssertionError("a certificate without a font")
            except grpc.aio.AioRpcError as refused:
                assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION
                assert "fonts-noto-cjk" in (refused.details() or "") and "LINLI_CERTIFICATE_FONT" in (
                    refused.details() or "")
    finally:
        await app.stop(grace=1)
