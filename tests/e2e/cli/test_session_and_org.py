"""`linli login | whoami | logout` against the platform's issuer (the device flow, confirmed on
the issuer's page by a person signed in with phone + the development gateway's SMS code), token
overrides, the org tree and roll-up, and the failures every command shares (not signed in,
expired or foreign token, out of scope, service down)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import time
from pathlib import Path

import httpx
from linli_identity.testing import TestIssuer

from linli_runtime.auth import Role
from linli_runtime.testing.platform import subject_of
from linli_runtime.testing.signin import IssuerBrowser
from tests.e2e.cli.clikit import FENGSHU, LINLI, SHENGJIAN, Cli

USER_CODE = re.compile(r"confirm the code ([A-Z]{4}-[A-Z]{4})")


def login(cli: Cli, home: Path, phone: str) -> subprocess.CompletedProcess[str]:
    """`linli login --json` as a person does it: the CLI prints a code, the person confirms it on
    the issuer's page in a browser (signing in there with phone + SMS code), the CLI finishes."""
    proc = subprocess.Popen([str(LINLI), "login", "--json"], env={**cli.env, "LINLI_CONFIG_DIR": str(home)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    shown = ""
    try:
        while not (found := USER_CODE.search(shown)):
            line = proc.stderr.readline()
            assert line, f"linli login printed no code: {shown}"
            shown += line
        assert cli.platform.issuer_url + "/device" in shown
        browser = IssuerBrowser(cli.platform.issuer_url, cli.platform.issuer.sms_file)
        try:
            browser.sign_in(phone)
            browser.approve_device(found.group(1))
        finally:
            browser.close()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, shown + err)


def test_login_with_the_device_flow_stores_a_private_sign_in_that_logout_revokes(cli: Cli, tmp_path: Path) -> None:
    worker = cli.platform.person(Role.COMMUNITY_WORKER, FENGSHU, "李社工 e2e")
    home = tmp_path / "config"
    signed = login(cli, home, worker.phone)
    assert signed.returncode == 0, signed.stderr
    data = json.loads(signed.stdout)
    assert data["account"] == worker.account and data["name"] == "李社工 e2e"
    assert data["grants"] == [{"role": "community_worker", "scope": FENGSHU}]
    stored = home / "session.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600 and data["session_file"] == str(stored)
    session = json.loads(stored.read_text())
    assert session["issuer"] == cli.platform.issuer_url and session["refresh_token"]

    who = cli.run("whoami", "--json", config_dir=home)
    assert who.code == 0, who.err
    assert (who.json["account"], who.json["expired"], who.json["source"]) == (worker.account, False, str(stored))
    assert "李社工 e2e" in cli.run("whoami", config_dir=home).out
    # The stored sign-in is what every command uses: a Fengshu worker lists Fengshu's volunteers.
    assert cli.run("volunteers", "list", FENGSHU, "--json", config_dir=home).json["count"] >= 72

    out = cli.run("logout", "--json", config_dir=home)
    assert out.code == 0 and out.json["removed"] is True and out.json["revoked"] is True and not stored.exists()
    refreshed = httpx.post(f"{cli.platform.issuer_url}/oauth/token", data={
        "grant_type": "refresh_token", "client_id": "linli-cli", "refresh_token": session["refresh_token"]})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant", "revoked at the issuer"
    assert cli.run("whoami", config_dir=home).failed_with(3, "not signed in", "linli login")
    assert cli.run("org", "rollup", "chengdu/chongzhou", config_dir=home).failed_with(3, "run linli login")


def test_a_lapsed_access_token_is_renewed_with_the_refresh_token(cli: Cli, tmp_path: Path) -> None:
    operator = cli.platform.person(Role.CITY_OPERATOR, "chengdu/chongzhou", "崇州运营 e2e")
    browser = IssuerBrowser(cli.platform.issuer_url, cli.platform.issuer.sms_file)
    try:
        browser.sign_in(operator.phone)
        tokens = browser.device_tokens()
    finally:
        browser.close()
    home = tmp_path / "config"
    home.mkdir()
    stored = home / "session.json"
    stored.write_text(json.dumps({"issuer": cli.platform.issuer_url, "client_id": "linli-cli",
                                  "token_endpoint": f"{cli.platform.issuer_url}/oauth/token",
                                  "access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
                                  "expires_at": time.time() - 5}))  # as if it lapsed a moment ago
    rollup = cli.run("org", "rollup", "chengdu/chongzhou", "--json", config_dir=home)
    assert rollup.code == 0, rollup.err
    renewed = json.loads(stored.read_text())
    assert renewed["access_token"] != tokens.access_token and renewed["refresh_token"] != tokens.refresh_token
    assert renewed["expires_at"] > time.time() + 60 and stat.S_IMODE(stored.stat().st_mode) == 0o600


def test_token_option_and_linli_token_override_the_stored_token(cli: Cli, tmp_path: Path) -> None:
    fengshu = cli.token(Role.COMMUNITY_WORKER, FENGSHU, subject="from-env")
    by_env = cli.run("whoami", "--json", token=fengshu)
    assert by_env.json["subject"] == subject_of(fengshu) and by_env.json["source"] == "LINLI_TOKEN"
    officer = cli.token(Role.STREET_OFFICER, "chengdu/chongzhou/longxing", "opt")
    by_option = cli.run("whoami", "--json", "--token", officer)
    assert by_option.json["subject"] == subject_of(officer) and by_option.json["source"] == "option"


def test_expired_foreign_and_malformed_tokens_are_refused_with_exit_3(cli: Cli) -> None:
    # Tokens the platform's issuer never signed, one named after it: refused by the services.
    forger = TestIssuer(cli.platform.issuer_url)
    expired = forger.issue("old", role=Role.CITY_OPERATOR, scope="chengdu", ttl_seconds=60, now=time.time() - 3600)
    assert cli.run("org", "rollup", "chengdu/chongzhou", token=expired).failed_with(3, "expired", "linli login")
    foreign = forger.issue("x", role=Role.CITY_OPERATOR, scope="chengdu")
    assert cli.run("org", "rollup", "chengdu/chongzhou", token=foreign).failed_with(3, "linli login")
    assert cli.run("org", "rollup", "chengdu/chongzhou", token="not-a-jwt").failed_with(3, "linli login")


def test_org_tree_shows_the_city_down_to_its_compounds(cli: Cli) -> None:
    token = cli.token(Role.CITY_OPERATOR, "chengdu")
    tree = cli.run("org", "tree", "chengdu", "--json", token=token)
    assert tree.code == 0, tree.err
    districts = {c["path"]: c for c in tree.json["children"]}
    assert tree.json["display_name"] == "成都市" and "chengdu/chongzhou" in districts
    compounds = [u for s in districts["chengdu/chongzhou"]["children"] for c in s["children"] for u in c["children"]]
    assert len(compounds) == 17 and {u["kind"] for u in compounds} == {"compound"}
    assert {u["compound_type"] for u in compounds} == {"commercial", "resettlement"}

    human = cli.run("org", "tree", "chengdu/chongzhou", "--depth", "2", token=token)
    assert human.code == 0 and "崇州市" in human.out and "隆兴镇" in human.out and "生建小区" not in human.out
    # Without PATH: the token's own scope.
    assert cli.run("org", "tree", "--json", "--depth", "1", token=cli.token(Role.COMMUNITY_WORKER, FENGSHU)).json[
        "path"] == FENGSHU


def test_org_rollup_gives_chongzhous_headline_and_breakdowns(cli: Cli) -> None:
    token = cli.token(Role.CITY_OPERATOR, "chengdu/chongzhou")
    rollup = cli.run("org", "rollup", "chengdu/chongzhou", "--json", token=token)
    assert rollup.code == 0, rollup.err
    assert rollup.json["headline"] == "崇州市: 14 adopted, 3 importing"
    assert rollup.json["totals"] == {"importing": 3, "adopted": 14}
    assert sum(sum(g["counts"].values()) for g in rollup.json["by_street"]) == 17
    assert {g["key"] for g in rollup.json["by_compound_type"]} == {"commercial", "resettlement"}
    human = cli.run("org", "rollup", token=token)
    assert "崇州市: 14 adopted, 3 importing" in human.out and "chengdu/chongzhou/longxing" in human.out


def test_org_commands_refuse_out_of_scope_missing_and_malformed_paths(cli: Cli) -> None:
    fengshu_worker, admin = cli.token(Role.COMMUNITY_WORKER, FENGSHU), cli.admin
    cli.refuse([
        (6, ["permission denied"], ["org", "rollup", "chengdu/chongzhou"], fengshu_worker),
        (6, ["permission denied"], ["org", "tree", SHENGJIAN], fengshu_worker),
        (4, ["not found"], ["org", "tree", "chengdu/nowhere"], admin),
        (2, ["PATH"], ["org", "tree", "chengdu/崇州"], admin),
        (2, ["PATH"], ["org", "tree"], admin),  # the token reaches the whole platform: say where
        (2, ["--depth"], ["org", "tree", "chengdu", "--depth", "0"], admin),
        (2, ["nonsense"], ["org", "nonsense"], admin),
    ])


def test_a_service_that_is_down_is_named_with_its_address(cli: Cli) -> None:
    down = cli.run("org", "rollup", "chengdu", token=cli.admin, env={"TRUST_GOVERNANCE_SERVICE_ADDR": "127.0.0.1:9"})
    assert down.failed_with(5, "cannot reach trust-governance at 127.0.0.1:9", "make run")
