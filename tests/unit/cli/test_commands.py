"""The `linli` app in-process (typer's CliRunner): sign-in and the token store, `--json` on
every command, argument checks that fail before any call. No service runs or is called here (a
service that is down: tests/integration/cli); the end-to-end tests (tests/e2e/cli) drive the
real executable against the platform."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from linli_identity.testing import TestIssuer
from typer.testing import CliRunner

from linli_cli import app as linli_app
from linli_cli import roster, session
from linli_cli.output import enum_name, yuan
from linli_runtime.server import SERVER_OPTIONS

FENGSHU = "chengdu/jinjiang/chenglonglu/fengshu"
SHENGJIAN = "chengdu/chongzhou/longxing/longxing-community/shengjian"
SIGNED_IN_ENV_VARS = ("LINLI_TOKEN", "XDG_CONFIG_HOME", "LINLI_ISSUER_URL")


@pytest.fixture(autouse=True)
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in SIGNED_IN_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LINLI_CONFIG_DIR", str(tmp_path / "linli"))
    # Nothing listens here (and the unit tier refuses calls): no command may get as far as a call.
    for service in session.SERVICES:
        monkeypatch.setenv(service.upper().replace("-", "_") + "_SERVICE_ADDR", "127.0.0.1:9")
    yield tmp_path / "linli"


def linli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(linli_app.app, list(args), prog_name="linli")
    return result.exit_code, result.stdout, result.stderr


def one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def signed_in(issuer: TestIssuer, token: str, *, lapses_in: float = 600) -> Path:
    """What `linli login` stores after the device flow (no revocation endpoint: nothing to call)."""
    return session.store_session({"issuer": issuer.url, "client_id": session.CLI_CLIENT,
                                  "token_endpoint": f"{issuer.url}/oauth/token", "revocation_endpoint": "",
                                  "access_token": token, "refresh_token": "r-1", "expires_at": time.time() + lapses_in})


def test_the_stored_sign_in_is_private_and_whoami_shows_the_account_and_its_grants(config: Path,
                                                                                  issuer: TestIssuer) -> None:
    token = issuer.issue("acc_he", name="何书记", grants=[("community_worker", FENGSHU), ("volunteer", FENGSHU)])
    path = signed_in(issuer, token)
    assert path == config / "session.json" and stat.S_IMODE(path.stat().st_mode) == 0o600

    code, out, _ = linli("whoami", "--json")
    assert code == 0
    assert json.loads(out) | {"expires_at": "-"} == {
        "account": "accounts/acc_he", "subject": "acc_he", "name": "何书记", "kind": "person",
        "grants": [{"role": "community_worker", "scope": FENGSHU}, {"role": "volunteer", "scope": FENGSHU}],
        "issuer": issuer.url, "expires_at": "-", "expired": False, "source": str(path)}
    code, out, _ = linli("whoami")
    assert code == 0 and "何书记" in out and f"community_worker at {FENGSHU}" in out
    assert linli("whoami", "--access-token")[1].strip() == token  # for grpcurl and scripts

    code, out, _ = linli("logout", "--json")
    assert (code, json.loads(out)["removed"], json.loads(out)["revoked"]) == (0, True, False)
    assert not path.exists()
    code, _, err = linli("whoami")
    assert code == 3 and "run linli login" in one_line_error(err)


def test_a_token_in_linli_token_wins_over_the_stored_one(monkeypatch: pytest.MonkeyPatch, issuer: TestIssuer) -> None:
    signed_in(issuer, issuer.issue("acc_op", role="city_operator", scope="chengdu"))
    monkeypatch.setenv("LINLI_TOKEN", issuer.issue("acc_env", role="resident", scope=FENGSHU))
    who = json.loads(linli("whoami", "--json")[1])
    assert (who["subject"], who["source"]) == ("acc_env", "LINLI_TOKEN")


def test_the_default_scope_is_the_one_place_the_grants_are_for(issuer: TestIssuer) -> None:
    one = session.Identity("t", "x", session.read_claims(issuer.issue("a", role="community_worker", scope=FENGSHU)))
    assert one.scope == FENGSHU
    two = issuer.issue("a", grants=[("community_worker", FENGSHU), ("street_officer", "chengdu/jinjiang/chenglonglu")])
    assert session.Identity("t", "x", session.read_claims(two)).scope == ""


def test_an_expired_token_is_refused_before_any_call(issuer: TestIssuer) -> None:
    expired = issuer.issue("old", role="city_operator", scope="chengdu", ttl_seconds=60, now=time.time() - 600)
    code, _, err = linli("org", "rollup", "chengdu", "--token", expired)
    assert code == 3 and "expired at" in one_line_error(err)
    code, out, err = linli("whoami", "--json", "--token", expired)
    assert code == 3 and json.loads(out)["expired"] is True and "expired" in one_line_error(err)


def test_there_is_no_way_to_mint_a_token_here() -> None:
    code, _, err = linli("token", "issue", "--role", "city_operator")
    assert code == 2 and "token" in one_line_error(err)
    code, _, err = linli("login", "--role", "city_operator", "--scope", "chengdu")
    assert code == 2 and "--role" in one_line_error(err)


@pytest.mark.parametrize(("args", "fragment"), [
    (["org", "tree", "chengdu", "--depth", "9"], "--depth"),
    (["org", "rollup", "chengdu/Chong zhou"], "PATH"),
    (["compound", "budget", "chengdu/x", "--year", "1999"], "--year"),
    (["compound", "verify"], "PATH"),
    (["pairings", "short", FENGSHU, "--month", "2026-13"], "--month"),
    (["leaderboard", FENGSHU, "--by", "street"], "--by"),
    (["year", "close", FENGSHU], "--year"),
    (["roster", "import", FENGSHU, "/no/such/file.csv"], "does not exist"),
    (["help-requests", "file", FENGSHU, "--category", "haircut", "--description", "x"], "--category"),
    (["help-requests", "ack", "h-1"], "ID"),
    (["help-requests", "ack", "communities/x/helpRequests"], "ID"),
    (["help-requests", "ack", "h 1234"], "ID"),
    (["help-requests", "show", "h-1234", "--community", "成都"], "--community"),
    (["help-requests", "follow-up", "h-1234", "--note", "better", "--day", "0"], "--day"),
    (["help-requests", "thanks", "h-1234", "--text", "谢谢", "--kind", "flowers"], "--kind"),
    (["help-requests", "cancel", "h-1234"], "--reason"),
    (["help-requests", "list"], "COMMUNITY"),
    (["help-requests", "file", "--category", "meal", "--description", "x", "--compound", FENGSHU], "--compound"),
    (["votes", "create", SHENGJIAN, "--title", "t", "--matter", "budget", "--closes", "+7d"], "--budget"),
    (["votes", "create", SHENGJIAN, "--title", "t", "--matter", "other", "--closes", "+7d", "--budget", "2026"],
     "--budget"),
    (["votes", "create", SHENGJIAN, "--title", "t", "--matter", "vibes", "--closes", "+7d"], "--matter"),
    (["votes", "create", SHENGJIAN, "--title", "t", "--matter", "other", "--closes", "soon"], "--closes"),
    (["votes", "create", SHENGJIAN, "--title", "t", "--matter", "other", "--closes", "2020-01-01"], "--closes"),
    (["votes", "create", "--title", "t", "--matter", "other", "--closes", "+7d"], "COMPOUND"),
    (["votes", "list"], "PATH"),
    (["votes", "tally", "ab"], "VOTE"),
    (["votes", "tally", "compounds/x/ballots/1"], "VOTE"),
    (["votes", "tally", "abcd"], "--compound"),
    (["votes", "ballot", "abcd", "--choice", "for"], "--household"),
    (["votes", "ballot", "abcd", "--household", "b1/h101", "--choice", "maybe"], "--choice"),
    (["votes", "recount", "abcd", "--household", "b1/h101"], "--choice"),
    (["periods", "close", SHENGJIAN, "--period", "2026-13"], "--period"),
    (["periods", "close", SHENGJIAN], "--period"),
    (["periods", "close", "--period", "2026-10"], "COMPOUND"),
    (["periods", "verify"], "COMPOUND"),
    (["adjustments", "request", "--volunteer", "v-1", "--points", "200000", "--reason", "x"], "--points"),
    (["adjustments", "request", "--volunteer", "v-1", "--points", "5", "--reason", "x"], "--community"),
    (["adjustments", "approve", "adj-1"], "--community"),
    (["adjustments", "list", "--community", FENGSHU, "--state", "lost"], "--state"),
    (["duty", "now"], "COMMUNITY"),
    (["duty", "now", FENGSHU, "--at", "tomorrow"], "--at"),
    (["duty", "swap", FENGSHU, "--date", "1.1.2026", "--from", "a", "--to", "b"], "--date"),
    (["redemptions", "pending"], "COMMUNITY"),
    (["redemptions", "list", FENGSHU, "--state", "lost"], "--state"),
    (["redemptions", "list", FENGSHU, "--merchant", "bad shop!"], "--merchant"),
    (["help-requests", "list", FENGSHU, "--status", "lost"], "--status"),
    (["settlement", "show", "bad shop!"], "MERCHANT"),
    (["funding", "report"], "COMMUNITY"),
    (["funding", "report", "/"], "COMMUNITY"),
    (["projects", "list", FENGSHU, "--state", "lost"], "--state"),
    (["year", "certificate", FENGSHU, "--volunteer", "v-065"], "--year"),
    (["year", "certificate", FENGSHU, "--year", "2025"], "--volunteer"),
    (["settlement", "show", "jinchengyijing-health", "--date", "27.11.2026"], "--date"),
    (["pos", "quote", "--member-code", "1234"], "--member-code"),
    (["pos", "quote"], "--member-code"),
    (["pos", "redeem", "--member-code", "12345678901234", "--credential", "Bearer x"], "--credential"),
    (["pos", "redeem", "--member-code", "12345678901234", "--reward", "rewards/x"], "--reward"),
    (["pos", "redeem", "--quantity", "0"], "--quantity"),
    (["nonsense"], "nonsense"),
])
def test_bad_arguments_exit_2_with_one_line_naming_the_argument(args: list[str], fragment: str,
                                                                issuer: TestIssuer) -> None:
    signed_in(issuer, issuer.issue("acc_admin", role="platform_admin"))
    code, out, err = linli(*args)
    assert (code, out) == (2, "")
    assert fragment in one_line_error(err)


def test_roster_import_refuses_files_that_are_not_csv_or_xlsx(tmp_path: Path) -> None:
    (tmp_path / "roster.txt").write_text("volunteer_id,display_name\n")
    code, _, err = linli("roster", "import", FENGSHU, str(tmp_path / "roster.txt"), "--token", "x.y.z")
    assert code == 2 and ".csv or .xlsx" in one_line_error(err)


def test_a_roster_over_the_servers_message_limit_is_refused_before_it_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "roster.csv"
    with big.open("wb") as f:  # sparse: 50 MB on paper, nothing on disk
        f.truncate(50 * 1000 * 1000)

    def never(self: Path) -> bytes:
        raise AssertionError(f"{self} was read")

    monkeypatch.setattr(Path, "read_bytes", never)
    code, out, err = linli("roster", "import", FENGSHU, str(big), "--token", "x.y.z")
    assert (code, out) == (2, "")
    assert "roster.csv is 47.7 MiB" in one_line_error(err) and "8 MiB" in err
    at_limit = tmp_path / "roster.xlsx"
    with at_limit.open("wb") as f:
        f.truncate(roster.MAX_FILE_BYTES + 1)
    code, _, err = linli("roster", "import", FENGSHU, str(at_limit), "--token", "x.y.z")
    assert code == 2 and "roster.xlsx" in one_line_error(err)


def test_the_roster_limit_follows_the_servers_message_limit() -> None:
    limit = dict(SERVER_OPTIONS)["grpc.max_receive_message_length"]
    assert roster.SERVER_MESSAGE_LIMIT == limit
    assert limit - 8 * 1024 <= roster.MAX_FILE_BYTES < limit


def leaf_commands(command: object, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], object]]:
    children = getattr(command, "commands", None)
    if children is None:
        yield path, command
        return
    for name, child in children.items():
        yield from leaf_commands(child, (*path, name))


def test_every_command_takes_json_except_the_long_running_platform() -> None:
    leaves = [leaf for name in linli_app.COMMANDS for leaf in leaf_commands(linli_app.load(name), (name,))]
    assert len(leaves) >= 50
    for path, command in leaves:
        if path in {("platform", "run"), ("platform", "run-cluster")}:
            continue
        options = {opt for param in command.params for opt in param.opts}  # type: ignore[attr-defined]
        assert "--json" in options, path
        if path[0] not in ("login", "logout", "platform", "pos"):
            assert "--token" in options, path


def test_amounts_and_enum_names_render_for_people() -> None:
    assert (yuan(0), yuan(5), yuan(123456789), yuan(-120000)) == ("¥0.00", "¥0.05", "¥1,234,567.89", "-¥1,200.00")
    assert enum_name("ROLLOUT_STAGE_NOT_STARTED", "ROLLOUT_STAGE_") == "not_started"


def test_every_list_command_exports_to_csv_and_xlsx() -> None:
    lists = {("adjustments", "list"), ("compound", "budget"), ("compound", "disclosures"), ("dead-letters", "list"),
             ("duty", "shifts"), ("help-requests", "list"), ("leaderboard",), ("org", "tree"), ("org", "rollup"),
             ("pos", "rewards"), ("redemptions", "list"), ("redemptions", "pending"), ("volunteers", "list"),
             ("pairings", "short"), ("votes", "list"), ("compound", "fund"), ("funding", "report"),
             ("projects", "list"), ("households", "claims", "list")}
    leaves = dict(leaf for name in linli_app.COMMANDS for leaf in leaf_commands(linli_app.load(name), (name,)))
    for path in lists:
        options = {opt for param in leaves[path].params for opt in param.opts}  # type: ignore[attr-defined]
        assert {"--csv", "--xlsx"} <= options, path
    listing = [p for p in leaves if p[-1] in ("list", "short", "shifts", "pending", "tree", "rewards")]
    assert set(listing) <= lists, "a list command without --csv/--xlsx"
