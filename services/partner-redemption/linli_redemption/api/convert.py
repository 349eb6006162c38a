"""Rows → protobuf messages."""

from __future__ import annotations

from typing import Any

from linli.redemption.v1 import resources_pb2 as pb
from linli_redemption.common import ts

PARTNER_KINDS = {"member_unit": pb.PARTNER_KIND_MEMBER_UNIT, "signed_partner": pb.PARTNER_KIND_SIGNED_PARTNER,
                 "merchant": pb.PARTNER_KIND_MERCHANT}
KIND_NAMES = {v: k for k, v in PARTNER_KINDS.items()}
REDEMPTION_STATES = {"pending": pb.REDEMPTION_STATE_PENDING, "committed": pb.REDEMPTION_STATE_COMMITTED,
                     "voided": pb.REDEMPTION_STATE_VOIDED}


def partner_pb(row: Any) -> pb.Partner:
    return pb.Partner(
        name=f"partners/{row.id}", partner_id=row.id, community_path=row.community_path,
        kind=PARTNER_KINDS.get(row.kind, pb.PARTNER_KIND_UNSPECIFIED), display_name=row.display_name,
        display_name_en=row.display_name_en,
        state=pb.PARTNER_STATE_ACTIVE if row.state == "active" else pb.PARTNER_STATE_SUSPENDED,
        contact=row.contact, agreement=row.agreement, accepts_points=row.kind == "merchant",
        placeholder=bool(row.placeholder), create_time=ts(row.create_time))


def terminal_pb(row: Any) -> pb.Terminal:
    return pb.Terminal(
        name=f"merchants/{row.merchant_id}/terminals/{row.id}", terminal_id=row.id, merchant_id=row.merchant_id,
        display_name=row.display_name,
        state=pb.TERMINAL_STATE_ACTIVE if row.state == "active" else pb.TERMINAL_STATE_REVOKED,
        create_time=ts(row.create_time), secret_time=ts(row.secret_time))


def reward_pb(row: Any) -> pb.Reward:
    return pb.Reward(
        name=f"merchants/{row.merchant_id}/rewards/{row.id}", reward_id=row.id, merchant_id=row.merchant_id,
        display_name=row.display_name, points=row.points, stock=row.stock,
        per_volunteer_limit=row.per_volunteer_limit, daily_quota=row.daily_quota,
        valid_from=ts(row.valid_from), valid_until=ts(row.valid_until), create_time=ts(row.create_time))


def redemption_pb(row: Any) -> pb.Redemption:
    return pb.Redemption(
        name=f"merchants/{row.merchant_id}/redemptions/{row.id}", redemption_id=row.id,
        merchant_id=row.merchant_id, terminal_id=row.terminal_id, request_id=row.request_id,
        reward_id=row.reward_id, reward_name=row.reward_name, quantity=row.quantity, points=row.points,
        state=REDEMPTION_STATES[row.state], masked_member=row.masked_member, refunded_points=row.refunded_points,
        void_reason=row.void_reason, transfer_id=row.transfer_id, create_time=ts(row.create_time),
        commit_time=ts(row.commit_time))


def refund_pb(row: Any) -> pb.Refund:
    return pb.Refund(
        name=f"merchants/{row.merchant_id}/redemptions/{row.redemption_id}/refunds/{row.id}", refund_id=row.id,
        redemption_id=row.redemption_id, request_id=row.request_id, points=row.points, reason=row.reason,
        transfer_id=row.transfer_id, completed=bool(row.completed), create_time=ts(row.create_time))
