"""Demo accounts for `make run` (LINLI_DEMO_DATA=true): one person per kind of authority, with
grants at the places of the demo data set (chengdu.toml) — README "Accounts and sign-in" lists
them. Idempotent: an account whose phone exists is left as it is. Each has a fixed id
(`linli_runtime.demo.demo_account_id` of its phone), so the other services' demo data bind their
records to it: the Fengshu volunteer is volunteer `v-001` there (chengdu.toml, `demo_volunteer`).

They sign in like anyone: phone number, then the code the development SMS gateway writes to
var/identity-sms/codes.jsonl. No passwords exist anywhere. Never enable demo data in production.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from linli_identity.accounts import BOOTSTRAP, PERSON
from linli_identity.grants import Actor
from linli_runtime.auth import Role
from linli_runtime.demo import demo_account_id, load

JIANGNANTING = "chengdu/chongzhou/huaiyuan/dingjiangqiao/jiangnanting"
SHENGJIAN = "chengdu/chongzhou/longxing/longxing-community/shengjian"
JINSHANG = "chengdu/jinjiang/chenglonglu/fengshu/jinshang-chuntian"

# phone, display name, role, scope (a bare name: the demo data set's place of that name). The
# Fengshu workers are the notification service's demo duty roster (linli_notification.demo
# WORKER_PHONES): their shifts name these accounts.
PEOPLE: list[tuple[str, str, Role, str]] = [
    ("+8613800000000", "平台管理员 Platform admin", Role.PLATFORM_ADMIN, ""),
    ("+8613800000001", "成都市运营 Chengdu city operator", Role.CITY_OPERATOR, "chengdu"),
    ("+8613800000002", "成龙路街道干部 Chenglonglu street officer", Role.STREET_OFFICER,
     "chengdu/jinjiang/chenglonglu"),
    ("+8613800000003", "李社工 Fengshu worker Li (weekday duty)", Role.COMMUNITY_WORKER, "fengshu"),
    ("+8613800000004", "羊马街道信托监察人 Yangma trust supervisor", Role.TRUST_SUPERVISOR, "chengdu/chongzhou/yangma"),
    ("+8613800000005", "枫树志愿者 Fengshu volunteer (v-001)", Role.VOLUNTEER, "fengshu"),
    ("+8613800000006", "何书记 Fengshu head He", Role.COMMUNITY_WORKER, "fengshu"),
    ("+8613800000007", "赵社工 Fengshu worker Zhao (Saturday duty)", Role.COMMUNITY_WORKER, "fengshu"),
    ("+8613800000008", "江楠庭受托人记账员 Jiangnanting trustee's bookkeeper", Role.TRUSTEE, JIANGNANTING),
    ("+8613800000009", "江楠庭业委会委员 Jiangnanting owners' committee member", Role.OWNERS_COMMITTEE, JIANGNANTING),
    ("+8613800000010", "怀远镇信托监察人 Huaiyuan trust supervisor (Jiangnanting)", Role.TRUST_SUPERVISOR,
     "chengdu/chongzhou/huaiyuan"),
    ("+8613800000011", "枫树社区卫生服务中心 Fengshu merchant (jinchengyijing-health)", Role.MERCHANT, "fengshu"),
    # Residents (issue 13): owners bound to their units of the owners' register, a family member
    # the owner added, and Ms Wan at home in Jinshang Chuntian (governance's demo seeds the units).
    ("+8613800000012", "王女士 Shengjian owner Wang (1栋101室)", Role.RESIDENT, f"{SHENGJIAN}/b1/h101"),
    ("+8613800000013", "陈先生 Shengjian owner Chen (1栋102室)", Role.RESIDENT, f"{SHENGJIAN}/b1/h102"),
    ("+8613800000014", "王女士的女儿 Wang's daughter (family, 1栋101室)", Role.HOUSEHOLD_MEMBER,
     f"{SHENGJIAN}/b1/h101"),
    ("+8613800000015", "万阿姨 Ms Wan (锦尚春天3栋201室)", Role.RESIDENT, f"{JINSHANG}/b3/h201"),
    ("+8613800000016", "陈社工 Fengshu worker Chen (weekday evenings)", Role.COMMUNITY_WORKER, "fengshu"),
    ("+8613800000017", "孙社工 Fengshu worker Sun (Sunday duty)", Role.COMMUNITY_WORKER, "fengshu"),
]


# An owner who asked, on the portal, to be bound to his flat: a pending household claim that the
# Fengshu workers see at /me/claims/review with the register's entry beside it.
CLAIMANTS: list[tuple[str, str, str, str, str]] = [
    ("+8613800000018", "刘先生 Jinshang owner Liu (asks for 3栋202室)", f"{JINSHANG}/b3/h202", "刘先生",
     "房产证 锦尚春天3-202 certificate no."),
]


def _place(scope: str) -> str:
    data = load()
    return str(data[scope]["path"]) if scope in data and isinstance(data[scope], dict) else scope


async def seed(app: Any) -> None:
    """`app` is the IdentityApp (its db, accounts and grants). A replica seeding at the same
    moment may win the race for a phone number; then the seed looks again and finds it done."""
    try:
        await _seed(app)
    except IntegrityError:
        await _seed(app)


async def _seed(app: Any) -> None:
    async with app.db.transaction() as session:
        admin_id = ""
        for phone, name, role, scope in PEOPLE:
            account = await app.accounts.by_phone(session, phone)
            if account is not None:
                admin_id = admin_id or account.id
                continue
            account = await app.accounts.create(session, display_name=name, phone=phone, kind=PERSON,
                                                created_by=BOOTSTRAP, reason="demo data",
                                                account_id=demo_account_id(phone))
            if role is Role.PLATFORM_ADMIN:
                admin_id = account.id
            # Demo grants are recorded as given by the demo platform admin (the bootstrap for the admin).
            await app.grants.record(session, account_id=account.id, role=role, scope=_place(scope),
                                     by=admin_id or BOOTSTRAP, reason="demo data")
        for phone, name, unit, register_name, note in CLAIMANTS:
            if await app.accounts.by_phone(session, phone) is not None:
                continue
            account = await app.accounts.create(session, display_name=name, phone=phone, kind=PERSON,
                                                created_by=BOOTSTRAP, reason="demo data",
                                                account_id=demo_account_id(phone))
            await app.household_claims.create(session, actor=Actor(account.id, ()), household_path=unit,
                                              register_name=register_name, note=note)
