"""Engine and sessions for the production record. Nothing is built at import time."""

from __future__ import annotations

import random
import sqlite3
import copy
import logging
import os
import threading
import weakref
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session, SQLModel, create_engine

from config.settings import get_settings


log = logging.getLogger("postline.record")

SQLITE_BUSY_SECONDS = 30
T = TypeVar("T")
CHECKPOINT_EVERY = 200        # commits of this process between WAL checkpoints
WAL_BACKSTOP_PAGES = 20000    # SQLite checkpoints by itself past ~80 MB of WAL


class Turns:
    """First come, first served turns: at most ``slots`` holders at once; the others wait in line and are
    handed a freed turn in the order they came (a freed turn goes straight to the next in line, so a thread
    arriving just then cannot jump the queue).

    Used for this process's SQLite writers (one slot, see :func:`_serialise_writers`) and for its claims on
    PostgreSQL (``POSTLINE_CLAIMS_AT_ONCE``, see :func:`claim_turns`)."""

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError("Turns needs at least one slot")
        self.slots = slots
        self._mutex = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._free = slots

    def acquire(self, timeout: float) -> bool:
        """Take a turn, waiting up to ``timeout`` seconds; False: none came in time."""
        with self._mutex:
            if self._free:
                self._free -= 1
                return True
            turn = threading.Event()
            self._waiting.append(turn)
        try:
            if turn.wait(timeout):
                return True
        except BaseException:      # interrupted while waiting (Ctrl-C): leave the line, passing on a turn just given
            with self._mutex:
                if not turn.is_set():
                    self._waiting.remove(turn)
                    raise
            self.release()
            raise
        with self._mutex:  # gave up waiting; unless the turn came just now
            if turn.is_set():
                return True
            self._waiting.remove(turn)
            return False

    def release(self) -> None:
        """Give a turn back: to the next in line, if anyone waits."""
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()  # handed straight to the next in line
            else:
                self._free += 1



def _begin_polling(dbapi_conn) -> None:  # noqa: ANN001
    """BEGIN IMMEDIATE, waiting for a writer of another process by polling every 0.2-2 ms instead of in
    SQLite's busy handler, whose sleeps grow to 100 ms (a writer can wait seconds after the lock is free).
    The connection's busy timeout is 0 (set when it connects): every transaction starts here and holds the
    write lock from its first statement, so nothing after BEGIN waits for a lock in WAL mode. (Switching the
    timeout off and on around each BEGIN cost two more calls inside the writers' turn: bench/queue.py, 32
    claimers, p99 ~30 -> ~22 ms.)"""
    deadline, pause = time.monotonic() + SQLITE_BUSY_SECONDS, 0.0002
    while True:
        try:
            dbapi_conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
        time.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 2, 0.002)


class _Checkpointer:
    """Copies the WAL back into the database file on a thread of its own, on its own connection, when asked
    (every CHECKPOINT_EVERY commits): PASSIVE, so it waits for nobody and nobody waits for it. Done inside
    the commit of whoever was 200th, the copy and its fsyncs (tens to hundreds of ms on a busy disk) were
    that person's wait: bench/queue.py's p99 at 32 claimers was those commits."""

    def __init__(self, engine: Engine) -> None:
        self._url = engine.url      # not the engine: the engine's own listeners hold this, and it must be freed
        self._wanted = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def request(self) -> None:
        if self._url.database in (None, "", ":memory:"):
            return                       # nothing on disk, no WAL
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="postline-wal-checkpoint", daemon=True)
                self._thread.start()
        self._wanted.set()

    def _run(self) -> None:
        url = self._url
        connection = sqlite3.connect(url.database, timeout=SQLITE_BUSY_SECONDS, check_same_thread=False,
                                     uri=str(url.query.get("uri", "")).lower() == "true")  # as the engine opens it
        try:
            while self._wanted.wait():
                self._wanted.clear()
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    pass  # a busy or vanished file: the next request (or SQLite's own backstop) tries again
        finally:
            connection.close()


