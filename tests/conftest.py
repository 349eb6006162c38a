import pytest

pytest_plugins = ["linli_runtime.testing.fixtures", "linli_runtime.testing.platform"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `make test` spreads the suite over pytest-xdist workers. The slow tests each run a whole
    # cluster (3 NATS nodes, PostgreSQL, 2 replicas of every service); two of them at once on
    # 2 cores starve each other past their timeouts, so they share one xdist group and run one
    # after another on one worker while the other workers take the rest.
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.xdist_group("clusters"))
