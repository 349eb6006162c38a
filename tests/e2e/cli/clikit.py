"""Driving the real `linli` CLI against the session's demo platform.

`run(...)` runs `linli` as a user would, in a process of its own (forked from one that has
already imported the CLI: `forked.py` says why), with the platform's `<SERVICE>_SERVICE_ADDR`,
POS edge and CA in its environment — TLS as under `make run` — and a config directory of the
test's own, and returns exit code, stdout and stderr. Setup that the CLI does not offer (a compound of the
test's own, backdated points) goes through the services' gRPC APIs, or — where no API can
do it — straight to a service's SQLite file, said so where it happens."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc

from linli.governance.v1 import org_pb2, org_pb2_grpc
from linli_runtime.auth import Role
from linli_runtime.testing.platform import DemoPlatform
from linli_runtime.testing.waiting import wait_until
from tests.e2e.cli import forked

LINLI = Path(sys.executable).parent / "linli"
FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
CHENGLONGLU = "chengdu/jinjiang/chenglonglu"
SHENGJIAN = "chengdu/chongzhou/longxing/longxing-community/shengjian"
T = TypeVar("T")


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    def failed_with(self, code: int, *fragments: str) -> bool:
        """Exit `code`, exactly one line on stderr starting `error: `, naming every fragment."""
        lines = self.err.strip().splitlines()
        assert self.code == code, (self.code, self.out, self.err)
        assert len(lines) == 1 and lines[0].startswith("error: "), self.err
        for fragment in fragments:
            assert fragment in lines[0], (fragment, lines[0])
        return True


class Cli:
    def __init__(self, platform: DemoPlatform, config_dir: Path) -> None:
        self.platform = platform
        self.config_dir = config_dir
        env = {k: v for k, v in os.environ.items() if k != "LINLI_TOKEN"}
        self.env = {**env, **platform.client_env, "LINLI_CONFIG_DIR": str(config_dir), "COLUMNS": "200"}

    def run(self, *args: str, token: str | None = None, env: dict[str, str] | None = None,
            config_dir: Path | None = None) -> Result:
        extra = {"LINLI_TOKEN": token} if token else {}
        if config_dir is not None:
            extra["LINLI_CONFIG_DIR"] = str(config_dir)
        code, out, err = forked.run(list(args), {**self.env, **extra, **(env or {})}, timeout=60)
        return Result(code, out, err)

    def refuse(self, cases: Sequence[tuple[int, Sequence[str], Sequence[str], str | None]]) -> None:
        """Run independent failing invocations side by side (each is its own process) and
        check each: (exit code, fragments of the one-line reason, arguments, token)."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda case: self.run(*case[2], token=case[3]), cases))
        for (code, fragments, args, _), result in zip(cases, results, strict=True):
            assert result.failed_with(code, *fragments), args

    def token(self, role: Role, scope: str, subject: str = "e2e-cli") -> str:
        """A person's token from the platform's issuer (signed in through its pages): `subject` is
        the test person's name; the token's `sub` is their account id."""
        return self.platform.token(role, scope, subject)

    @property
    def admin(self) -> str:
        return self.platform.token(Role.PLATFORM_ADMIN, "")

    def grpc(self, service: str, work: Callable[[grpc.aio.Channel], Awaitable[T]], token: str | None = None) -> T:
        """Setup through a service's public API, as a platform admin unless told otherwise."""

        async def go() -> T:
            async with self.platform.channel(service, token=token or self.admin) as channel:
                return await work(channel)

        return asyncio.run(go())

    def database(self, service: str) -> Path:
        return self.platform.var_dir / (service.replace("-", "_") + ".db")

    def new_community(self, parent: str = CHENGLONGLU) -> str:
        """A community of the test's own: created in trust-governance, as an operator would, and
        waited for until volunteer-points has learned it from governance's event (its table read
        straight from its SQLite file: no API lists the places a service knows)."""
        path = f"{parent}/{fresh('cli')}"

        async def create(channel: grpc.aio.Channel) -> None:
            await org_pb2_grpc.OrgServiceStub(channel).CreateOrgUnit(org_pb2.CreateOrgUnitRequest(
                parent_path=parent, slug=path.rsplit("/", 1)[-1], kind=org_pb2.ORG_UNIT_KIND_COMMUNITY,
                display_name="测试社区", request_id=uuid.uuid4().hex))

        self.grpc("trust-governance", create)

        def known() -> bool:
            with sqlite3.connect(self.database("volunteer-points")) as db:
                return db.execute("SELECT 1 FROM points_org_unit WHERE path = ?", (path,)).fetchone() is not None

        asyncio.run(wait_until(known, what=f"volunteer-points to learn {path}"))
        return path


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
