"""The portal as `make run` starts it (a process of the demo platform), reached over HTTP, and
the ledger it must agree with, read over gRPC."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import pytest

from linli.governance.v1 import disclosure_pb2, disclosure_pb2_grpc, org_pb2, org_pb2_grpc
from linli_runtime.auth import Role
from linli_runtime.testing.platform import DemoPlatform
from linli_runtime.testing.signin import IssuerBrowser
from linli_runtime.times import SHANGHAI
from tools.portal_demo_activity import Activity, add_activity

SHENGJIAN = "chengdu/chongzhou/longxing/longxing-community/shengjian"
FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"


@pytest.fixture(scope="session")
def portal_url(demo_platform: DemoPlatform) -> str:
    return f"http://{demo_platform.address('portal')}"


@pytest.fixture
def web(portal_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal_url, timeout=30, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="session")
def activity(demo_platform: DemoPlatform) -> Activity:
    """Help requests and POS redemptions in Fengshu, once per session (the demo data has none).
    On a thread of its own: Playwright's sync API may already run an event loop on this one."""
    worker = demo_platform.token(Role.COMMUNITY_WORKER, FENGSHU, "李社工 portal")
    resident = demo_platform.token(Role.RESIDENT, f"{FENGSHU}/jinshang-chuntian", "居民 portal")
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, add_activity(demo_platform.addresses, worker, resident,
                                                     tls=demo_platform.platform.tls.client)).result()


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in(web: httpx.Client, platform: DemoPlatform, phone: str, next_page: str = "") -> httpx.Response:
    """A person signs in to the portal as a browser would, over plain HTTP: the portal sends them
    to the issuer (code + PKCE), they sign in there with phone + the dev gateway's code and press
    continue, the issuer sends them back to /auth/callback. Returns the callback's answer (its
    Set-Cookie and the page it redirects to); `web` keeps the session cookies."""
    start = web.get("/signin", params={"next": next_page} if next_page else None)
    assert start.status_code == 303, start.text
    browser = IssuerBrowser(platform.issuer_url, platform.issuer.sms_file)
    try:
        browser.sign_in(phone)
        callback = browser.authorize(start.headers["location"])
    finally:
        browser.close()
    assert callback.startswith(str(web.base_url)), callback
    return web.get(callback.removeprefix(str(web.base_url).rstrip("/")))


class Ledger:
    """trust-governance's own answers, to check the pages' figures against."""

    def __init__(self, platform: DemoPlatform) -> None:
        self.platform = platform
        self.address = platform.address("trust-governance")
        self.metadata = (("authorization", f"Bearer {platform.token(Role.PLATFORM_ADMIN)}"),)

    def _stub(self, channel: grpc.Channel) -> disclosure_pb2_grpc.DisclosureServiceStub:
        return disclosure_pb2_grpc.DisclosureServiceStub(channel)

    def disclosures(self, compound: str = SHENGJIAN) -> list[disclosure_pb2.Disclosure]:
        with self.platform.sync_channel(self.address) as channel:
            reply = self._stub(channel).ListDisclosures(disclosure_pb2.ListDisclosuresRequest(
                compound_path=compound, page_size=100), metadata=self.metadata, timeout=10)
        return list(reply.disclosures)

    def objections(self, disclosure: str) -> list[disclosure_pb2.Objection]:
        with self.platform.sync_channel(self.address) as channel:
            reply = self._stub(channel).ListObjections(disclosure_pb2.ListObjectionsRequest(
                disclosure=disclosure, page_size=1000), metadata=self.metadata, timeout=10)
        return list(reply.objections)

    def new_compound(self, *, households: int = 2) -> str:
        """A compound of the test's own in Fengshu (so that what the test does to it touches no
        other test), with a building and `households` households, and nothing on its books."""
        slug = f"portal-{uuid.uuid4().hex[:8]}"
        with self.platform.sync_channel(self.address) as channel:
            org = org_pb2_grpc.OrgServiceStub(channel)

            def create(parent: str, slug: str, kind: int, name: str, **extra: object) -> str:
                reply = org.CreateOrgUnit(org_pb2.CreateOrgUnitRequest(
                    parent_path=parent, slug=slug, kind=kind, display_name=name, request_id=uuid.uuid4().hex,
                    **extra), metadata=self.metadata, timeout=10)  # type: ignore[arg-type]
                return str(reply.org_unit.path)

            path = create(FENGSHU, slug, org_pb2.ORG_UNIT_KIND_COMPOUND, "测试小区",
                          compound_type=org_pb2.COMPOUND_TYPE_COMMERCIAL)
            building = create(path, "b1", org_pb2.ORG_UNIT_KIND_BUILDING, "1栋")
            for i in range(households):
                create(building, f"h{i + 1:03d}", org_pb2.ORG_UNIT_KIND_HOUSEHOLD, f"{i + 1}号",
                       exclusive_area_dm2=9_000)
        return path

    def close_period(self, compound: str, period: str = "") -> disclosure_pb2.Disclosure:
        """Seal `period` (last month in Shanghai by default) of a compound."""
        with self.platform.sync_channel(self.address) as channel:
            reply = self._stub(channel).ClosePeriod(disclosure_pb2.ClosePeriodRequest(
                compound_path=compound, period=period or last_month(), request_id=uuid.uuid4().hex),
                metadata=self.metadata, timeout=10)
        disclosure: disclosure_pb2.Disclosure = reply.disclosure
        return disclosure

    def verify(self, compound: str = SHENGJIAN) -> disclosure_pb2.VerifyDisclosureChainResponse:
        with self.platform.sync_channel(self.address) as channel:
            reply: disclosure_pb2.VerifyDisclosureChainResponse = self._stub(channel).VerifyDisclosureChain(
                disclosure_pb2.VerifyDisclosureChainRequest(compound_path=compound), metadata=self.metadata,
                timeout=10)
        return reply


def last_month() -> str:
    """The month before this one, as the services' clock (the real one) sees it in Shanghai."""
    first = datetime.now(SHANGHAI).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


@pytest.fixture(scope="session")
def ledger(demo_platform: DemoPlatform) -> Ledger:
    return Ledger(demo_platform)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say it loudly at the end of the run when the browser tests could not run."""
    from tests.e2e.portal.test_browser import MISSING

    if MISSING:
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(MISSING[0], red=True, bold=True)
