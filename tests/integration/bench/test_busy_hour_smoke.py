"""bench.busy_hour at one short step (issue 18 item 5): the services start, the community is set
up, and every path of the busy hour — check-ins and the confirmation of a full activity, visits,
redeems, help requests — is called and answered without a refusal, so `make bench` does not find
a broken bench. The figures themselves are the bench's business, not this test's."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from linli_identity.testing import serve_test_issuer

from bench import busy_hour


@pytest.mark.slow  # nats-server and three service processes, as the bench runs them
async def test_every_path_of_a_busy_hour_is_answered(tmp_path: Path) -> None:
    # 4 × the city's 16 check-ins a second for 1 s fill one activity of 50: one confirmation.
    args = argparse.Namespace(steps=[4.0], seconds=1.0, p99_ms=1e9, sqlite=True)
    with serve_test_issuer() as issuer:
        run = await busy_hour.one_run(args, tmp_path, issuer)
    [step] = run.steps
    refused = {path: figures.first_errors for path, figures in step.paths.items() if figures.errors}
    assert set(step.paths) == set(busy_hour.CITY_RATES) and not refused, refused
    done = {path: len(figures.latencies) for path, figures in step.paths.items()}
    assert done["check-in"] == 64 and done["confirmation"] == 1, done
    assert all(done[path] >= 3 for path in ("visit", "redeem", "help request")), done
    assert run.echo_rate > 0 and step.cpu_per_second() > 0