class _SqliteWriters:
    """This process's writers of one SQLite database: their turns (one at a time), their write transactions,
    and a WAL checkpoint (on its own thread) every CHECKPOINT_EVERY commits."""

    def __init__(self, engine: Engine) -> None:
        self.turns = Turns(1)
        self.checkpoints = _Checkpointer(engine)
        self.commits = 0
        self.shared = _SharedWrites(engine)

    def begin(self, dbapi_conn) -> bool:  # noqa: ANN001
        """Take a turn, then BEGIN IMMEDIATE; whether a turn was taken (without one after SQLITE_BUSY_SECONDS,
        the transaction still waits for SQLite's lock, polling)."""
        turn = self.turns.acquire(SQLITE_BUSY_SECONDS)
        try:
            _begin_polling(dbapi_conn)
        except BaseException:
            if turn:
                self.turns.release()
            raise
        return turn

    def end(self, dbapi_conn, *, commit: bool, turn: bool) -> None:  # noqa: ANN001
        """COMMIT (or ROLLBACK) if a transaction is open, then pass the turn on."""
        checkpoint = False
        try:
            if dbapi_conn is not None and dbapi_conn.in_transaction:
                dbapi_conn.commit() if commit else dbapi_conn.rollback()
            if commit and turn:                 # counted inside the turn: one writer at a time
                self.commits += 1
                checkpoint = self.commits % CHECKPOINT_EVERY == 0
        finally:
            if turn:
                self.turns.release()
        if checkpoint:
            self.checkpoints.request()


_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, _SqliteWriters] = weakref.WeakKeyDictionary()


def _serialise_writers(engine: Engine) -> None:
    """Every transaction takes SQLite's write lock up front (BEGIN IMMEDIATE: a deferred transaction that
    later writes can fail with "database is locked" instead of waiting), after its turn in the process's
    :class:`Turns` (one slot); the turn passes on once the COMMIT or ROLLBACK is done.

    SQLite lets one writer in at a time. Left to itself, a writer that finds the database locked sleeps in
    SQLite's busy handler for 1, 2, 5, 10 ... 100 ms and tries again, so under contention waits grow to
    seconds and the order is unfair (measured by bench/queue.py: p99 3.8 s with 32 claimers). Threads of
    this process (web requests, the flow's task threads) queue here instead and are handed the turn the moment
    the previous writer commits. Writers in other processes still meet SQLite's busy timeout."""
    writers = _SQLITE_WRITERS[engine] = _SqliteWriters(engine)

    def end(conn, info: dict, *, commit: bool) -> None:  # noqa: ANN001
        writers.end(conn, commit=commit, turn=info.pop("postline_turn", False))

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn):  # noqa: ANN001
        dbapi_conn = conn.connection.dbapi_connection
        if not conn.info.get("postline_turn"):
            conn.info["postline_turn"] = writers.begin(dbapi_conn)
            return
        try:                                            # still holds its turn: only the BEGIN
            _begin_polling(dbapi_conn)
        except BaseException:
            end(dbapi_conn, conn.info, commit=False)
            raise

    # SQLAlchemy announces commit and rollback before doing them; do them here, so the turn passes on only
    # once the lock is free (the driver's own commit/rollback after this finds no transaction and does nothing).
    @event.listens_for(engine, "commit")
    def _commit(conn):  # noqa: ANN001
        end(conn.connection.dbapi_connection, conn.info, commit=True)

    @event.listens_for(engine, "rollback")
    def _rollback(conn):  # noqa: ANN001
        end(conn.connection.dbapi_connection, conn.info, commit=False)

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn, record):  # noqa: ANN001  - a connection given back mid-transaction
        if record.info.pop("postline_turn", False):
            writers.turns.release()


@contextmanager
def sqlite_write(engine: Engine) -> Iterator[sqlite3.Connection]:
    """A pooled driver connection of SQLite ``engine`` inside one write transaction (BEGIN IMMEDIATE ...
    COMMIT, ROLLBACK on an exception), in this process's writers' turn like every transaction of the engine:
    the shared writes' batches (:class:`_SharedWrites`: queue claims), without a Session or Connection around them."""
    writers = _SQLITE_WRITERS[engine]
    pooled = engine.raw_connection()
    try:
        dbapi_conn = pooled.driver_connection
        turn = writers.begin(dbapi_conn)
        try:
            yield dbapi_conn
        except BaseException:
            writers.end(dbapi_conn, commit=False, turn=turn)
            raise
        writers.end(dbapi_conn, commit=True, turn=turn)
    finally:
        pooled.close()


