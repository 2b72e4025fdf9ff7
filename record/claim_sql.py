"""The claim statement: the SQL a queue claim sends, written out per database, and how it is run and read back.

A claim picks the first queued work item of the asked stages in queue order, moves it QUEUED -> CLAIMED and
writes the CLAIMED event, with no room for another claimer in between:

- PostgreSQL (:data:`POSTGRES_CLAIM`): pick, guarded update and event in one statement, one round trip. The
  pick is ``FOR UPDATE SKIP LOCKED``: claimers skip rows others hold instead of waiting. The guard is the
  pick's: ``FOR UPDATE`` locks the row and re-checks ``status = 'queued'`` on its newest version, and the lock
  holds until the commit, so the update needs only the id, a primary-key lookup. (With the status test
  repeated there, or with ``id IN (...)``, on a table without statistics yet - a fresh record, a bulk enqueue
  before autovacuum's ANALYZE - PostgreSQL found the row by walking every queued entry of the pick's index:
  bench/queue.py, 32 claimers, ~600 instead of ~2,300 claims a second in those runs.)
- SQLite (:data:`SQLITE_CLAIM`, then :data:`SQLITE_CLAIM_EVENT`, in one ``BEGIN IMMEDIATE`` transaction:
  one writer at a time): ``UPDATE ... WHERE id = (pick) AND status = 'queued' RETURNING ...``.

The move is the one :func:`record.moves.move_item` makes: :func:`statements` checks, before the first claim,
that QUEUED -> CLAIMED is in the table of allowed moves, that the statement sets the same columns, and that
its statuses, event kind and tables are the models' (:data:`record.moves.ALLOWED_WORK`).

Why plain SQL on the driver's cursor and not the ORM: a claim runs many times a second with dozens of claimers
in one process. Through the ORM it cost ~0.8 ms of CPU (statement cache keys, ORM loading, the event object's
flush) for a statement the database runs in a few microseconds; with 32 claimer threads sharing one interpreter
that CPU is the latency. So the claim runs on the DBAPI cursor (the session's, or a pooled connection's), and
the WorkItem is built from the RETURNING row (:func:`item_from_values`). Which stages, whose turn and which
transaction are :mod:`record.claims`'s.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache

from sqlalchemy import DateTime
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from record.models import Person, StageEvent, WorkItem, WorkStatus, utcnow
from record.moves import ALLOWED_WORK, WORK_EVENT, IllegalMove, columns_set_by

# --- the statements ----------------------------------------------------------------------------------------------
# Parameters are written ``:name`` (SQLite's style); PostgreSQL's driver gets ``%(name)s`` (_in_dialect). The
# statuses and the event kind are literals, so a prepared statement's generic plan is planned for the 'queued'
# rows, not for any status.

# The first queued item in queue order: rush orders first, then the nearest due date (none last), then the
# oldest. ``queue_rank`` carries the order's part, so the pick walks ix_items_queue_pick in order and stops at
# the first item that meets {only} (the stage and skill tests below): no sort.
PICK_NEXT = """SELECT id FROM work_items
 WHERE status = 'queued'{only}
 ORDER BY queue_rank, created_at, id
 LIMIT 1"""

# {only}, part 1: one of the asked stages (:s0, :s1, ...).
OF_STAGES = " AND stage IN ({stages})"

# {only}, part 2: the claimer has the skill for {stage} (the item's own column, or each asked stage):
# ',a,b,' holds ',a,' - the same test as people.skills_named's split, on one uncorrelated subquery.
# {find} is SQLite's instr or PostgreSQL's strpos.
HAS_SKILL = " AND {find}((SELECT ',' || skills || ',' FROM people WHERE name = :actor), ',' || {stage} || ',') > 0"

# The move QUEUED -> CLAIMED: the columns record.moves.move_item sets for it (checked).
CLAIM_SET = ("status = 'claimed', updated_at = :now, reason = NULL, claimed_by = :actor, "
             "lease_expires_at = :expires, attempt = attempt + 1")

SQLITE_CLAIM = """UPDATE work_items SET {sets}
 WHERE id = ({pick}) AND status = 'queued'
 RETURNING {columns}"""

# The CLAIMED event: the columns move_item's StageEvent gets (reason and blamed_stage stay NULL). On the item's
# first claim (attempt 1) it carries the queue wait: queued_at, the item's ENQUEUED time (a seek in
# ix_events_item_kind_at), and seconds from then to now (record.moves.queue_wait). :id ... :attempt are the
# claimed row's (RETURNING).
SQLITE_CLAIM_EVENT = """INSERT INTO stage_events (order_id, photo_id, work_item_id, stage, round, kind, actor, at,
                          queued_at, seconds)
 SELECT :order_id, :photo_id, :id, :stage, :round, 'claimed', :actor, :now,
        queued.at, (julianday(:now) - julianday(queued.at)) * 86400.0
 FROM (SELECT (SELECT min(at) FROM stage_events
               WHERE work_item_id = :id AND kind = 'enqueued' AND :attempt = 1) AS at) AS queued"""

POSTGRES_CLAIM = """WITH picked AS ({pick} FOR UPDATE SKIP LOCKED),
 claimed AS (UPDATE work_items SET {sets} WHERE id = (SELECT id FROM picked) RETURNING {columns}),
 claim_event AS (INSERT INTO stage_events (order_id, photo_id, work_item_id, stage, round, kind, actor, at,
                                           queued_at, seconds)
                 SELECT c.order_id, c.photo_id, c.id, c.stage, c.round, 'claimed', :actor, :now, q.at,
                        CAST(EXTRACT(EPOCH FROM (c.updated_at - q.at)) AS DOUBLE PRECISION)
                 FROM claimed c LEFT JOIN LATERAL (SELECT min(e.at) AS at FROM stage_events e
                      WHERE e.work_item_id = c.id AND e.kind = 'enqueued' AND c.attempt = 1) q ON true)
 SELECT {columns} FROM claimed"""

# A claimer's skills, asked on every claim that cannot test them inside the claim statement.
SKILLS_OF = "SELECT skills FROM people WHERE name = :name"

ITEM_COLUMNS = tuple(c.name for c in WorkItem.__table__.c)


def _check_statements() -> None:
    """The statements above say what the models and the table of moves say, or IllegalMove."""
    frm, to = WorkStatus.QUEUED, WorkStatus.CLAIMED
    if to not in ALLOWED_WORK[frm]:
        raise IllegalMove(f"the claim statement moves {frm} -> {to}, which the table of moves no longer allows")
    written = [("the status picked", "queued", frm.value), ("the status set", "claimed", to.value),
               ("the event kind", "claimed", WORK_EVENT[to].value),
               ("the work items' table", "work_items", WorkItem.__tablename__),
               ("the events' table", "stage_events", StageEvent.__tablename__),
               ("the people's table", "people", Person.__tablename__)]
    drifted = [f"{what} is {actual!r}, not {text!r}" for what, text, actual in written if text != actual]
    sets = set(re.findall(r"(\w+) = ", CLAIM_SET))
    if sets != columns_set_by(to):
        drifted.append(f"a move to {to} sets {sorted(columns_set_by(to))}, the statement {sorted(sets)}")
    if drifted:
        raise IllegalMove(f"the claim statement no longer matches the record: {'; '.join(drifted)}")


@lru_cache(maxsize=16)
def _in_dialect(sql: str, dialect: str) -> str:
    """``sql`` with its ``:name`` parameters as ``dialect``'s driver wants them."""
    return sql if dialect == "sqlite" else re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)


