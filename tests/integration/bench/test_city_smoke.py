"""bench.city at a tiny scale (issue 18 item 5): the load, the close of every community through
CloseYears and the memory watch all run end to end, and what the bench reports adds up — every
community closed with its awards (1 gold, 2 silver, 3 bronze ranks: six or more, ties share
a rank), a peak measured for each process group — so `make bench` does not find a broken bench."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from linli_identity.testing import serve_test_issuer

from bench import city


@pytest.mark.slow  # its own PostgreSQL, nats-server and volunteer-points process, as the bench runs them
async def test_a_tiny_city_is_loaded_closed_and_measured(tmp_path: Path) -> None:
    args = argparse.Namespace(scale=0.0006, credits=2, close_concurrency=2, close_batch=2, profile=None,
                              reconcile_communities=2, history_days=5, redemptions_per_day=3, runs=2,
                              summary_sample=2, redemptions_sample=2, dashboard_redemptions=2,
                              page_loads=1, pg_statements=3)
    with serve_test_issuer() as issuer:
        result = await city.run(args, tmp_path, issuer)
    assert (result.communities, result.volunteers, result.transfers) == (3, 600, 1200)
    assert result.awards >= 3 * 6
    assert len(result.close_latencies) == 2  # two calls: 2 communities, then 1
    assert result.load_s > 0 and result.baseline_s > 0 and result.close_s > 0
    assert set(result.peaks) == {"volunteer-points", "postgresql", "bench (loader, client)"}
    assert all(0 < rss < city.GiB for rss, _pid in result.peaks.values())
    # A day of two clearing accounts read both ways, twice: the whole history (5 days of 3
    # redemptions, a hold and its post each) and the three days ReconcileDay reads now.
    # … and the third community's week of 2 redemptions a day, for the dashboard's redemptions.
    assert result.planted == 2 * 5 * 3 * 2 + 7 * 2 * 2
    assert [(run.history_rows, run.days_rows, len(run.days_s)) for run in result.reconcile] == [(60, 36, 2)] * 2
    assert [run.sample for run in result.summaries] == [2, 2] and all(run.summary_s > 0 for run in result.summaries)
    # The redemptions section: every community's week summed up (each day balanced: the bench
    # asserts it), next to the old calls for 2 communities, twice.
    assert result.redemption_rows == 2 * 5 * 3 + 7 * 2
    assert [run.sample for run in result.redemptions] == [2, 2] and all(
        run.summary_s > 0 and run.old_s > 0 for run in result.redemptions)
    # The whole city page through the portal, once a run after a load not counted, with the
    # portal's split of it, each a whole page (every community counted, no section missing):
    # as opened, the points and redemptions come from the snapshot the first load took (not
    # timed); live, every section is read.
    assert [len(run.loads_s) for run in result.pages] == [1, 1] == [len(run.loads_s) for run in result.live_pages]
    snapshot_kept = set(city.city_page.SECTIONS) - {"points", "redemptions"}
    assert all(set(run.sections[0]) == snapshot_kept and not run.failed for run in result.pages)
    assert all(set(run.sections[0]) == set(city.city_page.SECTIONS) and not run.failed for run in result.live_pages)
    # The downloads: a header and a line per community; a workbook.
    assert [(d["csv_rows"], d["xlsx_bytes"] > 0) for d in result.downloads] == [(4, True)] * 2
    assert "points" in result.statements  # pg_stat_statements over the page loads
