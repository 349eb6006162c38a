"""`linli year close` given a street: the year is closed in every community below it
(AwardService.CloseYears, 100 communities a call, reported in path order); running it again
closes nothing new and says so, in the locale's language."""

from __future__ import annotations

import uuid

import grpc

from linli.governance.v1 import org_pb2, org_pb2_grpc
from linli_runtime.auth import Role
from tests.e2e.cli.clikit import Cli, fresh

JINJIANG = "chengdu/jinjiang"


def new_street(cli: Cli) -> str:
    slug = fresh("street")

    async def create(channel: grpc.aio.Channel) -> None:
        await org_pb2_grpc.OrgServiceStub(channel).CreateOrgUnit(org_pb2.CreateOrgUnitRequest(
            parent_path=JINJIANG, slug=slug, kind=org_pb2.ORG_UNIT_KIND_STREET, display_name="测试街道",
            request_id=uuid.uuid4().hex))

    cli.grpc("trust-governance", create)
    return f"{JINJIANG}/{slug}"


def test_a_street_closes_its_year_in_every_community(cli: Cli) -> None:
    street = new_street(cli)
    communities = sorted(cli.new_community(street) for _ in range(2))
    token = cli.token(Role.STREET_OFFICER, street)
    first = cli.run("year", "close", street, "--year", "2025", "--json", token=token)
    assert first.code == 0, first.err
    assert (first.json["path"], first.json["count"]) == (street, 2)
    assert [(c["community_path"], c["newly_closed"]) for c in first.json["communities"]] == [
        (communities[0], True), (communities[1], True)]
    chinese = {"LANG": "zh_CN.UTF-8", "LINLI_LANG": ""}
    again = cli.run("year", "close", street, "--year", "2025", token=token, env=chinese)
    assert again.code == 0 and "共 2 个社区，本次新结算 0 个" in again.out and "此前已结算" in again.out, again.out
    # each community on its own reports the same close
    one = cli.run("year", "close", communities[1], "--year", "2025", "--json", token=token).json
    assert one["newly_closed"] is False
    cli.refuse([(4, ["no community below"], ["year", "close", new_street(cli), "--year", "2025"], cli.admin),
                (4, ["does not exist"], ["year", "close", f"{street}-none", "--year", "2025"], cli.admin)])
