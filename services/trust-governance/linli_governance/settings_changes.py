"""Changes of a compound's account settings — the threshold, the surplus share, the period —
which bind the trustee, so that no one account changes them (authority.py):

    proposed: PENDING ──the committee approves──┐ (two accounts, neither the proposer's)
                      ──the supervisor approves─┴──▶ APPLIED: the settings change in the same transaction
                      ──either party rejects───────▶ REJECTED
                      ──30 days and nobody decided─▶ LAPSED (read so; deciding it is refused)
    under a passed HIRE_TRUSTEE owners' vote ──────▶ APPLIED at once (the vote is cited by one change only;
                                                      a change still pending is superseded: REJECTED)

A compound has at most one change pending: propose the next once it is decided (or lapsed).
The change row is locked while it changes state, so the last approval applies it once. Every
change is kept, with who proposed and who approved it, and listed newest first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from linli.governance.v1 import account_pb2, vote_pb2
from linli_governance import accounts, authority, names
from linli_governance.tables import (
    SETTINGS_CHANGE_APPROVALS,
    SETTINGS_CHANGES,
    AccountSettings,
    SettingsChange,
)
from linli_runtime import paging, times
from linli_runtime.db import Database
from linli_runtime.errors import AlreadyExists, FailedPrecondition, NotFound
from linli_runtime.models import typed, typed_all

PENDING = account_pb2.SETTINGS_CHANGE_STATE_PENDING
APPLIED = account_pb2.SETTINGS_CHANGE_STATE_APPLIED
REJECTED = account_pb2.SETTINGS_CHANGE_STATE_REJECTED
LAPSED = account_pb2.SETTINGS_CHANGE_STATE_LAPSED
LIFETIME = accounts.PENDING_LIFETIME  # as long as a pending expense waits


@dataclass(frozen=True)
class ChangeView:
    """A change, the parties that approved it so far (party order) and its state as of `now`
    (a PENDING change past its lifetime reads LAPSED)."""

    change: SettingsChange
    approvals: list[int]
    state: int

    @property
    def settings(self) -> AccountSettings:
        c = self.change
        return AccountSettings(compound_path=c.compound_path, approval_threshold_fen=c.approval_threshold_fen,
                               surplus_share_bp=c.surplus_share_bp, period_kind=c.period_kind)


def state_at(change: SettingsChange, now: datetime) -> int:
    if change.state == PENDING and now >= times.as_utc(change.created_at) + LIFETIME:
        return LAPSED
    return change.state


def _values(settings: AccountSettings) -> tuple[int, int, int]:
    return settings.approval_threshold_fen, settings.surplus_share_bp, settings.period_kind


async def _view(conn: AsyncConnection, change: SettingsChange, now: datetime) -> ChangeView:
    parties = (await conn.execute(select(SETTINGS_CHANGE_APPROVALS.c.party).where(
        SETTINGS_CHANGE_APPROVALS.c.change_id == change.change_id))).scalars()
    return ChangeView(change, sorted(parties), state_at(change, now))


async def _locked(conn: AsyncConnection, compound_path: str, change_id: str) -> SettingsChange:
    row = (await conn.execute(select(SETTINGS_CHANGES).where(
        SETTINGS_CHANGES.c.change_id == change_id).with_for_update())).first()
    if row is None or row.compound_path != compound_path:
        raise NotFound(f"settings change {names.settings_change_name(compound_path, change_id)} does not exist",
                       reason="SETTINGS_CHANGE_NOT_FOUND")
    return typed(SettingsChange, row)


async def _pending(conn: AsyncConnection, compound_path: str, now: datetime) -> list[SettingsChange]:
    rows = typed_all(SettingsChange, await conn.execute(select(SETTINGS_CHANGES).where(
        SETTINGS_CHANGES.c.compound_path == compound_path, SETTINGS_CHANGES.c.state == PENDING)))
    return [c for c in rows if state_at(c, now) == PENDING]


async def propose(session: AsyncSession, settings: AccountSettings, *, proposed_by: str, owners_decision: str,
                  when: datetime) -> tuple[ChangeView, AccountSettings]:
    """Propose `settings` for their compound — applied at once under `owners_decision` (a passed
    HIRE_TRUSTEE vote not cited before) — and answer the change with the settings in force."""
    accounts.validate_settings(settings)
    conn = await session.connection()
    path = settings.compound_path
    current = await accounts.require_settings(conn, path)
    authority.check_settings_change(_values(current), _values(settings))
    waiting = await _pending(conn, path, when)
    if owners_decision:
        await accounts.passed_decision(conn, path, owners_decision, vote_pb2.VOTE_MATTER_HIRE_TRUSTEE)
        used = (await conn.execute(select(SETTINGS_CHANGES.c.change_id).where(
            SETTINGS_CHANGES.c.owners_decision == owners_decision))).first()
        if used is not None:
            decided = names.settings_change_name(path, used.change_id)
            raise FailedPrecondition(f"vote {owners_decision} already decided {decided}; a new change needs a "
                                     "new decision", reason="DECISION_ALREADY_USED")
        superseded = f"superseded by the owners' decision {owners_decision}"[:500]
        for waiting_change in waiting:
            await conn.execute(SETTINGS_CHANGES.update().where(
                SETTINGS_CHANGES.c.change_id == waiting_change.change_id, SETTINGS_CHANGES.c.state == PENDING
            ).values(state=REJECTED, decided_at=when, rejection_reason=superseded))
    elif waiting:
        pending = names.settings_change_name(path, waiting[0].change_id)
        raise FailedPrecondition(f"{pending} is still waiting for approval; have it approved or rejected before "
                                 "proposing another change", reason="SETTINGS_CHANGE_PENDING")
    change_id = uuid.uuid4().hex
    await conn.execute(SETTINGS_CHANGES.insert().values(
        change_id=change_id, compound_path=path, approval_threshold_fen=settings.approval_threshold_fen,
        surplus_share_bp=settings.surplus_share_bp, period_kind=settings.period_kind,
        state=APPLIED if owners_decision else PENDING, proposed_by=proposed_by[:200],
        owners_decision=owners_decision, created_at=when, decided_at=when if owners_decision else None))
    if owners_decision:
        current = await accounts.update_settings(session, settings)
    change = await _locked(conn, path, change_id)
    return await _view(conn, change, when), current


async def approve(session: AsyncSession, compound_path: str, change_id: str, party: int, *, approver: str,
                  when: datetime) -> tuple[ChangeView, AccountSettings]:
    """One party's approval (authority.check_approver); the second applies the change."""
    conn = await session.connection()
    change = await _locked(conn, compound_path, change_id)
    _check_decidable(change, when)
    given = {a.party: a.approved_by for a in await conn.execute(select(SETTINGS_CHANGE_APPROVALS).where(
        SETTINGS_CHANGE_APPROVALS.c.change_id == change_id))}
    if party in given:
        raise AlreadyExists(f"{authority.party_name(party)} has already approved this change",
                            reason="ALREADY_APPROVED")
    authority.check_approver(approver, party, given, change.proposed_by)
    await conn.execute(SETTINGS_CHANGE_APPROVALS.insert().values(
        change_id=change_id, party=party, approved_by=approver[:200], approved_at=when))
    view = await _view(conn, change, when)
    current = await accounts.require_settings(conn, compound_path)
    if set(view.approvals) >= set(authority.BOTH_PARTIES):
        await conn.execute(SETTINGS_CHANGES.update().where(
            SETTINGS_CHANGES.c.change_id == change_id, SETTINGS_CHANGES.c.state == PENDING).values(
            state=APPLIED, decided_at=when))
        current = await accounts.update_settings(session, view.settings)
        view = await _view(conn, await _locked(conn, compound_path, change_id), when)
    return view, current


