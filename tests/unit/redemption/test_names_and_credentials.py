"""Resource names and the ids inside them, masking, page tokens and the terminal credential
header."""

from __future__ import annotations

from datetime import timedelta

import pytest
from linli_redemption import names
from linli_redemption.members import mask_name
from linli_redemption.settings import RedemptionSettings
from linli_redemption.terminal_cache import TerminalCache, secret_digest
from linli_redemption.terminal_secrets import SecretMaker, request_key
from linli_redemption.terminals import TerminalAuthenticator, hash_secret, new_secret, terminal_principal
from pydantic import ValidationError

from linli_runtime import paging, times
from linli_runtime.errors import InvalidArgument, Unauthenticated


def test_parse_name_returns_the_ids_and_refuses_other_shapes() -> None:
    assert names.parse("reward", "merchants/a-1/rewards/b", "merchants", "rewards") == ["a-1", "b"]
    assert names.parse_reward("reward", "merchants/a-1/rewards/b") == ("a-1", "b")
    for bad in ["", "merchants/a", "merchant/a/rewards/b", "merchants/a/rewards/b/c", "merchants/a b/rewards/c",
                "merchants//rewards/b", f"merchants/{'x' * 65}/rewards/b"]:
        with pytest.raises(InvalidArgument) as refused:
            names.parse_reward("reward", bad)
        assert [v.field for v in refused.value.violations] == ["reward"]


def test_names_are_built_as_they_are_parsed() -> None:
    assert names.parse_redemption("name", names.redemption_name("m", "r-1")) == ("m", "r-1")
    assert names.parse_terminal("name", names.terminal_name("m", "till")) == ("m", "till")
    assert names.parse_partner("name", names.partner_name("p")) == "p"
    assert names.refund_name("m", "r-1", "rf-2") == "merchants/m/redemptions/r-1/refunds/rf-2"


def test_operator_chosen_ids_keep_the_service_s_stricter_rule_and_request_ids_the_shared_one() -> None:
    assert names.slug("reward_id", "flu-vaccine-2") == "flu-vaccine-2"
    for bad in ["", "-x", "Upper", "under_score", "x" * 41]:
        with pytest.raises(InvalidArgument):
            names.slug("reward_id", bad)
    assert not hasattr(names, "request_id")  # one rule across services: linli_runtime.fields.request_id


MASKS = [("王秀英", "王*英"), ("李四", "李*"), ("欧阳建国", "欧**国"), ("A", "A*")]


@pytest.mark.parametrize(("name", "masked"), MASKS)
def test_names_are_masked_for_the_till(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_page_tokens_round_trip_and_garbage_or_another_list_s_is_refused() -> None:
    kind = "ListRewards:jinchengyijing-health"
    assert paging.decode_token(kind, paging.encode_token(kind, "r-42")) == "r-42"
    assert paging.decode_token(kind, "") == ""
    for bad in ["%%%", paging.encode_token("ListTerminals:jinchengyijing-health", "r-42")]:
        with pytest.raises(InvalidArgument):
            paging.decode_token(kind, bad)


def test_days_are_iso_dates() -> None:
    assert times.parse_date("date", "2026-11-07").isoformat() == "2026-11-07"
    for bad in ["2026-11-7", "07/11/2026", "2026-02-30", ""]:
        with pytest.raises(InvalidArgument):
            times.parse_date("date", bad)


def test_a_held_secret_is_derived_from_its_nonce_under_the_service_s_key_only() -> None:
    maker = SecretMaker("k" * 32, timedelta(hours=24))
    secret, nonce = maker.derived()
    assert len(secret) == 43 and len(nonce) == 64 and secret not in nonce
    assert maker.derive(nonce) == secret == SecretMaker("k" * 32, timedelta(hours=1)).derive(nonce)
    other = SecretMaker("j" * 32, timedelta(hours=24))
    assert other.derive(nonce) != secret and other.key_id != maker.key_id
    assert "k" * 8 not in maker.key_id and maker.derived()[1] != nonce
    unset = SecretMaker("", timedelta(hours=24))  # a random key per process
    assert unset.key_id != SecretMaker("", timedelta(hours=24)).key_id


def test_a_request_key_belongs_to_one_caller_method_and_id() -> None:
    key = request_key("worker-li", "CreateTerminal", "r-1")
    assert len(key) == 64 and "r-1" not in key
    assert len({key, request_key("worker-wang", "CreateTerminal", "r-1"),
                request_key("worker-li", "RotateTerminalSecret", "r-1"),
                request_key("worker-li", "CreateTerminal", "r-2")}) == 4


def test_a_terminal_secret_key_is_at_least_32_characters() -> None:
    assert RedemptionSettings(terminal_secret_key="x" * 32).terminal_secret_key == "x" * 32
    with pytest.raises(ValidationError):
        RedemptionSettings(terminal_secret_key="short")


def test_secrets_are_random_and_stored_salted() -> None:
    secret, salt, digest = new_secret()
    assert len(secret) >= 40 and digest == hash_secret(salt, secret) and digest != hash_secret(salt, secret + "x")
    assert new_secret()[0] != secret


def test_a_terminal_credential_is_recalled_without_awaiting_only_while_kept_and_only_with_its_secret() -> None:
    now = [0.0]
    cache = TerminalCache(ttl=3.0, monotonic=lambda: now[0])
    auth = TerminalAuthenticator(cache=cache)
    header = {"authorization": "Terminal t-1:right"}
    assert auth.recall(header) is None  # never verified: the runtime awaits `authenticate`
    principal = terminal_principal("t-1", "m-1", "chengdu/x")
    cache.keep("t-1", secret_digest("right"), principal, cache.generation)
    assert auth.recall(header) is principal
    assert auth.recall({"authorization": "terminal t-1:right"}) is principal  # the scheme in any case
    for other in [{}, {"authorization": "Bearer abc"}, {"authorization": "Terminal t-1:wrong"},
                  {"authorization": "Terminal t-1"}, {"authorization": f"Terminal t-1:{'x' * 129}"}]:
        assert auth.recall(other) is None
    cache.forget("t-1")  # rotated or revoked here: checked against the database again
    assert auth.recall(header) is None
    cache.keep("t-1", secret_digest("right"), principal, cache.generation)
    now[0] = 3.0  # the TTL is over
    assert auth.recall(header) is None


async def test_the_authenticator_leaves_other_schemes_alone_and_refuses_malformed_terminal_headers() -> None:
    auth = TerminalAuthenticator()  # no database: none of these reach it
    assert await auth.authenticate({}) is None
    assert await auth.authenticate({"authorization": "Bearer abc"}) is None
    for bad in ["Terminal", "Terminal abc", "Terminal :secret", "Terminal id:", f"Terminal {'x' * 65}:s"]:
        with pytest.raises(Unauthenticated):
            await auth.authenticate({"authorization": bad})
