"""The demo people are bound to the other services' demo records by fixed account ids: the
identity service's demo data and the shared data set (chengdu.toml) must agree on who is who."""

from __future__ import annotations

from linli_identity.demo import PEOPLE
from linli_identity.names import ACCOUNT_ID

from linli_runtime.auth import Role
from linli_runtime.demo import demo_account_id, load


def test_every_demo_person_has_a_fixed_issuer_shaped_id_of_their_own() -> None:
    ids = [demo_account_id(phone) for phone, *_ in PEOPLE]
    assert all(ACCOUNT_ID.match(i) for i in ids) and len(set(ids)) == len(ids)
    assert demo_account_id(PEOPLE[0][0]) == ids[0], "the same phone gives the same id every time"


def test_the_demo_volunteer_of_the_data_set_is_a_fengshu_volunteer_of_the_identity_demo() -> None:
    person = load()["fengshu"]["demo_volunteer"]
    [(role, scope)] = [(role, scope) for phone, _, role, scope in PEOPLE if phone == person["phone"]]
    assert (role, scope) == (Role.VOLUNTEER, "fengshu") and person["volunteer_id"] == "v-001"


def test_the_demo_duty_roster_names_fengshu_workers_of_the_identity_demo() -> None:
    """Notification's demo roster names accounts (issue 12): each is a demo person holding a
    community_worker grant in Fengshu, so the roster's requests reach an inbox someone reads."""
    from linli_notification import demo as roster

    workers = {demo_account_id(phone) for phone, _, role, scope in PEOPLE
               if role is Role.COMMUNITY_WORKER and scope == "fengshu"}
    rostered = {worker for *_, worker, backup in roster.SHIFTS for worker in (worker, backup)} | {roster.HEAD}
    assert rostered <= workers and set(roster.WORKERS) <= workers
