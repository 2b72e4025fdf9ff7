"""Baseline: the production record as postline made it before its schema changes went through migrations.

A new database gets every table. A record made by an earlier postline (tables there, no ``alembic_version``) is
brought to this schema the way that postline brought it up to date: missing tables are created, missing columns
added (an existing row gets the value the model gave new ones: ADDED_DEFAULTS; a NOT NULL column without one is
added nullable, as before), missing indexes created. Nothing is renamed or dropped.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The statuses are enums in the models, stored as their value (VARCHAR(20), no CHECK): a new status needs no
# migration. Times are aware UTC (TIMESTAMP WITH TIME ZONE on PostgreSQL) except photos.capture_time, the camera's
# clock as it wrote it.
STATUS = sa.String(20)
UTC = sa.DateTime(timezone=True)


def tables(metadata: sa.MetaData) -> None:
    """The baseline's tables, frozen here (not imported from record.models, which goes on changing)."""
    sa.Table(
        "orders", metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client", sa.String(120), nullable=False, index=True),
        sa.Column("shoot", STATUS, nullable=False),
        sa.Column("preset", sa.String(80), nullable=False),
        sa.Column("preset_version", sa.Integer()),
        sa.Column("preset_hash", sa.String(64)),
        sa.Column("preset_json", sa.String()),
        sa.Column("due", sa.Date()),
        sa.Column("rush", sa.Boolean(), nullable=False),
        sa.Column("card_folder", sa.String(1024), nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("delivery_path", sa.String(1024)),
        sa.Column("flow_run_id", sa.String(36)),
        sa.Column("revisions", sa.Integer(), nullable=False),
        sa.Column("chart_photo", sa.String(1024)),
        sa.Column("calibration_json", sa.String()),
        sa.Column("calibration_note", sa.String(1000)),
        sa.Column("deliver_chart", sa.Boolean(), nullable=False),
        sa.Column("waiting_on", sa.String(80)),
        sa.Column("line_json", sa.String()),
        sa.Column("run_flow_run_id", sa.String(36)),
        sa.Column("run_name", sa.String(200)),
        sa.Column("run_owner", sa.String(200)),
        sa.Column("run_started_at", UTC),
        sa.Column("run_expires_at", UTC),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
    )
    sa.Table(
        "people", metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(40), nullable=False, unique=True, index=True),
        sa.Column("display_name", sa.String(80), nullable=False),
        sa.Column("role", STATUS, nullable=False),
        sa.Column("skills", sa.String(800), nullable=False),
        sa.Column("password_hash", sa.String(300)),
        sa.Column("created_at", UTC, nullable=False),
    )
    sa.Table(
        "photos", metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("orders.id"), nullable=False, index=True),
        sa.Column("source_name", sa.String(1024), nullable=False),
        sa.Column("original_path", sa.String(1024)),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(8)),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("reason", sa.String(1000)),
        sa.Column("duplicate_of", sa.Integer(), sa.ForeignKey("photos.id")),
        sa.Column("width", sa.Integer()),
        sa.Column("height", sa.Integer()),
        sa.Column("orientation", sa.Integer()),
        sa.Column("camera_make", sa.String(80)),
        sa.Column("camera_model", sa.String(80)),
        sa.Column("lens", sa.String(120)),
        sa.Column("capture_time", sa.DateTime()),
        sa.Column("iso", sa.Float()),
        sa.Column("exposure_time", sa.Float()),
        sa.Column("f_number", sa.Float()),
        sa.Column("focal_length", sa.Float()),
        sa.Column("created_at", UTC, nullable=False),
        sa.UniqueConstraint("order_id", "source_name", name="uq_photo_source"),
    )
    sa.Table(
        "web_sessions", metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True, index=True),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("people.id"), nullable=False, index=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("last_seen_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("ended_at", UTC),
        sa.Column("ended_why", STATUS),
    )
    items = sa.Table(
        "work_items", metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("orders.id"), nullable=False, index=True),
        sa.Column("photo_id", sa.Integer(), sa.ForeignKey("photos.id"), nullable=False, index=True),
        sa.Column("stage", sa.String(40), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("claimed_by", sa.String(80)),
        sa.Column("lease_expires_at", UTC),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("input_path", sa.String(1024)),
        sa.Column("output_path", sa.String(1024)),
        sa.Column("output_sha256", sa.String(64)),
        sa.Column("queue_rank", sa.String(16)),
        sa.Column("reason", sa.String(1000)),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.UniqueConstraint("photo_id", "stage", "round", name="uq_item_photo_stage_round"),
        sa.Index("ix_items_queue", "stage", "status"),
    )
    sa.Index("ix_items_queue_pick", items.c.status, items.c.queue_rank, items.c.created_at, items.c.id, items.c.stage)
    sa.Table(
        "stage_events", metadata,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("orders.id"), nullable=False, index=True),
        sa.Column("photo_id", sa.Integer(), sa.ForeignKey("photos.id"), index=True),
        sa.Column("work_item_id", sa.Integer(), sa.ForeignKey("work_items.id")),
        sa.Column("stage", sa.String(40), nullable=False, index=True),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("kind", STATUS, nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("reason", sa.String(1000)),
        sa.Column("blamed_stage", sa.String(40)),
        sa.Column("seconds", sa.Float()),
        sa.Column("at", UTC, nullable=False, index=True),
    )


# What the rows of an earlier record get in a NOT NULL column added to them: the model's default for new rows.
ADDED_DEFAULTS = {
    ("orders", "rush"): sa.false(), ("orders", "revisions"): sa.text("0"), ("orders", "deliver_chart"): sa.false(),
    ("people", "skills"): sa.text("''"), ("work_items", "round"): sa.text("1"),
    ("work_items", "attempt"): sa.text("0"), ("stage_events", "round"): sa.text("1"),
}


def upgrade() -> None:
    bind = op.get_bind()
    metadata = sa.MetaData()
    tables(metadata)
    inspector = sa.inspect(bind)
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            table.create(bind)
            continue
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present:
                default = ADDED_DEFAULTS.get((table.name, column.name))
                op.add_column(table.name, sa.Column(column.name, column.type, server_default=default,
                                                    nullable=column.nullable or default is None))
        for index in table.indexes:
            index.create(bind, checkfirst=True)


def downgrade() -> None:
    raise NotImplementedError("the baseline is where the record's migrations begin: there is nothing before it")
