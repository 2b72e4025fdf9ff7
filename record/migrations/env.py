"""Alembic's entry into postline's record: run by :mod:`record.schema` on a connection it gives (inside its
transaction and lock), against the models' metadata (for autogenerate)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from record import models  # noqa: F401  (registers the tables)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("postline's migrations run through record.schema: get_engine() applies them, and "
                       "`python -m record.schema new MESSAGE` writes a new one")
context.configure(connection=connection, target_metadata=SQLModel.metadata, compare_type=True,
                  render_as_batch=connection.dialect.name == "sqlite")   # SQLite alters tables by copying them
with context.begin_transaction():
    context.run_migrations()
