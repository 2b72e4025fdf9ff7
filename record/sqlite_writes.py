"""How this process writes to a SQLite record: one writer at a time, in turns, and claims in shared batches.

SQLite lets one writer in at a time. This module owns everything postline does about it (the record's rules,
its tables and moves, are elsewhere: :mod:`record.moves`; the engine is made in :mod:`record.db`, which calls
:func:`serialise_writers` on every SQLite engine):

- every write transaction takes this process's writers' turn (:class:`record.turns.Turns`, one slot), then
  SQLite's write lock up front (``BEGIN IMMEDIATE``, polled: :func:`_begin_polling`), and passes the turn on
  when its COMMIT or ROLLBACK is done;
- every CHECKPOINT_EVERY commits the WAL is copied back into the database file by a thread of its own
  (:class:`_Checkpointer`), not inside somebody's commit;
- short writes of many threads (queue claims: :func:`record.claims.claim`) share transactions
  (:func:`shared_write`): one thread runs them back to back, each in a savepoint, one COMMIT per batch.

Each piece is here for a measured reason (bench/queue.py; figures in bench/README.md): with 32 claimers in one
process, SQLite's own busy handler gave a p99 of 3.8 s, a checkpoint inside a commit 186 ms, one commit per
claim 22-36 ms; now 6-10 ms. For a handful of retouchers any of these would do; a web server's thread pool
claiming at once is what they are for.
"""

from __future__ import annotations

import copy
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

from record.turns import Turns

SQLITE_BUSY_SECONDS = 30      # longest wait for another writer (another process's: SQLite's lock)
CHECKPOINT_EVERY = 200        # commits of this process between WAL checkpoints
T = TypeVar("T")


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


def serialise_writers(engine: Engine) -> None:
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
    # A connection SQLAlchemy invalidated (a Ctrl-C landing just after a statement ran, a lost connection) is
    # closed already, so SQLite's lock is free; its turn goes back when it is checked in (below). Asking it for
    # its driver connection would raise PendingRollbackError in place of the KeyboardInterrupt.
    @event.listens_for(engine, "commit")
    def _commit(conn):  # noqa: ANN001
        if not conn.invalidated:
            end(conn.connection.dbapi_connection, conn.info, commit=True)

    @event.listens_for(engine, "rollback")
    def _rollback(conn):  # noqa: ANN001
        if not conn.invalidated:
            end(conn.connection.dbapi_connection, conn.info, commit=False)

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn, record):  # noqa: ANN001  - a connection given back mid-transaction
        if record.info.pop("postline_turn", False):
            writers.turns.release()


def writers_turns(engine: Engine) -> Turns | None:
    """The writers' turns of SQLite ``engine`` in this process (one at a time); None for any other engine."""
    writers = _SQLITE_WRITERS.get(engine)
    return None if writers is None else writers.turns


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
    turn (inside :func:`record.db.transaction`): the writing thread would wait for that turn."""
    return _SQLITE_WRITERS[engine].shared.run(work, timeout)
