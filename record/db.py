"""Engine and sessions for the production record: :func:`get_engine` (one per URL, its schema brought up to date
by :func:`record.schema.upgrade`) and :func:`transaction` (one unit of work). Nothing is built at import time.

What each database gets when its engine is made, and only that, is here: SQLite's pragmas (WAL, foreign keys,
no busy handler), its file kept private (0600), its writers in turns (:func:`record.sqlite_writes.serialise_writers`:
how this process writes to SQLite lives there); PostgreSQL's pool, its UTC session zone and the check of
a pooled connection that sat idle. Claims, which take turns of their own, are :mod:`record.claims`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DatabaseError, DisconnectionError
from sqlmodel import Session, create_engine

from config.errors import Retryable
from config.settings import get_settings, url_without_password, without_password
from record.schema import head, upgrade
from record.sqlite_writes import SQLITE_BUSY_SECONDS, serialise_writers

log = logging.getLogger("postline.record")

WAL_BACKSTOP_PAGES = 20000    # SQLite checkpoints by itself past ~80 MB of WAL
PING_AFTER_IDLE_SECONDS = 5


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled server connection before use only if it sat unused for PING_AFTER_IDLE_SECONDS: a server
    restart or an idle timeout is caught (the connection replaced) as with ``pool_pre_ping``, without one more
    round trip on every checkout of a busy pool (a claim on PostgreSQL was 5 round trips, this was one)."""

    @event.listens_for(engine, "checkin")
    def _idle_since(_dbapi_conn, record):  # noqa: ANN001
        record.info["postline_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn, record, _proxy):  # noqa: ANN001
        since = record.info.get("postline_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return                                  # just connected, or used moments ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # noqa: BLE001 - any failure: the pool connects afresh (up to 3 tries)
            raise DisconnectionError(f"a pooled connection failed its check after idling: {exc}") from exc


class RecordUnreachable(Retryable):
    """The production record cannot be opened: its database server does not answer or refuses, or its SQLite file
    (or POSTLINE_HOME) cannot be made or read. The message names the record (its password hidden) and what to
    check."""


class RecordMigrationFailed(Retryable):
    """The record was opened, but a migration of its schema (record/migrations) failed; the message says so, and
    that the record is as it was."""


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: the settings' record), made once per URL, its schema at the newest
    migration. :class:`RecordUnreachable` when it cannot be opened."""
    return _engine_for(url or get_settings().db_url)


def _unreachable(url: str, exc: BaseException) -> RecordUnreachable:
    """What could not open the record ``url`` (its password hidden), and what to check."""
    cause = str(getattr(exc, "orig", None) or (exc.strerror if isinstance(exc, OSError) else exc))
    cause = cause.strip().splitlines()[0] if cause.strip() else type(exc).__name__
    where = (f"{exc.filename}: " if isinstance(exc, OSError) and exc.filename else "")
    check = ("Check POSTLINE_DATABASE_URL (or, for the SQLite default, POSTLINE_HOME): a SQLite record that postline "
             "can write, or a PostgreSQL server that runs and takes connections from this machine.")
    return RecordUnreachable(f"cannot open the production record {url_without_password(url)}: "
                             f"{without_password(where + cause, url)}. {check}")


RECORD_FILE_MODE = 0o600


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for an in-memory database or a ``file:`` URI."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def keep_record_private(path: Path) -> None:
    """The SQLite record holds people's password hashes: a new one is created readable and writable by its owner
    only (0600; SQLite gives its -wal and -shm files the mode of the record file), and an existing one (or its
    -wal/-shm) that others may read or write is tightened to 0600, with a log line saying so. The folders
    around it keep the mode the studio gave them (the archive and deliveries may be shared with a group)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, RECORD_FILE_MODE))
        return                                   # new and empty: SQLite takes an empty file as an empty database
    except FileExistsError:
        pass
    except OSError:
        return                                   # a folder missing or not writable: SQLite's own error says so
    if not _is_sqlite(path):
        return          # not a record (POSTLINE_DATABASE_URL naming another file): left as it is; SQLite refuses it
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = file.stat().st_mode & 0o777
        except FileNotFoundError:
            continue
        if not mode & 0o077:
            continue
        try:
            os.chmod(file, RECORD_FILE_MODE)
        except OSError as exc:
            log.warning("%s is open to other users (mode %03o) and holds password hashes, but postline cannot "
                        "change its mode (%s): run `chmod 600 %s` as its owner", file, mode, exc.strerror, file)
        else:
            log.warning("%s was open to other users (mode %03o) and holds password hashes: it is now %03o, "
                        "for its owner only", file, mode, RECORD_FILE_MODE)


