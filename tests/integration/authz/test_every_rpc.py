"""Authorisation over every RPC of every service, as a table (issue 12, acceptance item 1).

The RPCs are what the running servers serve (gRPC reflection on each service of the registry),
not a list kept here. For each RPC:

- no token, an expired one, one from another issuer, for another audience, `alg: none`, HS256
  signed with the issuer's public key, or signed by a key the JWKS does not hold →
  UNAUTHENTICATED;
- a POS terminal's credential → UNAUTHENTICATED (services that know no terminals) or
  PERMISSION_DENIED, everywhere but the POS API;
- a token of each role at a sibling of the place the request is about (`rpc_requests.py`:
  Fengshu, or the Shengjian compound), and of a street officer and a city operator at a sibling
  street and city → PERMISSION_DENIED or NOT_FOUND, never an answer.

Deliberately public RPCs (health, reflection) are `rpc_requests.PUBLIC`; RPCs about no place
(`rpc_requests.UNSCOPED`) skip the sibling rows. One platform serves the whole module
(conftest.py); each test walks its RPCs in a loop and reports every failing row at once.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import jwt
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from linli_identity.testing import TestIssuer

from linli_runtime.auth import MACHINE_ROLES, Role
from tests.integration.authz.conftest import Platform, grpc_services
from tests.integration.authz.rpc_requests import PUBLIC, UNSCOPED, requests

pytestmark = pytest.mark.xdist_group("authz-table")  # one platform, one worker

GRPC_SERVICES = grpc_services()
POS_API = "/linli.redemption.v1.PosService/"
REFUSED = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND}
# Every role a person can be granted (platform_admin included: granted at a sibling place, it
# rules that place only); `service` and `portal` come with machines' client credentials.
PERSON_ROLES = sorted(r.value for r in Role if r.value not in MACHINE_ROLES)


def rpcs(platform: Platform, service: str) -> Iterator[tuple[str, MethodDescriptor]]:
    """Every non-public RPC `service`'s server serves: (full method name, its descriptor)."""
    pool = descriptor_pool.Default()
    for name in platform.served(service):
        if any(f"/{name}/".startswith(prefix) for prefix in PUBLIC):
            continue
        for method in pool.FindServiceByName(name).methods:
            yield f"/{name}/{method.name}", method


def call(platform: Platform, service: str, method: MethodDescriptor, full: str, request: Message | None,
         metadata: tuple[tuple[str, str], ...]) -> tuple[grpc.StatusCode, Any]:
    """Call `full` with `request` (empty if None); (status, the answer or None). A streaming
    answer is read to its end: its status is the call's, its last message the answer."""
    request = request if request is not None else GetMessageClass(method.input_type)()
    reply_cls = GetMessageClass(method.output_type)
    channel = platform.channel(service)
    try:
        if method.server_streaming:
            messages = list(channel.unary_stream(full, request_serializer=lambda m: m.SerializeToString(),
                                                 response_deserializer=reply_cls.FromString)(
                request, metadata=metadata, timeout=30))
            return grpc.StatusCode.OK, messages[-1] if messages else None
        stub = channel.unary_unary(full, request_serializer=lambda m: m.SerializeToString(),
                                   response_deserializer=reply_cls.FromString)
        return grpc.StatusCode.OK, stub(request, metadata=metadata, timeout=30)
    except grpc.RpcError as error:
        return error.code(), None


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bad_credentials(issuer: TestIssuer) -> dict[str, tuple[tuple[str, str], ...]]:
    """Each flawed credential, for a platform admin (so only the flaw is wrong)."""
    def admin(**kwargs: Any) -> str:
        return issuer.issue("authz-admin", role=Role.PLATFORM_ADMIN, **kwargs)

    good = admin()
    claims = jwt.decode(good, options={"verify_signature": False})
    kid = jwt.get_unverified_header(good)["kid"]
    public_x = base64.urlsafe_b64decode(issuer.jwks()["keys"][0]["x"] + "==")
    unsigned = f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT', 'kid': kid}).encode())}." \
               f"{_b64(json.dumps(claims).encode())}."
    return {
        "no token": (),
        "expired": bearer(admin(now=time.time() - 3600, ttl_seconds=600)),
        "another issuer": bearer(admin(extra={"iss": "https://issuer.elsewhere.test"})),
        "another audience": bearer(admin(extra={"aud": "someone-else"})),
        "alg none": bearer(unsigned),
        "HS256 with the public key": bearer(jwt.encode(claims, public_x, algorithm="HS256", headers={"kid": kid})),
        "a key not in the JWKS": bearer(TestIssuer(issuer.url).issue("authz-admin", role=Role.PLATFORM_ADMIN)),
    }


BAD = ["no token", "expired", "another issuer", "another audience", "alg none", "HS256 with the public key",
       "a key not in the JWKS"]


def community_of(target: str) -> str:
    """The community a target lies in (city/district/street/community), or the target itself."""
    parts = target.split("/")
    return "/".join(parts[:4]) if len(parts) >= 4 else target


def sibling(target: str, level: int = 4) -> str:
    """A place beside the target's ancestor at `level` segments (4: its community, 2: its
    district's… street level, 1: its city) — never containing the target."""
    parts = (community_of(target) or "chengdu/jinjiang/chenglonglu/fengshu").split("/")[:level]
    return "/".join([*parts[:-1], f"authz-sibling-{level}"])


def test_every_rpc_served_has_a_request_and_every_request_an_rpc(platform: Platform) -> None:
    served = {full for service in GRPC_SERVICES for full, _ in rpcs(platform, service)}
    table = set(requests()) | set(UNSCOPED)
    assert served - table == set(), "RPCs served with no row in rpc_requests.py (add one)"
    assert table - served == set(), "rows in rpc_requests.py for RPCs no server serves"
    assert len(served) > 150, "the whole platform's API"


