"""Ms Wan's story (DOMAIN.md §3) from `linli` alone: the canteen files a help request for her
with her contact, it goes to the worker on duty, who acknowledges it, starts, resolves it with
a meal from the restaurant, follows up and records the silk banner — no gRPC in the test.
Then the duty roster commands, and the refusals every help-request command shares."""

from __future__ import annotations

import asyncio
import uuid

from linli_notification.demo import WORKER_LI, WORKER_SUN, WORKER_ZHAO

from linli_runtime.auth import Role
from linli_runtime.testing.platform import subject_of
from linli_runtime.testing.waiting import wait_until
from tests.e2e.cli.clikit import FENGSHU, Cli, fresh

JINSHANG = f"{FENGSHU}/jinshang-chuntian"
CHINA_OFFSET = "+08:00"


def on_duty(cli: Cli, token: str) -> str:
    now = cli.run("duty", "now", "--json", token=token)
    assert now.code == 0, now.err
    assert now.json["community_path"] == FENGSHU and now.json["time"].endswith(CHINA_OFFSET)
    return str(now.json["worker_id"] or now.json["head_id"])  # nobody rostered: the head takes it


def test_ms_wans_saturday_from_the_canteen_to_the_silk_banner(cli: Cli) -> None:
    office = cli.token(Role.COMMUNITY_WORKER, FENGSHU, subject="worker-he")
    before = on_duty(cli, office)

    # 枫香小厨's staff hold a token for Ms Wan's compound only: the request goes to her compound.
    canteen = cli.token(Role.RESIDENT, JINSHANG, subject="canteen-staff-liu")
    marker = f"生病卧床，无法出门买饭 ({uuid.uuid4().hex[:6]})"
    filed = cli.run("help-requests", "file", "--category", "meal", "--urgency", "high",
                    "--reporter-role", "canteen_staff", "--on-behalf-of", "万阿姨", "--contact", "138-0000-0000",
                    "--description", marker, "--json", token=canteen)
    assert filed.code == 0, filed.err
    request = filed.json
    ident = request["id"]
    assert request["name"] == f"communities/{FENGSHU.replace('/', '~')}/helpRequests/{ident}"
    assert (request["compound_path"], request["on_behalf_of"], request["contact"]) == (
        JINSHANG, "万阿姨", "138-0000-0000")
    assert request["reporter_role"] == "canteen_staff" and request["create_time"].endswith(CHINA_OFFSET)
    # Routed to whoever is on duty now (weekends and nights included: then the head).
    duty = request["assignee_id"]
    assert duty in {before, on_duty(cli, office)}, (duty, before)
    assert request["status"] == "assigned"
    assert {s["display_name"] for s in request["suggestions"]} <= {"枫香小厨", "邻家小馆"}

    # The duty worker sees who needs help and how to reach them, and the id the commands take.
    # Whoever acts is recorded by account (the token's `sub`); the roster still routes by its ids.
    worker = cli.token(Role.COMMUNITY_WORKER, FENGSHU, subject=duty)
    me = subject_of(worker)
    mine = cli.run("help-requests", "list", "--assignee", duty, "--status", "assigned", "--json", token=worker)
    assert mine.code == 0, mine.err
    listed = next(h for h in mine.json["help_requests"] if h["id"] == ident)
    assert (listed["on_behalf_of"], listed["contact"], listed["compound_path"]) == ("万阿姨", "138-0000-0000", JINSHANG)
    table = cli.run("help-requests", "list", "--assignee", duty, "--status", "assigned", token=worker).out
    assert ident in table and "万阿姨, 138-0000-0000, jinshang-chuntian" in table

    short = ident[:8]  # a unique beginning of the id, within the worker's community
    acked = cli.run("help-requests", "ack", short, "--json", token=worker)
    assert acked.code == 0, acked.err
    assert (acked.json["id"], acked.json["status"], acked.json["assignee_id"]) == (ident, "acknowledged", me)
    started = cli.run("help-requests", "start", ident, "--note", "枫香小厨周六不开，从邻家小馆订餐", "--json",
                      token=worker)
    assert started.code == 0 and started.json["status"] == "in_progress", started.err
    resolved = cli.run("help-requests", "resolve", ident, "--resolution", "邻家小馆的饭菜已由志愿者送到家",
                       "--helper", "v-001", "--json", token=worker)
    assert resolved.code == 0, resolved.err
    assert resolved.json["status"] == "resolved" and resolved.json["helper_ids"] == ["v-001"]
    assert [f["day_offset"] for f in resolved.json["follow_ups"]] == [1, 3, 7]
    assert all(f["due_time"].endswith(CHINA_OFFSET) for f in resolved.json["follow_ups"])

    # The day-1 follow-up is due tomorrow: done today, it needs a reason.
    too_soon = cli.run("help-requests", "follow-up", ident, "--note", "精神好多了，能下床了", token=worker)
    assert too_soon.failed_with(1, "FOLLOW_UP_NOT_DUE", "--early-reason")
    followed = cli.run("help-requests", "follow-up", ident, "--note", "精神好多了，能下床了", "--early-reason",
                       "她打电话来说想当面道谢", "--json", token=worker)
    assert followed.code == 0, followed.err
    first = followed.json["follow_ups"][0]
    assert (first["done"], first["done_by"], first["note"], first["early_reason"]) == (
        True, me, "精神好多了，能下床了", "她打电话来说想当面道谢")
    thanked = cli.run("help-requests", "thanks", ident, "--kind", "banner", "--text", "排忧解难办实事 服务居民暖人心",
                      "--from", "万阿姨", "--to", duty, "--to", "v-001", "--json", token=worker)
    assert thanked.code == 0, thanked.err
    assert thanked.json["thanks"][0] | {"record_time": "-"} == {
        "kind": "banner", "text": "排忧解难办实事 服务居民暖人心", "from": "万阿姨", "recipient_ids": [duty, "v-001"],
        "record_time": "-", "recorded_by": me}

    # Whoever filed it may follow it with their compound token: the whole story, in China time.
    shown = cli.run("help-requests", "show", ident, "--json", token=canteen)
    assert shown.code == 0, shown.err
    story = [(c["to_status"], c["actor_id"]) for c in shown.json["history"]]
    assert story[:2] == [("submitted", subject_of(canteen)), ("assigned", "system")]
    assert [s for s, _ in story[2:]] == ["acknowledged", "in_progress", "resolved", "followed_up"]
    assert all(c["change_time"].endswith(CHINA_OFFSET) for c in shown.json["history"])
    human = cli.run("help-requests", "show", short, token=worker).out
    assert "万阿姨, 138-0000-0000, jinshang-chuntian" in human and "thanks (banner) from 万阿姨" in human

    closed = cli.run("help-requests", "close", short, "--note", "已康复", "--json", token=worker)
    assert closed.code == 0 and closed.json["status"] == "closed", closed.err


