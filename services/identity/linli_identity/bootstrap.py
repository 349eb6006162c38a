"""The first platform admin of a fresh installation — the one account no one else can grant.

    python -m linli_identity.bootstrap --phone +8613800000000 --name "张三"

It creates the person account for the phone (or uses the existing one) and grants it
platform_admin at the root, recorded as given by `bootstrap`. It refuses when any platform
admin exists: from then on admins are granted by admins, through the admin API. There is no
password: the admin signs in at the issuer with that phone number and an SMS code.
(`linli platform create-admin` may wrap this later.) It reads the same settings as the service
(DATABASE_URL, …) and applies the migrations first, so it works before the service ever ran.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from linli_identity.accounts import BOOTSTRAP, PERSON, Accounts, normalize_phone
from linli_identity.app import MIGRATIONS
from linli_identity.grants import Grants
from linli_identity.names import account_name
from linli_identity.settings import IdentitySettings
from linli_runtime.clock import Clock, SystemClock
from linli_runtime.db import Database
from linli_runtime.errors import DomainError
from linli_runtime.events.envelope import EventFactory
from linli_runtime.migrations import upgrade


async def create_first_admin(db: Database, phone: str, name: str, clock: Clock | None = None) -> str:
    """The account id of the new platform admin; FailedPrecondition when one exists."""
    clock = clock or SystemClock()
    make_event = EventFactory("identity", clock)
    accounts, grants = Accounts(clock, make_event), Grants(clock, make_event)
    number = normalize_phone("phone", phone)
    await upgrade(db, MIGRATIONS)
    async with db.transaction() as session:
        account = await accounts.by_phone(session, number)
        if account is None:
            account = await accounts.create(session, display_name=name, phone=number, kind=PERSON,
                                            created_by=BOOTSTRAP, reason="bootstrap: the first platform admin")
        await grants.grant_first_admin(session, account)
    return account.id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Create the first platform admin of a fresh installation.")
    parser.add_argument("--phone", required=True, help="the admin's mobile number, e.g. +8613800000000")
    parser.add_argument("--name", required=True, help="the admin's name as shown to others")
    args = parser.parse_args(argv)
    settings = IdentitySettings()

    async def run() -> str:
        db = Database(settings.database_url)
        try:
            return await create_first_admin(db, args.phone, args.name)
        finally:
            await db.dispose()

    try:
        account_id = asyncio.run(run())
    except DomainError as exc:
        print(f"refused: {exc.message}", file=sys.stderr)
        return 1
    print(f"{account_name(account_id)} is the platform admin; sign in at the issuer with {args.phone} and the SMS code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
