import os

import pytest

# The `linli` CLI speaks the locale's language (linli_cli.i18n): the suite reads its English
# whatever the machine's LANG, and the language tests (tests/*/cli/test_language.py) choose theirs.
os.environ["LINLI_LANG"] = "en"

pytest_plugins = ["linli_runtime.testing.fixtures", "linli_runtime.testing.platform", "linli_identity.testing"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `make test` spreads the suite over pytest-xdist workers. The slow tests each run a whole
    # cluster (3 NATS nodes, PostgreSQL, 2 replicas of every service); two of them at once on
    # 2 cores starve each other past their timeouts, so they share one xdist group and run one
    # after another on one worker while the other workers take the rest.
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.xdist_group("clusters"))
        # The session's demo platform (every service with demo data) starts inside the setup of
        # whichever test asks for it first; on busy cores that alone took 80-90 s of the test's
        # 120. Its start is bounded on its own (wait_until_serving, 60 s a service), so such
        # tests time their call only.
        if "demo_platform" in getattr(item, "fixturenames", ()) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(float(item.config.getini("timeout")), func_only=True))
