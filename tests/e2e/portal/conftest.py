"""The portal as `make run` starts it (a process of the demo platform), reached over HTTP, and
the ledger it must agree with, read over gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import httpx
import pytest

from linli.governance.v1 import disclosure_pb2, disclosure_pb2_grpc
from linli_runtime.auth import Role
from linli_runtime.testing.platform import DemoPlatform
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
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, add_activity(demo_platform.addresses, demo_platform.signer)).result()


class Ledger:
    """trust-governance's own answers, to check the pages' figures against."""

    def __init__(self, platform: DemoPlatform) -> None:
        self.address = platform.address("trust-governance")
        self.metadata = (("authorization", f"Bearer {platform.token(Role.PLATFORM_ADMIN)}"),)

    def _stub(self, channel: grpc.Channel) -> disclosure_pb2_grpc.DisclosureServiceStub:
        return disclosure_pb2_grpc.DisclosureServiceStub(channel)

    def disclosures(self, compound: str = SHENGJIAN) -> list[disclosure_pb2.Disclosure]:
        with grpc.insecure_channel(self.address) as channel:
            reply = self._stub(channel).ListDisclosures(disclosure_pb2.ListDisclosuresRequest(
                compound_path=compound, page_size=100), metadata=self.metadata, timeout=10)
        return list(reply.disclosures)

    def objections(self, disclosure: str) -> list[disclosure_pb2.Objection]:
        with grpc.insecure_channel(self.address) as channel:
            reply = self._stub(channel).ListObjections(disclosure_pb2.ListObjectionsRequest(
                disclosure=disclosure, page_size=1000), metadata=self.metadata, timeout=10)
        return list(reply.objections)

    def verify(self, compound: str = SHENGJIAN) -> disclosure_pb2.VerifyDisclosureChainResponse:
        with grpc.insecure_channel(self.address) as channel:
            reply: disclosure_pb2.VerifyDisclosureChainResponse = self._stub(channel).VerifyDisclosureChain(
                disclosure_pb2.VerifyDisclosureChainRequest(compound_path=compound), metadata=self.metadata,
                timeout=10)
        return reply


@pytest.fixture(scope="session")
def ledger(demo_platform: DemoPlatform) -> Ledger:
    return Ledger(demo_platform)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say it loudly at the end of the run when the browser tests could not run."""
    from tests.e2e.portal.test_browser import MISSING

    if MISSING:
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(MISSING[0], red=True, bold=True)