@pytest.mark.parametrize("flaw", BAD)
def test_a_flawed_credential_is_unauthenticated_on_every_rpc(platform: Platform, flaw: str) -> None:
    metadata = bad_credentials(platform.issuer)[flaw]
    failures = [f"{full}: {code.name}"
                for service in GRPC_SERVICES for full, method in rpcs(platform, service)
                if (code := call(platform, service, method, full, None, metadata)[0])
                != grpc.StatusCode.UNAUTHENTICATED]
    assert failures == []


def test_a_pos_terminal_reaches_the_pos_api_alone(platform: Platform) -> None:
    metadata = (("authorization", platform.terminal_authorization),)
    table = requests()
    failures, pos = [], 0
    for service in GRPC_SERVICES:
        for full, method in rpcs(platform, service):
            code, _ = call(platform, service, method, full, table[full].request if full in table else None,
                           metadata)
            if full.startswith(POS_API):
                pos += 1
                if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    failures.append(f"{full} (the POS API): {code.name}")
            elif code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                failures.append(f"{full}: {code.name}")
    assert failures == [] and pos == 8


SIBLINGS = [(role, 4) for role in PERSON_ROLES] + [(Role.STREET_OFFICER.value, 3), (Role.CITY_OPERATOR.value, 1)]


@pytest.mark.parametrize(("role", "level"), SIBLINGS, ids=[f"{r}@sibling-{lvl}" for r, lvl in SIBLINGS])
def test_every_role_at_a_sibling_place_gets_nothing(platform: Platform, role: str, level: int) -> None:
    failures = []
    rows = 0
    for service in GRPC_SERVICES:
        table = requests()
        for full, method in rpcs(platform, service):
            if full in UNSCOPED:
                continue
            row = table[full]
            place = sibling(row.target, level)
            code, answer = call(platform, service, method, full, row.request, bearer(platform.token(role, place)))
            rows += 1
            if code not in REFUSED:
                failures.append(f"{full} as {role}@{place}: {code.name}" + (f" {answer}"[:200] if answer else ""))
    assert failures == [] and rows > 150


def test_a_person_with_two_grants_acts_as_each_at_its_place_and_lists_by_them(platform: Platform) -> None:
    """community_worker at Fengshu and owners_committee at Jiangnanting, in one token."""
    from linli.governance.v1 import vote_pb2, vote_pb2_grpc
    from linli.notification.v1 import notification_pb2, notification_pb2_grpc
    from linli.points.v1 import volunteers_pb2, volunteers_pb2_grpc
    from tests.integration.authz.rpc_requests import FENGSHU, SHENGJIAN, rid, ts

    jiangnanting = "chengdu/chongzhou/huaiyuan/dingjiangqiao/jiangnanting"
    grants = [(Role.COMMUNITY_WORKER.value, FENGSHU), (Role.OWNERS_COMMITTEE.value, jiangnanting)]
    both = bearer(platform.issuer.issue(platform.person(*grants[0]), grants=grants))
    admin = bearer(platform.issuer.issue("authz-admin", role=Role.PLATFORM_ADMIN))
    volunteers = volunteers_pb2_grpc.VolunteerServiceStub(platform.channel("volunteer-points"))
    votes = vote_pb2_grpc.VoteServiceStub(platform.channel("trust-governance"))

    def vote(compound: str, md: tuple[tuple[str, str], ...]) -> str:
        return str(votes.CreateVote(vote_pb2.CreateVoteRequest(
            compound_path=compound, title="增设充电桩", matter=vote_pb2.VOTE_MATTER_OTHER, close_time=ts(7),
            request_id=rid()), metadata=md, timeout=15).vote.name)

    # As a community worker at Fengshu, as the owners' committee at Jiangnanting.
    volunteers.CreateVolunteer(volunteers_pb2.CreateVolunteerRequest(volunteer=volunteers_pb2.Volunteer(
        community_path=FENGSHU, volunteer_id="two-grants-v", display_name="双重")), metadata=both, timeout=15)
    ours = vote(jiangnanting, both)
    theirs = vote(SHENGJIAN, admin)
    # Each role only at its own place.
    with pytest.raises(grpc.RpcError) as refused:
        vote(SHENGJIAN, both)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as refused:
        volunteers.CreateVolunteer(volunteers_pb2.CreateVolunteerRequest(volunteer=volunteers_pb2.Volunteer(
            community_path="chengdu/chongzhou/huaiyuan/dingjiangqiao", volunteer_id="x", display_name="x")),
            metadata=both, timeout=15)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Lists over a wider place keep what the grants reach.
    listed = votes.ListVotes(vote_pb2.ListVotesRequest(path="chengdu/chongzhou", page_size=100), metadata=both,
                             timeout=15)
    names = {v.name for v in listed.votes}
    assert ours in names and theirs not in names
    assert all(v.compound_path == jiangnanting for v in listed.votes)
    everything = votes.ListVotes(vote_pb2.ListVotesRequest(path="chengdu/chongzhou", page_size=100),
                                 metadata=admin, timeout=15)
    assert {ours, theirs} <= {v.name for v in everything.votes}
    desk = notification_pb2_grpc.HelpRequestServiceStub(platform.channel("notification"))
    mine = desk.ListHelpRequests(notification_pb2.ListHelpRequestsRequest(parent="communities/-", page_size=100),
                                 metadata=both, timeout=15)
    assert mine.help_requests and {h.community_path for h in mine.help_requests} == {FENGSHU}
