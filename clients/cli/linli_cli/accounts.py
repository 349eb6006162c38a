"""Naming a person on the command line: people are their accounts (the `sub` of their tokens),
so commands that name one (`linli duty swap --to …`) take the account id (`acc_…` or
`accounts/acc_…`) or the person's phone number, looked up in the identity service
(AccountService.ListAccounts, which a worker may ask about people of the places they
administer). Another OIDC provider's account ids pass through as they are."""

from __future__ import annotations

import re

from linli.identity.v1 import identity_pb2 as pb
from linli.identity.v1 import identity_pb2_grpc as pb_grpc
from linli_cli import session
from linli_cli.errors import usage
from linli_cli.i18n import _

IDENTITY = "identity"
# A phone number as people write it: +86 138 0000 0003, 13800000003, 138-0000-0003.
PHONE = re.compile(r"\+?\d[\d \-]{6,18}\d")


def looks_like_phone(value: str) -> bool:
    return PHONE.fullmatch(value.strip()) is not None


def phone_query(value: str) -> str:
    """The number as the identity service's lookup takes it: digits, with +86 for a Chinese
    mobile number written without its country code."""
    digits = re.sub(r"[ \-]", "", value.strip())
    if digits.startswith("+"):
        return digits
    return "+86" + digits if len(digits) == 11 and digits.startswith("1") else "+" + digits


async def resolve(value: str, option: str, token: str | None) -> str:
    """The account id `value` names: as given, or found by phone number."""
    value = value.strip().removeprefix("accounts/")
    if not value:
        raise usage(_("{option}: name a person by account id (acc_…) or phone number").format(option=option))
    if not looks_like_phone(value):
        return value
    phone = phone_query(value)
    async with session.client(IDENTITY, token) as c:
        reply = await c.call(c.stub(pb_grpc.AccountServiceStub).ListAccounts, pb.ListAccountsRequest(
            phone=phone, page_size=2))
    found = [str(a.name).removeprefix("accounts/") for a in reply.accounts]
    if len(found) != 1:
        raise usage((_("{option}: no account has the phone number {phone}") if not found else
                     _("{option}: several accounts have the phone number {phone}; give the account id")).format(
            option=option, phone=phone))
    return found[0]