class _Job:
    __slots__ = ("work", "done", "result", "error")

    def __init__(self, work: Callable[[sqlite3.Connection], object]) -> None:
        self.work, self.done, self.result, self.error = work, threading.Event(), None, None


class _SharedWrites:
    """Short writes from this process's threads to one SQLite database, done one after another by one thread
    in shared transactions: whoever asks while a transaction is under way is in the next one.

    SQLite has one writer at a time, and a commit costs about as much as a queue claim itself; worse, handing
    the writers' turn from thread to thread waits for the interpreter's lock each time (as long again as the
    claim: bench/queue.py, 32 claimers). Here one thread runs the jobs back to back, each inside a savepoint of
    its own, and commits once per batch. A job that fails leaves nothing behind and the others of its batch go
    on, unless its failure made SQLite give up the whole transaction (disk full, I/O error): then, as when BEGIN
    or COMMIT fails, every job of the batch fails. The batch's transaction takes the writers' turn like any
    other, so it stays in line with the other writers of the process. The thread ends when the engine is gone."""

    MAX_BATCH = 64
    IDLE_CHECK_SECONDS = 30

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)     # not the engine itself: the engine's listeners hold this
        self._mutex = threading.Lock()
        self._wake = threading.Condition(self._mutex)
        self._pending: list[_Job] = []
        self._thread: threading.Thread | None = None
        self._pid = 0

    def run(self, work: Callable[[sqlite3.Connection], T], timeout: float) -> T:
        """``work(connection)`` in a shared write transaction, committed; its result, or its exception."""
        job = _Job(work)
        with self._mutex:
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                if self._pid != os.getpid():       # a forked child: the parent's thread and line are not here
                    self._pending = []
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._serve, name="postline-shared-writes", daemon=True)
                self._thread.start()
            self._pending.append(job)
            self._wake.notify()
        try:
            finished = job.done.wait(timeout)
        except BaseException:                      # interrupted (Ctrl-C): leave the line if not yet taken
            self._leave(job)
            raise
        if not finished:
            if self._leave(job):
                raise TimeoutError(f"the production record was busy for {timeout:.0f} s")
            job.done.wait()                        # under way: its outcome is on its way
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _leave(self, job: _Job) -> bool:
        """Take ``job`` out of the line; False when the writing thread has it already."""
        with self._mutex:
            if job in self._pending:
                self._pending.remove(job)
                return True
            return False

    def _serve(self) -> None:
        while True:
            with self._mutex:
                while not self._pending:
                    if not self._wake.wait(self.IDLE_CHECK_SECONDS) and self._engine() is None:
                        return                     # nobody can ask any more
                batch, self._pending = self._pending[:self.MAX_BATCH], self._pending[self.MAX_BATCH:]
            try:
                self._write(batch)
            except BaseException as exc:  # noqa: BLE001 - the transaction failed: none of the batch was kept
                for job in batch:
                    job.result, job.error = None, _own_copy(exc)
            for job in batch:
                job.work = None                    # drop what the job held (the claim's engine, among others)
                job.done.set()
            batch = job = None                     # nor hold the last batch while idle

    def _write(self, batch: list[_Job]) -> None:
        engine = self._engine()
        if engine is None:
            raise RuntimeError("the production record's engine is gone")
        with sqlite_write(engine) as dbapi_conn:
            for job in batch:
                dbapi_conn.execute("SAVEPOINT job")
                try:
                    job.result = job.work(dbapi_conn)
                except Exception as exc:  # noqa: BLE001 - the job's own failure, handed to its caller
                    job.error = exc
                    if not dbapi_conn.in_transaction:   # SQLite gave the whole transaction up
                        raise
                    dbapi_conn.execute("ROLLBACK TO job")
                dbapi_conn.execute("RELEASE job")


def _own_copy(exc: BaseException) -> BaseException:
    """A copy of ``exc`` for one of the several callers it is raised to (each raise writes its traceback into
    the exception object)."""
    try:
        mine = copy.copy(exc)
    except Exception:  # noqa: BLE001 - an exception that cannot be copied: share it
        return exc
    mine.__cause__ = exc
    return mine


