"""The `cli` fixture: the real `linli` executable pointed at the session's demo platform."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from linli_runtime.testing.platform import DemoPlatform
from tests.e2e.cli.clikit import Cli


@pytest.fixture(scope="module")
def cli(demo_platform: DemoPlatform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    yield Cli(demo_platform, tmp_path_factory.mktemp("linli-config"))