@lru_cache(maxsize=64)
def statements(dialect: str, n_stages: int | None, skilled: bool) -> tuple[str, str | None]:
    """The claim for ``dialect`` ('sqlite' or 'postgresql') and, on SQLite, the event insert that follows it
    (None on PostgreSQL: the claim writes it). Parameters: ``actor``, ``now``, ``expires``, ``s0``...
    ``n_stages``: how many stages are asked (None: any stage; ``skilled`` must then be true). ``skilled``:
    only stages the actor has the skill for, and nothing unless they have every stage asked."""
    _check_statements()
    asked = [f":s{i}" for i in range(n_stages or 0)]
    only = "" if n_stages is None else OF_STAGES.format(stages=", ".join(asked))
    if skilled:
        find = "instr" if dialect == "sqlite" else "strpos"
        only += "".join(HAS_SKILL.format(find=find, stage=stage) for stage in (asked or ["stage"]))
    parts = {"pick": PICK_NEXT.format(only=only), "sets": CLAIM_SET, "columns": ", ".join(ITEM_COLUMNS)}
    if dialect == "sqlite":
        return SQLITE_CLAIM.format(**parts), SQLITE_CLAIM_EVENT
    return _in_dialect(POSTGRES_CLAIM.format(**parts), dialect), None


# --- running them ------------------------------------------------------------------------------------------------

