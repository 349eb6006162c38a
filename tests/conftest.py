import os

import pytest

# The `linli` CLI speaks the locale's language (linli_cli.i18n): the suite reads its English
# whatever the machine's LANG, and the language tests (tests/*/cli/test_language.py) choose theirs.
os.environ["LINLI_LANG"] = "en"

pytest_plugins = ["linli_runtime.testing.fixtures", "linli_runtime.testing.platform", "linli_identity.testing"]


# The slow tests each run a whole cluster or platform (NATS, PostgreSQL, every service). They run
# in two lanes (xdist groups, one worker each), so that at most two run at once on 2 cores while
# the third worker takes the rest; the lanes are balanced by the tests' measured times (under
# load ~12, one lane beside the other: lane 1 310 s — faults 218, the two cluster tests 58, the
# city bench 34; lane 2 281 s — backup 172, run-cluster 109 — and the busy-hour bench's smoke
# test, newer). A new slow test joins the first lane unless it is placed here.
SLOW_LANES = {
    "tests/e2e/deploy/test_platform_faults.py": "clusters-1",
    "tests/e2e/deploy/test_local_cluster.py": "clusters-1",
    "tests/integration/bench/test_city_smoke.py": "clusters-1",
    "tests/e2e/deploy/test_run_cluster_command.py": "clusters-2",
    "tests/e2e/runtime/test_backup_restore.py": "clusters-2",
    "tests/integration/bench/test_busy_hour_smoke.py": "clusters-2",
}


def pytest_configure(config: pytest.Config) -> None:
    # xdist hands out its groups largest first (by number of tests) unless told not to: the two
    # lanes could then both go to one worker, whichever came second in size. In collection order
    # instead, which puts the lanes first (below), each lane starts at once on a worker of its own.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the groups into the node ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `make test` spreads the suite over pytest-xdist workers (--dist loadgroup).
    lane: dict[pytest.Item, str] = {}
    for item in items:
        if item.get_closest_marker("slow") is not None:
            lane[item] = SLOW_LANES.get(item.nodeid.split("::")[0], "clusters-1")
            item.add_marker(pytest.mark.xdist_group(lane[item]))
        # The session's demo platform (every service with demo data) starts inside the setup of
        # whichever test asks for it first; on busy cores that alone took 80-90 s of the test's
        # 120. Its start is bounded on its own (wait_until_serving, 60 s a service), so such
        # tests time their call only.
        if "demo_platform" in getattr(item, "fixturenames", ()) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(float(item.config.getini("timeout")), func_only=True))
    # The longest tests first, lane by lane (a stable sort: everything else keeps its order).
    items.sort(key=lambda item: lane.get(item, "~"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under `--dist loadgroup`, xdist sends the tests of one group to one worker by the group's
    name it appends to their node ids (a worker's collection). pytest 9.2 ignores that, and the
    groups silently did nothing: a module-scoped fixture (the authz platform, the image's wheel)
    was set up once on every worker, and every slow test could run at once. Refuse to run so
    (a RuntimeError: xdist shows its message, where it drops a UsageError's)."""
    if not (hasattr(session.config, "workerinput") and session.config.getvalue("loadgroup")):
        return
    lost = [item.nodeid for item in session.items
            if item.get_closest_marker("xdist_group") is not None
            and "@" not in item.nodeid.rsplit("]", 1)[-1]]  # xdist's own reading of a node id
    if lost:
        raise RuntimeError(f"pytest-xdist's groups do not take with this pytest ({pytest.__version__}): "
                                f"{lost[0]} has an xdist_group mark but no @group in its node id")
