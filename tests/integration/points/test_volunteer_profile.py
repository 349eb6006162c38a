"""VolunteerService.GetVolunteerProfile, what a volunteer's own page shows: their family and its
other volunteers' names, their current teams, the family's pairings with the elder's name —
for the volunteer bound to the caller's account, or for the community's staff; another
volunteer's is NOT_SELF, another community's OUT_OF_SCOPE. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
from linli_identity.testing import TestIssuer

from linli.points.v1 import pairings_pb2 as par
from linli.points.v1 import volunteers_pb2 as vol

from .conftest import FENGSHU, Metadata, Stubs, bearer, expect_error


async def test_a_volunteer_reads_their_own_profile_and_nobody_elses(
        stubs: Stubs, as_worker: Metadata, as_volunteer: Callable[..., Awaitable[Metadata]],
        issuer: TestIssuer) -> None:
    s = stubs
    await s.volunteers.CreateFamily(vol.CreateFamilyRequest(family=vol.Family(
        community_path=FENGSHU, family_id="f-wan", display_name="万家")), metadata=as_worker)
    await s.volunteers.CreateTeam(vol.CreateTeamRequest(team=vol.Team(
        community_path=FENGSHU, team_id="little-maple-leaf", display_name="小枫叶志愿服务队")), metadata=as_worker)
    for vid, name in (("v-wan", "万志愿"), ("v-wan-son", "万小明"), ("v-li", "李志愿")):
        await s.volunteers.CreateVolunteer(vol.CreateVolunteerRequest(volunteer=vol.Volunteer(
            community_path=FENGSHU, volunteer_id=vid, display_name=name,
            family_id="f-wan" if vid.startswith("v-wan") else "")), metadata=as_worker)
    await s.volunteers.JoinTeam(vol.JoinTeamRequest(community_path=FENGSHU, team_id="little-maple-leaf",
                                                    volunteer_id="v-wan", join_date="2026-03-01"), metadata=as_worker)
    await s.pairings.CreateElder(par.CreateElderRequest(elder=par.Elder(
        community_path=FENGSHU, elder_id="e-zhang", display_name="张奶奶")), metadata=as_worker)
    await s.pairings.CreatePairing(par.CreatePairingRequest(pairing=par.Pairing(
        community_path=FENGSHU, pairing_id="p-wan-zhang", family_id="f-wan", elder_id="e-zhang",
        start_date="2026-04-01")), metadata=as_worker)
    wan = await as_volunteer("v-wan")
    li = await as_volunteer("v-li")

    def ask(volunteer_id: str, path: str = FENGSHU) -> vol.GetVolunteerProfileRequest:
        return vol.GetVolunteerProfileRequest(community_path=path, volunteer_id=volunteer_id)

    mine = (await s.volunteers.GetVolunteerProfile(ask("v-wan"), metadata=wan)).profile
    assert (mine.volunteer.display_name, mine.family.display_name) == ("万志愿", "万家")
    assert list(mine.family_member_names) == ["万小明"]
    assert [(t.team.display_name, t.membership.join_date) for t in mine.teams] == [("小枫叶志愿服务队", "2026-03-01")]
    assert [(p.pairing.pairing_id, p.elder_display_name, p.pairing.visits_required) for p in mine.pairings] == [
        ("p-wan-zhang", "张奶奶", 2)]
    # Without a family: no family, no pairings.
    alone = (await s.volunteers.GetVolunteerProfile(ask("v-li"), metadata=li)).profile
    assert not alone.HasField("family") and not alone.pairings and not alone.teams
    # Staff read anyone's of their community.
    assert (await s.volunteers.GetVolunteerProfile(ask("v-wan"), metadata=as_worker)).profile.family.family_id == \
        "f-wan"
    party = bearer(issuer.issue("party-1", role="party_committee", scope=FENGSHU))
    assert (await s.volunteers.GetVolunteerProfile(ask("v-li"), metadata=party)).profile.volunteer.volunteer_id == \
        "v-li"
    # Another volunteer's: refused, the same answer whether or not that volunteer exists.
    for other in ("v-wan", "v-nobody"):
        await expect_error(s.volunteers.GetVolunteerProfile(ask(other), metadata=li),
                           grpc.StatusCode.PERMISSION_DENIED, "NOT_SELF")
    elsewhere = "chengdu/chongzhou/longxing/longxing-community"
    await expect_error(s.volunteers.GetVolunteerProfile(ask("v-wan", elsewhere), metadata=wan),
                       grpc.StatusCode.PERMISSION_DENIED, "OUT_OF_SCOPE")
    resident = bearer(issuer.issue("acc-resident", role="resident", scope=f"{FENGSHU}/jinshang-chuntian"))
    await expect_error(s.volunteers.GetVolunteerProfile(ask("v-wan"), metadata=resident),
                       grpc.StatusCode.PERMISSION_DENIED)
    await expect_error(s.volunteers.GetVolunteerProfile(ask("v wan"), metadata=as_worker),
                       grpc.StatusCode.INVALID_ARGUMENT, field="volunteer_id")
    await expect_error(s.volunteers.GetVolunteerProfile(ask("v-nobody"), metadata=as_worker),
                       grpc.StatusCode.NOT_FOUND, "VOLUNTEER_NOT_FOUND")
