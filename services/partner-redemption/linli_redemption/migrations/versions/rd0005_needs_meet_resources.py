"""needs meet resources: categories, the unit on duty, availability, project states and history

Revision ID: rd0005
Revises: rd0004
Create Date: 2026-11-28 11:00:00

A need records its category, when it came in and the member unit on duty then, and its state
(open → matched → met); a resource its category and availability; a project moves open → in
progress → done or cancelled, every change kept in rd_project_change, and rd_project_resource
says which resources each project uses. Only columns are added (SQLite adds them in place, no
rebuild). Existing rows: a need came in when it was recorded and is matched or met by its
projects; a project closed by the old CloseProject is done; each project's history starts with
its creation (and its closing).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'rd0005'
down_revision: str | None = 'rd0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('rd_need', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('receive_time', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('duty_partner_id', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('state', sa.String(length=16), server_default='open', nullable=False))
    with op.batch_alter_table('rd_resource', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('available_from', sa.String(length=10), server_default='', nullable=False))
        batch_op.add_column(sa.Column('available_until', sa.String(length=10), server_default='', nullable=False))
        batch_op.add_column(sa.Column('weekdays', sa.String(length=16), server_default='', nullable=False))
        batch_op.add_column(sa.Column('capacity', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_index('ix_rd_resource_category', ['category', 'community_path'], unique=False)
    with op.batch_alter_table('rd_project', schema=None) as batch_op:
        batch_op.add_column(sa.Column('update_time', sa.DateTime(timezone=True), nullable=True))
    op.create_table('rd_project_resource',
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['rd_project.id'], ),
    sa.ForeignKeyConstraint(['resource_id'], ['rd_resource.id'], ),
    sa.PrimaryKeyConstraint('project_id', 'resource_id')
    )
    with op.batch_alter_table('rd_project_resource', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rd_project_resource_resource_id'), ['resource_id'], unique=False)
    op.create_table('rd_project_change',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('project_id', sa.String(length=64), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=False),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('actor', sa.String(length=128), server_default='', nullable=False),
    sa.Column('change_time', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['rd_project.id'], ),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('rd_project_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rd_project_change_project_id'), ['project_id'], unique=False)

    # Existing rows.
    op.execute("UPDATE rd_need SET receive_time = create_time")
    op.execute("UPDATE rd_project SET state = 'done' WHERE state = 'closed'")
    op.execute("UPDATE rd_project SET update_time = COALESCE(close_time, create_time)")
    op.execute("UPDATE rd_need SET state = 'met' WHERE id IN (SELECT need_id FROM rd_project WHERE state = 'done')")
    op.execute("UPDATE rd_need SET state = 'matched' WHERE id IN (SELECT need_id FROM rd_project WHERE state = 'open')")
    op.execute("INSERT INTO rd_project_change (project_id, from_state, to_state, note, actor, change_time) "
               "SELECT id, '', 'open', '', '', create_time FROM rd_project")
    op.execute("INSERT INTO rd_project_change (project_id, from_state, to_state, note, actor, change_time) "
               "SELECT id, 'open', 'done', outcome, '', COALESCE(close_time, create_time) FROM rd_project "
               "WHERE state = 'done'")
    bind = op.get_bind()
    known = set(bind.execute(sa.text("SELECT id FROM rd_resource")).scalars())
    links = [{"p": project_id, "r": resource_id}
             for project_id, resource_ids in bind.execute(sa.text("SELECT id, resource_ids FROM rd_project")).all()
             for resource_id in dict.fromkeys(r for r in resource_ids.split(",") if r) if resource_id in known]
    if links:
        bind.execute(sa.text("INSERT INTO rd_project_resource (project_id, resource_id) VALUES (:p, :r)"), links)


def downgrade() -> None:
    op.execute("UPDATE rd_project SET state = 'closed' WHERE state IN ('done', 'cancelled')")
    op.execute("UPDATE rd_project SET state = 'open' WHERE state = 'in_progress'")
    with op.batch_alter_table('rd_project_change', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rd_project_change_project_id'))
    op.drop_table('rd_project_change')
    with op.batch_alter_table('rd_project_resource', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rd_project_resource_resource_id'))
    op.drop_table('rd_project_resource')
    with op.batch_alter_table('rd_project', schema=None) as batch_op:
        batch_op.drop_column('update_time')
    with op.batch_alter_table('rd_resource', schema=None) as batch_op:
        batch_op.drop_index('ix_rd_resource_category')
        batch_op.drop_column('capacity')
        batch_op.drop_column('weekdays')
        batch_op.drop_column('available_until')
        batch_op.drop_column('available_from')
        batch_op.drop_column('category')
    with op.batch_alter_table('rd_need', schema=None) as batch_op:
        batch_op.drop_column('state')
        batch_op.drop_column('duty_partner_id')
        batch_op.drop_column('receive_time')
        batch_op.drop_column('category')
