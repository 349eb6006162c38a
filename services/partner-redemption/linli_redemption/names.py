"""AIP-122 names of partner-redemption's resources, and the rules for the ids inside them.

    partners/{partner}                                     any partner (member unit, signed partner, merchant)
    merchants/{merchant}                                   a partner that accepts points
    merchants/{merchant}/rewards/{reward}
    merchants/{merchant}/terminals/{terminal}
    merchants/{merchant}/redemptions/{redemption}
    merchants/{merchant}/redemptions/{redemption}/refunds/{refund}

Partners are named by their own id, not by their community's path (a merchant's terminals
carry its id in every POS call), so these are plain `collection/id` names rather than the
org-path names of `linli_runtime.names`. Ids operators choose are stricter than the runtime's
`fields.slug`, on purpose: at most 40 characters with no '_' (they are printed on receipts and
typed at tills). Request ids follow the one rule of every service, `fields.request_id`
(1–128 characters).
"""

from __future__ import annotations

import re

from linli_runtime import fields
from linli_runtime.errors import InvalidArgument

# Ids operators choose (partners, terminals, rewards): stricter than `fields.slug` (see above).
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


def partner_name(partner_id: str) -> str:
    return f"partners/{partner_id}"


def merchant_name(merchant_id: str) -> str:
    return f"merchants/{merchant_id}"


def reward_name(merchant_id: str, reward_id: str) -> str:
    return f"merchants/{merchant_id}/rewards/{reward_id}"


def terminal_name(merchant_id: str, terminal_id: str) -> str:
    return f"merchants/{merchant_id}/terminals/{terminal_id}"


def redemption_name(merchant_id: str, redemption_id: str) -> str:
    return f"merchants/{merchant_id}/redemptions/{redemption_id}"


def refund_name(merchant_id: str, redemption_id: str, refund_id: str) -> str:
    return f"{redemption_name(merchant_id, redemption_id)}/refunds/{refund_id}"


def parse(field: str, value: str, *collections: str) -> list[str]:
    """`merchants/a/rewards/b` with collections ("merchants", "rewards") → ["a", "b"]."""
    parts = value.split("/")
    if len(parts) != 2 * len(collections) or any(parts[2 * i] != c for i, c in enumerate(collections)):
        pattern = "/".join(f"{c}/{{{c[:-1]}}}" for c in collections)
        raise InvalidArgument.field(field, f"must read {pattern}")
    ids = parts[1::2]
    if not all(fields.ID.match(i) for i in ids):
        raise InvalidArgument.field(field, "ids use only letters, digits, '.', '_', ':' and '-'")
    return ids


def parse_partner(field: str, value: str) -> str:
    (partner_id,) = parse(field, value, "partners")
    return partner_id


def parse_merchant(field: str, value: str) -> str:
    (merchant_id,) = parse(field, value, "merchants")
    return merchant_id


def parse_reward(field: str, value: str) -> tuple[str, str]:
    """(merchant id, reward id)."""
    merchant_id, reward_id = parse(field, value, "merchants", "rewards")
    return merchant_id, reward_id


def parse_terminal(field: str, value: str) -> tuple[str, str]:
    """(merchant id, terminal id)."""
    merchant_id, terminal_id = parse(field, value, "merchants", "terminals")
    return merchant_id, terminal_id


def parse_redemption(field: str, value: str) -> tuple[str, str]:
    """(merchant id, redemption id)."""
    merchant_id, redemption_id = parse(field, value, "merchants", "redemptions")
    return merchant_id, redemption_id


def slug(field: str, value: str) -> str:
    """An id an operator chooses for a partner, terminal or reward (see the module docstring)."""
    if not SLUG.match(value):
        raise InvalidArgument.field(field, "must be 1–40 characters of a-z, 0-9 and '-' (not starting with '-')")
    return value
