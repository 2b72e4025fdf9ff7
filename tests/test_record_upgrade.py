"""A production record written by an earlier postline opens in this one: the columns added since (the colour chart
frame's `deliver_chart`, a boolean; the calibration's note) are added with their defaults, on SQLite and on
PostgreSQL, and the old orders read as they did (the baseline migration, record/migrations/versions/0001_baseline.py,
takes such a record over)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from record.db import get_engine
from record.models import Order
from tests.pg import new_database, postgres_url  # noqa: F401  (the session's PostgreSQL)


@pytest.fixture(params=["sqlite", "postgres"])
def old_record(request, home) -> str:
    """A record whose orders table predates the chart columns, holding one order; its URL."""
    if request.param == "sqlite":
        home.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{home / 'old.db'}"
    else:
        url = new_database(request.getfixturevalue("postgres_url"), "old")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE orders (id INTEGER PRIMARY KEY, client VARCHAR(120) NOT NULL, "
                          "shoot VARCHAR(20) NOT NULL, preset VARCHAR(80) NOT NULL, card_folder VARCHAR(1024) NOT NULL, "
                          "status VARCHAR(20) NOT NULL, rush BOOLEAN NOT NULL, revisions INTEGER NOT NULL, "
                          "created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL)"))
        conn.execute(text("INSERT INTO orders VALUES (1, 'Old Client', 'wedding', 'bright-wedding', '/card', "
                          "'delivered', false, 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
    engine.dispose()
    return url


def test_an_earlier_record_gets_the_chart_columns_with_their_defaults(old_record):
    from sqlmodel import Session

    with Session(get_engine(old_record)) as session:
        order = session.get(Order, 1)
    assert order.client == "Old Client" and order.deliver_chart is False and order.calibration_note is None
