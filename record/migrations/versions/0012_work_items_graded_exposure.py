"""work_items.exposure_ev and kept_white: the exposure grading used for the photo in that round

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # work graded before has none: a file made again from it is graded as a first pass was then, with the
    # preset's exposure (tasks/stages.py, _Pass.again)
    op.add_column('work_items', sa.Column('exposure_ev', sa.Float(), nullable=True))
    op.add_column('work_items', sa.Column('kept_white', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # not in batch mode: on SQLite that copies `work_items` into a new table, which the foreign keys to it refuse
    op.drop_column('work_items', 'kept_white')
    op.drop_column('work_items', 'exposure_ev')
