"""black_and_white_requests: the photos asked for in black and white too (the gallery's tick, `postline order bw`)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel's column types)
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('black_and_white_requests',
    sa.Column('photo_id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], ),
    sa.PrimaryKeyConstraint('photo_id')
    )
    with op.batch_alter_table('black_and_white_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_black_and_white_requests_order_id'), ['order_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('black_and_white_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_black_and_white_requests_order_id'))

    op.drop_table('black_and_white_requests')
