"""The shared demo data set (chengdu.toml), read by each service's demo seeder."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any


@cache
def load() -> dict[str, Any]:
    return tomllib.loads((resources.files(__package__) / "chengdu.toml").read_text(encoding="utf-8"))
