"""Domain values → linli.identity.v1 messages."""

from __future__ import annotations

from linli.identity.v1 import identity_pb2 as pb
from linli_identity.accounts import DISABLED, SERVICE
from linli_identity.keys import ACTIVE, RETIRED, KeyInfo
from linli_identity.names import account_name, claim_name, grant_name, signing_key_name
from linli_identity.tables import Account, HouseholdClaim, RoleGrant
from linli_runtime.times import to_timestamp


def account(a: Account, *, show_phone: bool = True) -> pb.Account:
    return pb.Account(
        name=account_name(a.id), display_name=a.display_name, phone=(a.phone or "") if show_phone else "",
        kind=pb.ACCOUNT_KIND_SERVICE if a.kind == SERVICE else pb.ACCOUNT_KIND_PERSON,
        state=pb.ACCOUNT_STATE_DISABLED if a.status == DISABLED else pb.ACCOUNT_STATE_ACTIVE,
        create_time=to_timestamp(a.created_at),
        disabled_by=account_name(a.disabled_by) if a.disabled_by and a.disabled_by.startswith("acc_") else "",
        disable_time=to_timestamp(a.disabled_at), disable_reason=a.disable_reason or "")


def grant(g: RoleGrant) -> pb.Grant:
    def who(account_id: str | None) -> str:
        return account_name(account_id) if account_id and account_id.startswith("acc_") else (account_id or "")

    return pb.Grant(
        name=grant_name(g.account_id, g.id), account=account_name(g.account_id), role=g.role, scope=g.scope,
        state=pb.GRANT_STATE_REVOKED if g.revoked_at is not None else pb.GRANT_STATE_ACTIVE,
        granted_by=who(g.granted_by), reason=g.reason, grant_time=to_timestamp(g.granted_at),
        revoked_by=who(g.revoked_by), revoke_reason=g.revoke_reason or "", revoke_time=to_timestamp(g.revoked_at))


KEY_STATES = {ACTIVE: pb.SIGNING_KEY_STATE_ACTIVE, RETIRED: pb.SIGNING_KEY_STATE_RETIRED}


def signing_key(k: KeyInfo) -> pb.SigningKey:
    return pb.SigningKey(name=signing_key_name(k.kid), kid=k.kid, algorithm=k.algorithm,
                         state=KEY_STATES.get(k.state, pb.SIGNING_KEY_STATE_DROPPED),
                         create_time=to_timestamp(k.created_at), retire_time=to_timestamp(k.retired_at),
                         drop_time=to_timestamp(k.drop_after))


CLAIM_STATES = {"pending": pb.HOUSEHOLD_CLAIM_STATE_PENDING, "approved": pb.HOUSEHOLD_CLAIM_STATE_APPROVED,
                "rejected": pb.HOUSEHOLD_CLAIM_STATE_REJECTED}


def household_claim(c: HouseholdClaim, claimant: Account | None) -> pb.HouseholdClaim:
    return pb.HouseholdClaim(
        name=claim_name(c.id), account=account_name(c.account_id),
        account_display_name=claimant.display_name if claimant else "", household_path=c.household_path,
        register_name=c.register_name, note=c.note, state=CLAIM_STATES[c.state],
        create_time=to_timestamp(c.created_at), decided_by=account_name(c.decided_by or ""),
        decide_time=to_timestamp(c.decided_at), decision_reason=c.decision_reason or "",
        grant=grant_name(c.account_id, c.grant_id) if c.grant_id else "")