def shared_write(engine: Engine, work: Callable[[sqlite3.Connection], T], *,
                 timeout: float = 2 * SQLITE_BUSY_SECONDS) -> T:
    """``work(connection)`` (a few statements on SQLite ``engine``'s driver connection; no commit) in a write
    transaction shared with other threads' (see :class:`_SharedWrites`); its result, or its exception.
    TimeoutError when the record stayed busy for ``timeout`` seconds before the job was taken (once taken, it
    waits for the writers' turn, up to SQLITE_BUSY_SECONDS more). Not from a thread that holds the writers'
    turn (inside :func:`transaction`): the writing thread would wait for that turn."""
    return _SQLITE_WRITERS[engine].shared.run(work, timeout)


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


_CLAIM_TURNS: weakref.WeakKeyDictionary[Engine, Turns] = weakref.WeakKeyDictionary()


def claim_turns(engine: Engine) -> Turns | None:
    """The turns this process's queue claims take on ``engine``: on SQLite the writers' turns (one at a
    time, as every write transaction), on PostgreSQL ``POSTLINE_CLAIMS_AT_ONCE`` claims at once. None for
    other databases.

    PostgreSQL: with many claimers at once (32 threads of a web server, say) on a small machine, the server
    spends its time switching between backends that all race for the same first rows of the queue, and the
    p99 of a claim followed the tail of that contention; about one run in six fell into a slow state at
    ~500 claims/s, as pgbench (PostgreSQL's own client) did with 32 connections. A few claims at a time,
    the rest waiting their turn in order, keeps the tail short: figures in bench/README.md."""
    if engine in _SQLITE_WRITERS:
        return _SQLITE_WRITERS[engine].turns
    return _CLAIM_TURNS.get(engine)


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: the settings' record), made once per URL, tables created."""
    return _engine_for(url or get_settings().db_url)


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


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    if url.startswith("sqlite"):
        get_settings().home.mkdir(parents=True, exist_ok=True)
        record_file = _sqlite_file(url)
        if record_file is not None:
            keep_record_private(record_file)
        # Keep up to 32 connections open, 64 at most: a thread waiting for a pooled connection is not served
        # in order (the writers' queue below is), and an overflow connection is closed when given back, so
        # under load the pool would churn. SQLite connections are cheap.
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False},
                               pool_size=32, max_overflow=32)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001
            dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" below open transactions
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            # Checkpoints run after a commit, outside the writers' turn (below), not inside the commit of whoever
            # crosses 1000 pages of WAL: that stalled every waiting writer for ~0.7 s in bench/queue.py.
            # The automatic one stays as a backstop for a process that writes little.
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES}")
            cur.execute("PRAGMA busy_timeout=0")  # from here on, lock waits are _begin_polling's
            cur.close()

        _serialise_writers(engine)
    elif url.startswith("postgresql"):
        # Times in the record are UTC in columns without a zone: make the server's session zone UTC too, or
        # aware datetimes would be shifted into the server's local time. Keeps up to 32 connections open (48 at
        # most): every queue claimer (web request, worker thread) holds one for a few milliseconds, and an
        # overflow connection is closed when given back, so a small pool would open connections under load.
        engine = create_engine(url, pool_size=32, max_overflow=16, connect_args={"options": "-c timezone=UTC"})
        _ping_when_idle(engine)
        _CLAIM_TURNS[engine] = Turns(get_settings().claims_at_once)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    from record import models  # noqa: F401  (registers the tables)

    SQLModel.metadata.create_all(engine)
    _add_missing_columns(engine)
    return engine


def _add_missing_columns(engine: Engine) -> None:
    """A record written by an earlier postline gets the columns (and indexes) added since: each with its
    default, so old rows read as they did. Only additions; nothing is renamed or dropped."""
    from sqlalchemy import inspect

    with engine.begin() as conn:
        inspector = inspect(conn)
        for table in SQLModel.metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                default = column.default.arg if column.default is not None and column.default.is_scalar else None
                render = column.type.literal_processor(dialect=engine.dialect)   # PostgreSQL: false, not 0
                literal = "" if default is None else f" DEFAULT {render(default) if render else repr(default)}"
                null = "" if column.nullable or default is not None else " NULL"
                conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}{literal}{null}')
            for index in table.indexes:
                index.create(conn, checkfirst=True)


@contextmanager
def transaction(url: str | None = None) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        with session.begin():
            yield session
