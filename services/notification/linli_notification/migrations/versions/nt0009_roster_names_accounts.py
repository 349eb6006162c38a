"""the duty roster names accounts: community workers' grants learned from identity
(nf_worker_grant), and the demo roster's local worker names replaced by their accounts

Revision ID: nt0009
Revises: nt0008
Create Date: 2026-12-07

Until now the roster named workers by local names (`worker-li`), which reach nobody's inbox
(inboxes are keyed by the account, the `sub` of people's tokens). The only local names whose
account is known are the demo roster's (`make run`'s Fengshu workers, whose demo accounts have
fixed ids): they are rewritten everywhere a person is named — the roster, the head, open and
past help requests, follow-ups, notices and preferences. Any other local name stays as it is:
new shifts, swaps and heads must name a community worker's account, and `linli duty shifts`
shows the old rows to re-roster. The worker grants fill from the IDENTITY stream (its durable
consumer starts at the stream's beginning).
"""

import hashlib
from base64 import b32encode
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "nt0009"
down_revision: str | None = "nt0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The demo roster's names and the phones of the demo accounts of the same people.
DEMO_WORKERS = {"worker-he": "+8613800000006", "worker-li": "+8613800000003", "worker-chen": "+8613800000016",
                "worker-zhao": "+8613800000007", "worker-sun": "+8613800000017"}
# (table, column) naming a person.
PERSON_COLUMNS = [
    ("nf_community", "head_id"),
    ("nf_duty_shift", "worker_id"), ("nf_duty_shift", "backup_id"),
    ("nf_duty_swap", "from_worker_id"), ("nf_duty_swap", "to_worker_id"),
    ("nf_help_request", "assignee_id"), ("nf_help_request", "backup_id"), ("nf_help_request", "head_id"),
    ("nf_help_request_transition", "actor_id"), ("nf_help_request_transition", "assignee_id"),
    ("nf_follow_up", "assignee_id"),
    ("nf_notice", "recipient_id"),
]


def demo_account_id(phone: str) -> str:
    # linli_runtime.demo.demo_account_id, frozen here as this migration found it.
    digest = b32encode(hashlib.sha256(f"linli-demo:{phone}".encode()).digest()).decode()
    return "acc_" + digest[:20].lower()


def upgrade() -> None:
    op.create_table(
        "nf_worker_grant",
        sa.Column("grant_name", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("grant_name"),
    )
    op.create_index("ix_nf_worker_grant_account_id", "nf_worker_grant", ["account_id"])
    for name, phone in DEMO_WORKERS.items():
        account = demo_account_id(phone)
        for table, column in PERSON_COLUMNS:
            op.execute(sa.text(f"UPDATE {table} SET {column} = :account WHERE {column} = :name").bindparams(
                account=account, name=name))
        # Preferences are keyed by the person: moved unless the account already has its own.
        op.execute(sa.text("UPDATE nf_preferences SET recipient_id = :account WHERE recipient_id = :name AND NOT "
                           "EXISTS (SELECT 1 FROM nf_preferences p WHERE p.recipient_id = :account)").bindparams(
            account=account, name=name))


def downgrade() -> None:
    op.drop_index("ix_nf_worker_grant_account_id", table_name="nf_worker_grant")
    op.drop_table("nf_worker_grant")
