"""`linli help-requests`, `linli pos` (the public POS API with the demo terminal) and
`linli settlement show`."""

from __future__ import annotations

import uuid

from linli_runtime.auth import Role
from linli_runtime.testing.platform import subject_of
from tests.e2e.cli.clikit import FENGSHU, Cli

HEALTH = "jinchengyijing-health"
CHECK = f"merchants/{HEALTH}/rewards/blood-pressure-check"


def test_a_help_request_is_filed_listed_acknowledged_and_resolved(cli: Cli) -> None:
    token = cli.token(Role.COMMUNITY_WORKER, FENGSHU, subject="worker-cli")
    me = subject_of(token)  # the worker's account: who acknowledges is recorded by account
    marker = f"needs lunch today ({uuid.uuid4().hex[:6]})"
    filed = cli.run("help-requests", "file", FENGSHU, "--category", "meal", "--urgency", "high",
                    "--description", marker, "--on-behalf-of", "wan", "--json", token=token)
    assert filed.code == 0, filed.err
    name = filed.json["name"]
    assert name.startswith("communities/chengdu~jinjiang~chenglonglu~fengshu/helpRequests/")
    assert filed.json["status"] in ("submitted", "assigned") and filed.json["urgency"] == "high"

    listed = cli.run("help-requests", "list", FENGSHU, "--json", token=token).json["help_requests"]
    assert any(h["name"] == name and h["description"] == marker for h in listed)
    assert name.rsplit("/", 1)[-1] in cli.run("help-requests", "list", FENGSHU, token=token).out

    acked = cli.run("help-requests", "ack", name, "--json", token=token)
    assert acked.code == 0, acked.err
    assert acked.json["status"] == "acknowledged" and acked.json["assignee_id"] == me
    mine = cli.run("help-requests", "list", FENGSHU, "--assignee", me, "--status", "acknowledged",
                   "--json", token=token).json["help_requests"]
    assert [h["name"] for h in mine] == [name]

    resolved = cli.run("help-requests", "resolve", name, "--resolution", "lunch from 邻家小馆", "--helper", "v-001",
                       "--json", token=token)
    assert resolved.code == 0, resolved.err
    assert resolved.json["status"] == "resolved" and resolved.json["helper_ids"] == ["v-001"]
    assert [f["day_offset"] for f in resolved.json["follow_ups"]] == [1, 3, 7]
    # Acknowledging a resolved request is refused, and changes nothing.
    assert cli.run("help-requests", "ack", name, token=token).failed_with(1)
    assert cli.run("help-requests", "list", FENGSHU, "--status", "resolved", "--json", token=token).json[
        "help_requests"][0]["name"] == name


def test_help_request_commands_refuse_bad_arguments_and_other_scopes(cli: Cli) -> None:
    token = cli.token(Role.COMMUNITY_WORKER, FENGSHU, subject="worker-cli")
    before = cli.run("help-requests", "list", FENGSHU, "--limit", "0", "--json", token=token).json["count"]
    officer = cli.token(Role.STREET_OFFICER, "chengdu/chongzhou/longxing")
    missing = "communities/chengdu~jinjiang~chenglonglu~fengshu/helpRequests/h-0000000000000000"
    file = ["help-requests", "file", FENGSHU]
    cli.refuse([
        (2, ["--category"], [*file, "--category", "haircut", "--description", "x"], token),
        (2, ["help_request.description"], [*file, "--category", "meal", "--description", " "], token),
        (2, ["--description"], [*file, "--category", "meal"], token),
        (6, ["permission denied"], [*file, "--category", "meal", "--description", "x"], officer),
        (6, ["permission denied"], ["help-requests", "list", FENGSHU], officer),
        (2, ["ID"], ["help-requests", "ack", "h-1"], token),
        (4, ["not found"], ["help-requests", "ack", missing], token),
        (2, ["--resolution"], ["help-requests", "resolve", missing], token),
        (2, ["--status"], ["help-requests", "list", FENGSHU, "--status", "lost"], token),
    ])
    assert cli.run("help-requests", "list", FENGSHU, "--limit", "0", "--json", token=token).json["count"] == before