def test_the_canteen_cancels_what_it_filed_with_its_compound_token(cli: Cli) -> None:
    canteen = cli.token(Role.RESIDENT, JINSHANG, subject=fresh("canteen"))
    filed = cli.run("help-requests", "file", "--category", "errand", "--description", "取药", "--reporter-role",
                    "canteen_staff", "--json", token=canteen)
    assert filed.code == 0 and filed.json["compound_path"] == JINSHANG, filed.err
    cancelled = cli.run("help-requests", "cancel", filed.json["id"], "--reason", "邻居已帮忙取回", "--json",
                        token=canteen)
    assert cancelled.code == 0 and cancelled.json["status"] == "cancelled", cancelled.err
    other = cli.token(Role.RESIDENT, JINSHANG, subject=fresh("neighbour"))
    assert cli.run("help-requests", "cancel", filed.json["id"], "--reason", "x", token=other).failed_with(6)


def test_a_worker_files_in_the_tokens_community_and_cancels_by_id(cli: Cli) -> None:
    worker = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    own = cli.run("help-requests", "file", "--category", "repair", "--description", "楼道灯不亮", "--json",
                  token=worker)
    assert own.code == 0 and own.json["community_path"] == FENGSHU and own.json["compound_path"] == "", own.err
    cancelled = cli.run("help-requests", "cancel", own.json["id"], "--reason", "物业已修好", "--json", token=worker)
    assert cancelled.code == 0 and cancelled.json["status"] == "cancelled", cancelled.err
    assert cli.run("help-requests", "start", own.json["id"], token=worker).failed_with(1)


