"""`linli login | whoami | logout`, token overrides, the org tree and roll-up, and the failures
every command shares (not signed in, expired or foreign token, out of scope, service down)."""

from __future__ import annotations

import stat
import time
from pathlib import Path

from linli_runtime.auth import Role, TokenSigner
from tests.e2e.cli.clikit import FENGSHU, SHENGJIAN, Cli


def test_login_stores_a_private_token_that_whoami_shows_and_logout_forgets(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "config"
    signed = cli.run("login", "--role", "community_worker", "--scope", FENGSHU, "--subject", "worker-he",
                     "--json", config_dir=home)
    assert signed.code == 0, signed.err
    assert signed.json["scope"] == FENGSHU and signed.json["role"] == "community_worker"
    token_file = home / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

    who = cli.run("whoami", "--json", config_dir=home)
    assert who.code == 0, who.err
    assert {k: who.json[k] for k in ("subject", "role", "scope", "expired", "source")} == {
        "subject": "worker-he", "role": "community_worker", "scope": FENGSHU, "expired": False,
        "source": str(token_file)}
    human = cli.run("whoami", config_dir=home)
    assert "worker-he" in human.out and FENGSHU in human.out

    # The stored token is what every command uses: a Fengshu worker lists Fengshu's volunteers.
    assert cli.run("volunteers", "list", FENGSHU, "--json", config_dir=home).json["count"] >= 72

    out = cli.run("logout", "--json", config_dir=home)
    assert out.code == 0 and out.json["removed"] is True and not token_file.exists()
    assert cli.run("whoami", config_dir=home).failed_with(3, "not signed in", "linli login")
    assert cli.run("org", "rollup", "chengdu/chongzhou", config_dir=home).failed_with(3, "run linli login")


def test_token_option_and_linli_token_override_the_stored_token(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "config"
    assert cli.run("login", "--role", "city_operator", "--scope", "chengdu/chongzhou", config_dir=home).code == 0
    fengshu = cli.token(Role.COMMUNITY_WORKER, FENGSHU, subject="from-env")
    by_env = cli.run("whoami", "--json", token=fengshu, config_dir=home)
    assert by_env.json["subject"] == "from-env" and by_env.json["source"] == "LINLI_TOKEN"
    by_option = cli.run("whoami", "--json", "--token", cli.token(Role.STREET_OFFICER, "chengdu/chongzhou", "opt"),
                        config_dir=home)
    assert by_option.json["subject"] == "opt" and by_option.json["source"] == "option"


def test_login_refuses_bad_arguments_and_keeps_the_previous_sign_in(cli: Cli, tmp_path: Path) -> None:
    home = tmp_path / "config"
    assert cli.run("login", "--role", "city_operator", "--scope", "chengdu", config_dir=home).code == 0
    before = (home / "token").read_text()
    assert cli.run("login", "--role", "mayor", "--scope", "chengdu", config_dir=home).failed_with(2, "--role")
    assert cli.run("login", "--role", "city_operator", "--scope", "chengdu/崇州", config_dir=home).failed_with(
        2, "--scope")
    assert cli.run("login", "--role", "city_operator", config_dir=home).failed_with(2, "--scope")
    assert (home / "token").read_text() == before


def test_expired_foreign_and_malformed_tokens_are_refused_with_exit_3(cli: Cli) -> None:
    expired = cli.platform.signer.issue("old", role=Role.CITY_OPERATOR, scope="chengdu", ttl_seconds=60,
                                        now=time.time() - 3600)
    assert cli.run("org", "rollup", "chengdu/chongzhou", token=expired).failed_with(3, "expired", "linli login")
    foreign = TokenSigner("some-other-platform-key-0123456789abcdef").issue("x", role="city_operator", scope="chengdu")
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