def claim_on_cursor(dialect, cursor, *, stages: list[str] | None, actor: str,  # noqa: ANN001
                    lease_expires_at: datetime, skilled: bool = False) -> dict[str, object] | None:
    """Claim the first queued item of ``stages`` for ``actor`` on a driver ``cursor`` of ``dialect`` (closed
    here), in whatever transaction its connection is (on PostgreSQL it may be a statement on its own, in
    autocommit). The claimed row as column values, or None: nothing left to claim."""
    if stages is None and not skilled:
        raise ValueError("a claim needs stages, or skilled=True for any stage of the actor's skills")
    if stages is not None and not stages:
        raise ValueError("a claim needs at least one stage (None: any stage of the actor's skills)")
    claim, event = statements(dialect.name, None if stages is None else len(stages), skilled)
    write_time, _ = _datetime_processors(dialect)
    now = utcnow()
    params: dict[str, object] = {f"s{i}": stage for i, stage in enumerate(stages or ())}
    params |= {"actor": actor, "now": write_time(now) if write_time else now,
               "expires": write_time(lease_expires_at) if write_time else lease_expires_at}
    try:
        cursor.execute(claim, params)
        row = cursor.fetchone()
        if row is None:
            return None
        values = dict(zip(ITEM_COLUMNS, row))
        if event is not None:
            cursor.execute(event, {**values, "actor": actor, "now": params["now"]})
    finally:
        cursor.close()
    return values


def skills_on_cursor(dialect, cursor, person: str) -> list[str] | None:  # noqa: ANN001
    """``person``'s skills, read on a driver ``cursor`` (closed here); None: nobody by that name."""
    try:
        cursor.execute(_in_dialect(SKILLS_OF, dialect.name), {"name": person})
        row = cursor.fetchone()
    finally:
        cursor.close()
    return None if row is None or row[0] is None else [s for s in row[0].split(",") if s]


def driver_cursor(session: Session):  # noqa: ANN201
    """``session``'s dialect and a cursor on the driver's connection of its transaction (begun if need be:
    SQLite's BEGIN IMMEDIATE), after the autoflush an ORM query would do, so plain SQL sees what the session
    added."""
    if session.autoflush:
        session.flush()
    connection = session.connection()
    return connection.dialect, connection.connection.dbapi_connection.cursor()


@lru_cache(maxsize=8)
def _datetime_processors(dialect) -> tuple:  # noqa: ANN001
    """How the dialect stores and reads back a DateTime (SQLite: its own text format, which must match what
    the ORM writes, or time comparisons such as an expired lease would go wrong); (None, None) when the
    driver does it."""
    impl = DateTime().dialect_impl(dialect)
    return impl.bind_processor(dialect), impl.result_processor(dialect, None)


def item_from_values(dialect, values: dict[str, object], session: Session | None = None) -> WorkItem:  # noqa: ANN001
    """The claimed WorkItem from :func:`claim_on_cursor`'s values, as the ORM would load it: ``session``'s own
    copy updated if it holds one, else a new detached instance (built the way the ORM builds loaded objects)."""
    values["status"] = WorkStatus(values["status"])
    read_time = _datetime_processors(dialect)[1]
    if read_time is not None:
        for name in ("lease_expires_at", "created_at", "updated_at"):
            values[name] = read_time(values[name])
    key = identity_key(WorkItem, values["id"])
    held = session.identity_map.get(key) if session is not None else None
    if held is not None:
        for name, value in values.items():
            set_committed_value(held, name, value)
        return held
    item = WorkItem._sa_class_manager.new_instance()
    state = instance_state(item)
    state.dict.update(values)
    state.key = key
    return item