def test_duty_shifts_and_a_swap_that_changes_who_is_on_duty(cli: Cli) -> None:
    worker = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    shifts = cli.run("duty", "shifts", FENGSHU, "--json", token=worker)
    assert shifts.code == 0, shifts.err
    saturday = next(s for s in shifts.json["duty_shifts"] if s["weekday"] == 6)
    assert (saturday["worker_id"], saturday["backup_id"], saturday["start_time"]) == (WORKER_ZHAO, WORKER_SUN,
                                                                                      "00:00")
    assert "Saturday" in cli.run("duty", "shifts", token=worker).out

    # 2099-11-07 is a Saturday: Zhao's day, until a swap gives it to a stand-in — worker Li, named
    # by her phone number (looked up in the identity service) as an operator knows her.
    at = "2099-11-07 11:00"

    def on_duty_then() -> bool:  # once notification has learned identity's demo grants (its events)
        return bool(cli.run("duty", "now", "--at", at, "--json", token=worker).json["worker_id"] == WORKER_ZHAO)

    asyncio.run(wait_until(on_duty_then, timeout=30, interval=0.5, what="Zhao on duty on a Saturday"))
    swapped = cli.run("duty", "swap", "--date", "2099-11-07", "--from", f"accounts/{WORKER_ZHAO}", "--to",
                      "+86 138 0000 0003", "--json", token=worker)
    assert swapped.code == 0, swapped.err
    assert swapped.json["to_worker_id"] == WORKER_LI
    now = cli.run("duty", "now", "--at", at, "--json", token=worker).json
    assert (now["worker_id"], now["time"]) == (WORKER_LI, "2099-11-07T11:00:00+08:00")
    assert WORKER_LI in cli.run("duty", "now", FENGSHU, "--at", at, token=worker).out
    # Only the community's workers stand in: someone with no worker grant there, or no account.
    cli.refuse([
        (1, ["community_worker"], ["duty", "swap", "--date", "2099-11-14", "--from", WORKER_ZHAO, "--to",
                                   fresh("acc_nobody")], worker),
        (2, ["no account has the phone number +8613899999999"], ["duty", "swap", "--date", "2099-11-14", "--from",
                                                                 WORKER_ZHAO, "--to", "13899999999"], worker),
    ])


def test_help_request_and_duty_refusals_have_their_exit_codes(cli: Cli) -> None:
    worker = cli.token(Role.COMMUNITY_WORKER, FENGSHU, subject="worker-li")
    filed = cli.run("help-requests", "file", FENGSHU, "--category", "meal", "--description", "x", "--json",
                    token=worker).json
    officer = cli.token(Role.STREET_OFFICER, "chengdu/chongzhou/longxing")
    elsewhere = cli.token(Role.COMMUNITY_WORKER, "chengdu/chongzhou/longxing/longxing-community")
    city = cli.token(Role.CITY_OPERATOR, "chengdu")
    cli.refuse([
        (4, ["not found", "h-ffff"], ["help-requests", "ack", "h-ffff"], worker),
        (4, ["not found"], ["help-requests", "show", "h-0000000000000000"], worker),
        (2, ["ID"], ["help-requests", "ack", "h-1"], worker),
        (6, ["permission denied"], ["help-requests", "ack", filed["name"]], officer),
        (6, ["permission denied"], ["help-requests", "show", filed["id"], "--community", FENGSHU], elsewhere),
        (6, ["permission denied"], ["help-requests", "list", FENGSHU], elsewhere),
        (3, ["linli login"], ["help-requests", "start", filed["id"], "--community", FENGSHU], None),
        (2, ["COMMUNITY", "reaches chengdu"], ["help-requests", "list"], city),
        (2, ["--reason"], ["help-requests", "cancel", filed["id"]], worker),
        (1, ["no follow-ups"], ["help-requests", "follow-up", filed["id"], "--note", "ok"], worker),
        (6, ["permission denied"], ["duty", "now", FENGSHU], officer),
        (6, ["permission denied"], ["duty", "swap", FENGSHU, "--date", "2099-11-08", "--from", "a", "--to", "b"],
         officer),
        (2, ["--at"], ["duty", "now", "--at", "soon"], worker),
        (2, ["COMMUNITY"], ["duty", "shifts"], city),
    ])
    # A city operator reaches Fengshu: the id is found across its scope.
    assert cli.run("help-requests", "show", filed["id"], "--json", token=city).json["id"] == filed["id"]