def test_pos_member_code_quote_and_redeem_at_the_demo_terminal(cli: Cli) -> None:
    operator = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    code = cli.run("pos", "member-code", "--volunteer", "v-040", "--json", token=operator)
    assert code.code == 0, code.err
    assert len(code.json["member_code"]) == 14 and code.json["member_code"].isdigit()

    quote = cli.run("pos", "quote", "--member-code", code.json["member_code"], "--reward", CHECK, "--json")
    assert quote.code == 0, quote.err  # the terminal's credential only: no operator token needed
    assert (quote.json["points"], quote.json["redeemable"]) == (10, True)
    available = quote.json["available_points"]

    request_id = f"cli-{uuid.uuid4().hex[:12]}"
    till = ("pos", "redeem", "--member-code", code.json["member_code"], "--request-id", request_id, "--json")
    first = cli.run(*till)
    assert first.code == 0, first.err
    assert first.json["redemption"]["state"] == "committed" and first.json["redemption"]["points"] == 10
    # The till retries after a lost reply: same member code (so the same member session at this
    # terminal) and the same request id — it gets the first redemption, charged once.
    again = cli.run(*till)
    assert again.code == 0, again.err
    assert again.json["redemption"]["name"] == first.json["redemption"]["name"]
    after = cli.run("pos", "quote", "--volunteer", "v-040", "--json", token=operator).json
    assert after["available_points"] == available - 10

    human = cli.run("pos", "redeem", "--volunteer", "v-040", token=operator)
    assert human.code == 0 and "redeemed: merchants/jinchengyijing-health/redemptions/" in human.out
    assert "blood-pressure-check" in cli.run("pos", "rewards").out


def test_pos_refusals_change_nothing(cli: Cli) -> None:
    operator = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    before = cli.run("pos", "quote", "--volunteer", "v-041", "--json", token=operator).json["available_points"]
    consultation = f"merchants/{HEALTH}/rewards/health-consultation"
    poor = cli.run("pos", "redeem", "--volunteer", "v-041", "--reward", consultation, "--quantity", "50",
                   token=operator)
    assert poor.failed_with(1, "INSUFFICIENT_POINTS")
    redeem = ["pos", "redeem", "--volunteer", "v-041"]
    cli.refuse([
        (3, ["terminal credential"], [*redeem, "--credential", "Terminal fengshu-demo-pos:wrong"], operator),
        (6, ["permission denied", "OTHER_MERCHANT"], [*redeem, "--reward", "merchants/other/rewards/x"], operator),
        (2, ["--reward"], [*redeem, "--reward", "blood-pressure-check"], operator),
        (2, ["not both"], [*redeem, "--member-code", "12345678901234"], operator),
        (2, ["--member-code"], ["pos", "quote", "--member-code", "1234"], None),
        (1, ["MEMBER_CODE_INVALID"], ["pos", "quote", "--member-code", "00000000000000"], None),
        (6, ["permission denied"], ["pos", "member-code", "--volunteer", "v-041"],
         cli.token(Role.STREET_OFFICER, "chengdu/chongzhou/longxing")),
        (3, ["linli login"], ["pos", "member-code", "--volunteer", "v-041"], None),
    ])
    assert cli.run("pos", "quote", "--volunteer", "v-041", "--json", token=operator).json["available_points"] == before


def test_settlement_show_reconciles_the_merchants_day_with_the_ledger(cli: Cli) -> None:
    operator = cli.token(Role.COMMUNITY_WORKER, FENGSHU)
    assert cli.run("pos", "redeem", "--volunteer", "v-042", token=operator).code == 0
    shown = cli.run("settlement", "show", HEALTH, "--json", token=operator)
    assert shown.code == 0, shown.err
    assert shown.json["redemption_count"] >= 1 and shown.json["redeemed_points"] >= 10
    assert shown.json["net_points"] == shown.json["redeemed_points"] - shown.json["refunded_points"]
    assert shown.json["reconciliation"]["balanced"] is True and shown.json["community_path"] == FENGSHU
    assert "balanced" in cli.run("settlement", "show", HEALTH, token=operator).out
    quiet = cli.run("settlement", "show", f"merchants/{HEALTH}", "--date", "2026-01-01", "--json", token=operator)
    assert (quiet.json["redemption_count"], quiet.json["net_points"]) == (0, 0)

    longxing = cli.token(Role.STREET_OFFICER, "chengdu/chongzhou/longxing")
    cli.refuse([
        (2, ["--date"], ["settlement", "show", HEALTH, "--date", "27/11/2026"], operator),
        (4, ["not found"], ["settlement", "show", "no-such-shop"], operator),
        (2, ["MERCHANT"], ["settlement", "show", "bad shop!"], operator),
        # Outside the token's scope a merchant is as unknown as one nobody registered (issue 16, defect 11).
        (4, ["not found"], ["settlement", "show", HEALTH], longxing),
    ])
