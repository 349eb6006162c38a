"""The shared demo data set (chengdu.toml), read by each service's demo seeder."""

from __future__ import annotations

import base64
import hashlib
import tomllib
from functools import cache
from importlib import resources
from typing import Any


@cache
def load() -> dict[str, Any]:
    return tomllib.loads((resources.files(__package__) / "chengdu.toml").read_text(encoding="utf-8"))


def demo_account_id(phone: str) -> str:
    """The account id of the demo person with `phone` (`acc_` + 20 base-32 characters, as the
    issuer's ids are): linli_identity.demo makes the account with it, and the other services'
    demo seeders bind their records to it (the Fengshu volunteer `v-001`, …) without asking the
    issuer — fixed, so every service's demo data agrees on who is who."""
    digest = base64.b32encode(hashlib.sha256(f"linli-demo:{phone}".encode()).digest()).decode()
    return "acc_" + digest[:20].lower()
