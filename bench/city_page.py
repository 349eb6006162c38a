"""The operators' whole city page, timed as a person opening it sees it: the real portal
(`python -m linli_portal.main` under uvicorn, as `make run` serves it) in front of every service
it reads, over the city `bench.city` loaded. `GET /ops/chengdu` with a city operator's token,
`--page-loads` times one after another per run (after one load not counted, that opens the
portal's channels and the services' pools); each load's wall time, and the portal's own
split of it (its `Server-Timing` header: the org walk, then rollout, points, help requests and
redemptions read side by side, then the render), and the CPU every process spent per load.

Two kinds of load a run: as an operator opens the page (the points and redemptions from the
portal's snapshot, at most 5 minutes old, read anew in the background past that), and "live"
(`?refresh=1`, the page's "refresh now": every section read anew while the operator waits —
the cost of the page without the snapshot). Then the download of every community, CSV and XLSX.

trust-governance and notification get only what the page reads of them: the org tree (the
city, its districts, streets and communities) COPYed into trust-governance's table; no help
requests (notification's section is one empty summary).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import psutil
from linli_identity.testing import TestIssuer

from bench.pos_redeem import CpuMeter
from bench.stats import median, percentile
from linli_runtime.auth import Role
from linli_runtime.processes import free_port

CITY_KIND, DISTRICT_KIND, STREET_KIND, COMMUNITY_KIND = 1, 2, 3, 4  # linli.governance.v1.OrgUnitKind
SECTIONS = ("org", "rollout", "points", "help", "redemptions", "render")


def org_rows(city: str, paths: list[str]) -> list[tuple[object, ...]]:
    """gov_org_units rows for the city, every district and street on the way, and `paths`
    (communities: city/district/street/community)."""
    made = datetime(2024, 1, 1, tzinfo=UTC)
    rows: list[tuple[object, ...]] = [(city, None, CITY_KIND, "成都市", made)]
    seen: set[str] = set()
    for path in paths:
        _, district, street, community = path.split("/")
        for parent, unit, kind in ((city, f"{city}/{district}", DISTRICT_KIND),
                                   (f"{city}/{district}", f"{city}/{district}/{street}", STREET_KIND)):
            if unit not in seen:
                seen.add(unit)
                rows.append((unit, parent, kind, unit.rsplit("/", 1)[-1], made))
        rows.append((path, path.rsplit("/", 1)[0], COMMUNITY_KIND, f"社区 {community}", made))
    return rows


async def plant_org_tree(dsn: str, city: str, paths: list[str]) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        rows = org_rows(city, paths)
        await conn.copy_records_to_table("gov_org_units", records=rows, columns=[
            "path", "parent_path", "kind", "display_name", "created_at"])
        await conn.execute("ANALYZE gov_org_units")
        return len(rows)
    finally:
        await conn.close()


def start_portal(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m linli_portal.main` on a free port; its base URL once /healthz answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "linli_portal.main"],
                            env={**os.environ, **env, "PORT": str(port), "LINLI_LOG_LEVEL": "WARNING"},
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the portal did not start; see {log}")


def server_timing(header: str) -> dict[str, float]:
    """`org;dur=12.3, points;dur=…` → {"org": 0.0123, …} (seconds)."""
    out: dict[str, float] = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";dur=")
        if name and rest:
            out[name] = float(rest) / 1000
    return out


@dataclass
class PageRun:
    loads_s: list[float] = field(default_factory=list)  # each load's wall time
    sections: list[dict[str, float]] = field(default_factory=list)  # each load's Server-Timing
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU per load, by process group
    bytes: int = 0  # the page's size
    warm_up_s: float = 0.0  # the load before the first run (not counted)
    failed: list[str] = field(default_factory=list)  # loads that were not a whole page: why

    def p(self, q: float) -> float:
        return percentile(self.loads_s, q)

    def section(self, name: str) -> float:
        """The median of one section's time over the run's loads that timed it (an error page
        from the portal has no Server-Timing)."""
        return median([s[name] for s in self.sections if name in s])


def what_failed(reply: httpx.Response, expect_communities: int) -> str:
    """"" for the whole page; else why not (an error page, a section the portal could not read,
    communities missing). A failed load still counts with its time: the operator waited for it."""
    if reply.status_code != 200:
        start = reply.text.find('class="en"', reply.text.find("<p lang=\"en\""))
        return f"{reply.status_code} {reply.text[start:start + 120]}" if start > 0 else str(reply.status_code)
    if "部分数据暂不可用" in reply.text:
        start = reply.text.find("<li>", reply.text.find("部分数据暂不可用"))
        return reply.text[start + 4:reply.text.find("</ul>", start)].replace("</li><li>", "; ")[:200]
    if 'id="summing"' in reply.text:
        return "points and redemptions still being summed (no snapshot yet)"
    shown = f'data-communities="{expect_communities}"'  # the totals count every community of the city
    return "" if shown in reply.text else f"not {expect_communities} communities in the totals"


async def _loads(client: httpx.AsyncClient, target: str, token: str, run: PageRun, loads: int,
                 expect_communities: int, groups: dict[str, Callable[[], list[psutil.Process]]]) -> None:
    meter = CpuMeter(groups)
    meter.start()
    for _ in range(loads):
        t0 = time.perf_counter()
        reply = await client.get(target, headers={"Authorization": f"Bearer {token}"})
        run.loads_s.append(time.perf_counter() - t0)
        run.sections.append(server_timing(reply.headers.get("server-timing", "")))
        run.bytes = max(run.bytes, len(reply.content))
        if failed := what_failed(reply, expect_communities):
            run.failed.append(failed)
    meter.stop()
    run.cpu_s = {name: used / loads for name, used in meter.used.items()}


async def page_runs(url: str, issuer: TestIssuer, city: str, loads: int, runs: int, expect_communities: int,
                    groups: dict[str, Callable[[], list[psutil.Process]]]) -> tuple[list[PageRun], list[PageRun],
                                                                                    list[dict[str, float]]]:
    """`runs` runs of `loads` loads of the city page as opened, then `loads` live ones, one at a
    time, each run with a fresh operator token (the same one for a run's loads, as a signed-in
    browser sends it), then the two downloads: (opened runs, live runs, downloads' seconds and sizes)."""
    opened: list[PageRun] = []
    live: list[PageRun] = []
    downloads: list[dict[str, float]] = []
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        # One load first, not counted: the portal's channels and the services' pools open on it.
        token = issuer.issue("bench-operator", role=Role.CITY_OPERATOR, scope=city, name="基准 Bench")
        t0 = time.perf_counter()
        await client.get(f"/ops/{city}", headers={"Authorization": f"Bearer {token}"})
        warm_up = time.perf_counter() - t0
        for _ in range(runs):
            token = issuer.issue("bench-operator", role=Role.CITY_OPERATOR, scope=city, name="基准 Bench")
            run = PageRun(warm_up_s=warm_up)
            await _loads(client, f"/ops/{city}", token, run, loads, expect_communities, groups)
            opened.append(run)
            run = PageRun(warm_up_s=warm_up)
            await _loads(client, f"/ops/{city}?refresh=1", token, run, loads, expect_communities, groups)
            live.append(run)
            sizes: dict[str, float] = {}
            for kind in ("csv", "xlsx"):
                t0 = time.perf_counter()
                reply = await client.get(f"/ops/{city}/communities.{kind}",
                                         headers={"Authorization": f"Bearer {token}"})
                sizes[f"{kind}_s"], sizes[f"{kind}_bytes"] = time.perf_counter() - t0, len(reply.content)
                sizes[f"{kind}_rows"] = reply.content.count(b"\n") if kind == "csv" else 0
            downloads.append(sizes)
    return opened, live, downloads
