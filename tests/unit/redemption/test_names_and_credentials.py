"""Resource names, masking, page tokens and the terminal credential header."""

from __future__ import annotations

import pytest
from linli_redemption.common import TOKEN_KIND, encode_token, mask_name, parse_day, parse_name
from linli_redemption.terminals import TerminalAuthenticator, hash_secret, new_secret

from linli_runtime import paging
from linli_runtime.errors import InvalidArgument, Unauthenticated


def test_parse_name_returns_the_ids_and_refuses_other_shapes() -> None:
    assert parse_name("merchants/a-1/rewards/b", "reward", "merchants", "rewards") == ["a-1", "b"]
    for bad in ["", "merchants/a", "merchant/a/rewards/b", "merchants/a/rewards/b/c", "merchants/a b/rewards/c",
                "merchants//rewards/b"]:
        with pytest.raises(InvalidArgument) as refused:
            parse_name(bad, "reward", "merchants", "rewards")
        assert [v.field for v in refused.value.violations] == ["reward"]


MASKS = [("王秀英", "王*英"), ("李四", "李*"), ("欧阳建国", "欧**国"), ("A", "A*")]


@pytest.mark.parametrize(("name", "masked"), MASKS)
def test_names_are_masked_for_the_till(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_page_tokens_round_trip_and_garbage_is_refused() -> None:
    assert paging.decode_token(TOKEN_KIND, encode_token("r-42")) == "r-42"
    assert paging.decode_token(TOKEN_KIND, "") == ""
    with pytest.raises(InvalidArgument):
        paging.decode_token(TOKEN_KIND, "%%%")


def test_days_are_iso_dates() -> None:
    assert parse_day("2026-11-07").isoformat() == "2026-11-07"
    for bad in ["2026-11-7", "07/11/2026", "2026-02-30", ""]:
        with pytest.raises(InvalidArgument):
            parse_day(bad)


def test_secrets_are_random_and_stored_salted() -> None:
    secret, salt, digest = new_secret()
    assert len(secret) >= 40 and digest == hash_secret(salt, secret) and digest != hash_secret(salt, secret + "x")
    assert new_secret()[0] != secret


async def test_the_authenticator_leaves_other_schemes_alone_and_refuses_malformed_terminal_headers() -> None:
    auth = TerminalAuthenticator()  # no database: none of these reach it
    assert await auth.authenticate({}) is None
    assert await auth.authenticate({"authorization": "Bearer abc"}) is None
    for bad in ["Terminal", "Terminal abc", "Terminal :secret", "Terminal id:", f"Terminal {'x' * 65}:s"]:
        with pytest.raises(Unauthenticated):
            await auth.authenticate({"authorization": bad})
