"""AIP-158 page sizes and list-bound page tokens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linli_runtime import paging
from linli_runtime.errors import InvalidArgument


def test_zero_means_default_and_above_maximum_is_coerced() -> None:
    assert paging.page_size(0, default=50, maximum=500) == 50
    assert paging.page_size(7, default=50, maximum=500) == 7
    assert paging.page_size(10_000, default=50, maximum=500) == 500


def test_negative_page_size_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        paging.page_size(-1, default=50, maximum=500)
    assert caught.value.violations[0].field == "page_size"


# Keys and kinds are text from the database and the code: no lone surrogates (not encodable).
TEXT = st.characters(blacklist_categories=("Cs",))


@given(kind=st.text(TEXT, min_size=1, max_size=40), key=st.text(TEXT, min_size=1, max_size=80))
def test_token_round_trips_its_key(kind: str, key: str) -> None:
    assert paging.decode_token(kind, paging.encode_token(kind, key)) == key


def test_first_page_has_no_token() -> None:
    assert paging.decode_token("volunteers", "") == ""
    assert paging.decode_int_token("history", "") == 0
    assert paging.decode_int_token("history", paging.encode_token("history", 42)) == 42


@pytest.mark.parametrize("token", [
    paging.encode_token("other-list", "k"),  # issued by another list
    "not base64 at all!",
    paging.encode_token("volunteers", "")[:-2] + "@@",
    paging.encode_token("volunteers", ""),  # right list, no key
])
def test_foreign_or_garbled_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        paging.decode_token("volunteers", token)
    assert caught.value.violations[0].field == "page_token"


def test_int_token_with_a_non_number_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        paging.decode_int_token("history", paging.encode_token("history", "abc"))


async def test_a_sequence_keyed_list_refuses_a_token_whose_key_is_no_number() -> None:
    """The token's kind matches, its key does not parse: INVALID_ARGUMENT before any query."""
    import sqlalchemy as sa

    items = sa.Table("items", sa.MetaData(), sa.Column("seq", sa.BigInteger, primary_key=True))
    forged = paging.encode_token("items", "1 OR 1=1")
    with pytest.raises(InvalidArgument) as caught:
        await paging.keyset_page(None, sa.select(items), items.c.seq, kind="items",  # type: ignore[arg-type]
                                 page_token=forged, size=10)
    assert caught.value.violations[0].field == "page_token"



@pytest.mark.parametrize("key", ["not-a-time\x1fab", "2026-11-07T03:00:00+00:00\x1f", "2026-11-07T03:00:00+00:00"])
async def test_a_newest_first_list_refuses_a_token_whose_key_is_no_time_and_id(key: str) -> None:
    """The token's kind matches, its key does not parse: INVALID_ARGUMENT before any query."""
    import sqlalchemy as sa

    items = sa.Table("items", sa.MetaData(), sa.Column("id", sa.String, primary_key=True),
                     sa.Column("created", sa.DateTime(timezone=True)))
    with pytest.raises(InvalidArgument) as caught:
        await paging.newest_first_page(None, sa.select(items), items.c.created, items.c.id,  # type: ignore[arg-type]
                                       kind="items", page_token=paging.encode_token("items", key), size=5)
    assert caught.value.violations[0].field == "page_token"


def test_where_given_filters_on_the_given_values_only() -> None:
    import sqlalchemy as sa

    t = sa.table("t", sa.column("a"), sa.column("b"), sa.column("c"))
    base = sa.select(t.c.a)
    narrowed = paging.where_given(base, (t.c.a, "x"), (t.c.b, ""), (t.c.c, 0))
    assert str(narrowed.compile(compile_kwargs={"literal_binds": True})).split("WHERE")[1].strip() == "t.a = 'x'"
    assert paging.where_given(base, (t.c.b, None), (t.c.c, 0)) is base, "nothing given: the query as it was"
    both = paging.where_given(base, (t.c.a, "x"), (t.c.c, 3))
    assert "t.a = 'x' AND t.c = 3" in str(both.compile(compile_kwargs={"literal_binds": True}))
