"""The residents' chain badge shows each tamper of the tamper test (issue 14 item 3): a voucher's
hash, a posting date, an amount changed in the ledger, the newest disclosure deleted — the page
says the chain is broken, at which period and why; undone, it is verified again."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from tests.integration.governance.conftest import Governance
from tests.integration.governance.helpers import JINSHENG, build_chongzhou
from tests.integration.governance.tamper import TAMPERS, Books, Tamper, sealed_books


def badge(page: str) -> tuple[str, str]:
    found = re.search(r'<p class="badge [a-z]+" id="chain-status" data-valid="(true|false)">(.*?)</p>', page, re.S)
    assert found, "the page has a chain badge"
    return found.group(1), html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(2))))


@pytest.fixture
async def books(gov: Governance) -> Books:
    await build_chongzhou(gov)
    return await sealed_books(gov)


async def test_the_page_lists_every_sealed_line_of_the_latest_month(portal: httpx.AsyncClient, books: Books) -> None:
    page = (await portal.get(f"/c/{JINSHENG}")).text
    valid, text = badge(page)
    assert valid == "true" and "逐笔一致" in text and "2026-10" in text  # held against the published head
    table = page.split('id="sealed-lines"')[1].split("</table>")[0]
    assert len(re.findall(r"<tr data-transfer=", table)) == books.newest.transfer_count


@pytest.mark.parametrize("tamper", TAMPERS, ids=[t.name for t in TAMPERS])
async def test_the_badge_shows_the_break(
    gov: Governance, portal: httpx.AsyncClient, books: Books, tamper: Tamper
) -> None:
    undo = await tamper.apply(gov, books)
    valid, text = badge((await portal.get(f"/c/{JINSHENG}")).text)
    period = tamper.broken(books).period
    assert valid == "false" and f"第 {period} 期公示与账本不符" in text and f"broken at {period}" in text, text
    for words in tamper.reason:
        assert words in text, text
    json_twin = (await portal.get(f"/api/compounds/{JINSHENG}")).json()["chain"]
    assert (json_twin["valid"], json_twin["broken_period"]) == (False, period)
    await undo()
    assert badge((await portal.get(f"/c/{JINSHENG}")).text)[0] == "true"