SQLITE_HEADER = b"SQLite format 3\x00"


def _is_sqlite(path: Path) -> bool:
    """``path`` is a SQLite database file, or empty (SQLite makes one of it): a file postline may own."""
    try:
        with open(path, "rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except OSError:
        return False
    return head in (b"", SQLITE_HEADER)


def _write_ahead(cursor) -> None:  # noqa: ANN001 - a sqlite3 cursor
    """Put the record in WAL mode (once set, it stays in the file). On a new record, still in SQLite's default
    mode, another process may hold its write lock (creating the tables, or switching it to WAL itself): SQLite
    then refuses at once, "database is locked", without waiting (its busy handler would deadlock). Tried again
    for up to SQLITE_BUSY_SECONDS: one of four processes opening a new record together failed so."""
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        try:
            get_settings().home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unreachable(url, exc) from exc
        record_file = _sqlite_file(url)
        if record_file is not None:
            keep_record_private(record_file)
        # Keep up to 32 connections open, 64 at most: a thread waiting for a pooled connection is not served
        # in order (the writers' turns are: record.sqlite_writes), and an overflow connection is closed when
        # given back, so under load the pool would churn. SQLite connections are cheap.
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False},
                               pool_size=32, max_overflow=32)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" below open transactions
            cur = dbapi_conn.cursor()
            _write_ahead(cur)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # Checkpoints run after a commit, outside the writers' turn (record.sqlite_writes), not inside the
            # commit of whoever crosses 1000 pages of WAL: that stalled every waiting writer for ~0.7 s in
            # bench/queue.py. The automatic one stays as a backstop for a process that writes little.
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
            cur.execute("PRAGMA busy_timeout=0")  # from here on, lock waits are sqlite_writes._begin_polling's
            cur.close()

        serialise_writers(engine)
    elif url.startswith("postgresql"):
        # Times in the record are UTC in columns without a zone: make the server's session zone UTC too, or
        # aware datetimes would be shifted into the server's local time. Keeps up to 32 connections open (48 at
        # most): every queue claimer (web request, worker thread) holds one for a few milliseconds, and an
        # overflow connection is closed when given back, so a small pool would open connections under load.
        engine = create_engine(url, pool_size=32, max_overflow=16, connect_args={"options": "-c timezone=UTC"})
        _ping_when_idle(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    try:                      # reached at all? (a migration's own failure below is said as what it is)
        with engine.connect():
            pass
    except DatabaseError as exc:
        engine.dispose()
        raise _unreachable(url, exc) from exc
    try:
        upgrade(engine)
    except (DatabaseError, OSError) as exc:
        engine.dispose()
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise RecordMigrationFailed(
            f"the production record {url_without_password(url)} was opened, but bringing it to this postline's "
            f"version (migration {head()}) failed: {without_password(cause[0] if cause else type(exc).__name__, url)}."
            " Each migration runs whole or not at all: the record is as it was. Run it again once the cause is "
            "fixed (a full disk, a lock another program holds); if it fails again, keep a copy of the record and "
            "ask for help with this message.") from exc
    return engine


@contextmanager
def transaction(url: str | None = None) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        with session.begin():
            yield session


ORDER_CREATION_LOCK = 0x706F73746C696E66    # PostgreSQL advisory lock: one order made at a time (its card checked)
ORDER_LOCK = 0x706F7374                      # with an order's id: what checks the order's record and then writes


def one_at_a_time(session: Session, key: int, of: int | None = None) -> None:
    """Hold ``session``'s transaction to itself among those that ask for ``key`` (and ``of``, an id: one order's,
    say) until it ends: what it checks and then writes (an order's card against earlier orders', a photo against
    the order's photos of the same bytes) cannot be checked by another meanwhile. SQLite: nothing to do, every
    transaction holds the write lock from its start (record.sqlite_writes); PostgreSQL: an advisory lock for the
    transaction."""
    if session.get_bind().dialect.name != "postgresql":
        return
    if of is None:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        session.execute(text("SELECT pg_advisory_xact_lock(CAST(:key AS integer), CAST(:of AS integer))"),
                        {"key": key, "of": of})
