"""Who may see and change which accounts through the admin API (granting itself is ruled by
`authority.py`). Pure functions over the caller's current grants and the target's grants.

An *administrator* holds a grant of platform_admin, city_operator, street_officer or
community_worker.

- See an account (its phone too): the account itself; platform admins and services; an
  administrator whose scope contains one of the account's active grants — or any administrator
  when the account holds no grant yet (a resident who just signed up, waiting for a role).
- Look accounts up by phone: any administrator (to find the person to grant a role to).
- List accounts or grants within a scope: an administrator whose scope contains it.
- List everything: platform admins and services.
- Create an account: any administrator; service accounts: platform admins only.
- Disable or enable an account: someone else who could grant every active grant the account
  holds (so only a platform admin can stop a platform admin); an account with no grant: any
  administrator.
- List or rotate signing keys: platform admins.
"""

from __future__ import annotations

from collections.abc import Iterable

from linli_identity import authority
from linli_identity.grants import Actor
from linli_runtime.auth import Grant, Role


def is_service(actor: Actor) -> bool:
    return any(g.role == Role.SERVICE and g.scope == "" for g in actor.grants)


def sees_everything(actor: Actor) -> bool:
    return actor.is_platform_admin or is_service(actor)


def is_administrator(actor: Actor) -> bool:
    return any(g.role in authority.ADMINISTERING for g in actor.grants)


def may_see(actor: Actor, account_id: str, account_grants: Iterable[Grant]) -> bool:
    if actor.account_id == account_id or sees_everything(actor):
        return True
    held = list(account_grants)
    if not held:
        return is_administrator(actor)
    return any(authority.administers(actor.grants, g.scope) is not None for g in held)


def may_list_scope(actor: Actor, scope: str) -> bool:
    return sees_everything(actor) or authority.administers(actor.grants, scope) is not None


def may_create(actor: Actor, kind: str) -> bool:
    if kind == "service":
        return actor.is_platform_admin
    return is_administrator(actor)


def may_disable(actor: Actor, account_id: str, account_grants: Iterable[Grant]) -> bool:
    if actor.account_id == account_id or not is_administrator(actor):
        return False  # an owner may take back the household grant they gave, not stop an account
    held = list(account_grants)
    if not held:
        return is_administrator(actor)
    for grant in held:
        try:
            role = Role(grant.role)
        except ValueError:
            return actor.is_platform_admin
        if authority.authority_for(actor.grants, role, grant.scope) is None:
            return False
    return True


def may_manage_keys(actor: Actor) -> bool:
    return actor.is_platform_admin