async def reject(session: AsyncSession, compound_path: str, change_id: str, party: int, reason: str, *,
                 when: datetime) -> ChangeView:
    conn = await session.connection()
    change = await _locked(conn, compound_path, change_id)
    _check_decidable(change, when)
    await conn.execute(SETTINGS_CHANGES.update().where(
        SETTINGS_CHANGES.c.change_id == change_id, SETTINGS_CHANGES.c.state == PENDING).values(
        state=REJECTED, decided_at=when,
        rejection_reason=f"{authority.party_name(party)}: {reason}"[:500]))
    return await _view(conn, await _locked(conn, compound_path, change_id), when)


def _check_decidable(change: SettingsChange, when: datetime) -> None:
    state = state_at(change, when)
    if state == LAPSED:
        raise FailedPrecondition(f"the change was proposed more than {LIFETIME.days} days ago and has lapsed; "
                                 "propose it again", reason="APPROVAL_LAPSED")
    if state != PENDING:
        raise FailedPrecondition("the settings change is not waiting for approval", reason="NOT_PENDING")


async def list_page(db: Database, compound_path: str, *, page_token: str, size: int,
                    now: datetime) -> tuple[list[ChangeView], str]:
    """A compound's settings changes, newest first."""
    async with db.session() as session:
        conn = await session.connection()
        await accounts.require_settings(conn, compound_path)
        rows, token = await paging.keyset_page(
            conn, select(SETTINGS_CHANGES).where(SETTINGS_CHANGES.c.compound_path == compound_path),
            SETTINGS_CHANGES.c.seq, kind=f"ListSettingsChanges:{compound_path}", page_token=page_token, size=size,
            newest_first=True)
        return [await _view(conn, c, now) for c in typed_all(SettingsChange, rows)], token
