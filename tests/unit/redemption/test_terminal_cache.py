"""The cache of verified terminal credentials (terminal_cache.py): a credential is trusted for
its TTL only with the secret that was verified, a forget takes effect at once, and a check whose
read began before a forget keeps nothing (it may have read the row as it was before)."""

from __future__ import annotations

from linli_redemption.terminal_cache import TerminalCache, secret_digest
from linli_redemption.terminals import terminal_principal

GOOD, OTHER = secret_digest("good"), secret_digest("other")
TILL = terminal_principal("till", "bakery", "chengdu/x")


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_verified_credential_is_kept_for_its_ttl_with_its_own_secret_only() -> None:
    ticks = Ticks()
    cache = TerminalCache(ttl=3.0, monotonic=ticks)
    assert cache.get("till", GOOD) is None
    cache.keep("till", GOOD, TILL, cache.generation)
    assert cache.get("till", GOOD) == TILL
    assert cache.get("till", OTHER) is None  # a wrong (or newer) secret is checked afresh
    assert cache.get("till", GOOD) == TILL  # … and does not evict the verified one
    ticks.now += 3.0
    assert cache.get("till", GOOD) is None and len(cache) == 0


def test_forget_takes_effect_at_once_and_a_check_begun_before_it_keeps_nothing() -> None:
    cache = TerminalCache()
    cache.keep("till", GOOD, TILL, cache.generation)
    began = cache.generation  # a check reads the row …
    cache.forget("till")  # … while a rotation commits
    assert cache.get("till", GOOD) is None
    cache.keep("till", GOOD, TILL, began)
    assert cache.get("till", GOOD) is None
    cache.keep("till", GOOD, TILL, cache.generation)
    cache.forget_all()  # a merchant suspended
    assert cache.get("till", GOOD) is None


def test_the_cache_is_bounded_and_a_zero_ttl_keeps_nothing() -> None:
    cache = TerminalCache(size=2)
    for name in ("a", "b", "c"):
        cache.keep(name, GOOD, TILL, cache.generation)
    assert len(cache) == 2 and cache.get("a", GOOD) is None and cache.get("c", GOOD) == TILL
    off = TerminalCache(ttl=0)
    off.keep("till", GOOD, TILL, off.generation)
    assert off.get("till", GOOD) is None
