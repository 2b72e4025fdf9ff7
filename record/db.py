"""Engine and sessions for the production record. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from config.settings import get_settings


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: the settings' record), made once per URL, tables created."""
    return _engine_for(url or get_settings().db_url)


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        get_settings().home.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" below open transactions
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):  # noqa: ANN001
            # Take the write lock up front: a deferred transaction that later writes can fail
            # with "database is locked" instead of waiting for the other writer.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif url.startswith("postgresql"):
        # Times in the record are UTC in columns without a zone: make the server's session zone UTC too, or
        # aware datetimes would be shifted into the server's local time. Up to 50 connections: every queue
        # claimer (web request, CLI, worker) holds one for a few milliseconds.
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40,
                               connect_args={"options": "-c timezone=UTC"})
    else:
        engine = create_engine(url, pool_pre_ping=True)
    from record import models  # noqa: F401  (registers the tables)

    SQLModel.metadata.create_all(engine)
    return engine


@contextmanager
def transaction(url: str | None = None) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        with session.begin():
            yield session
