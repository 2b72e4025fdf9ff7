"""Every status change of a work item or a photo, and the event it writes.

The tables of allowed moves are here and nowhere else. A move is one guarded
``UPDATE ... WHERE id = :id AND status = :expected``; if no row changed, someone
else moved it first and :class:`StaleMove` is raised. The stage event is added in
the same session, so it commits (or not) with the change. Functions take
``session`` and do not commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache

from sqlalchemy import ColumnElement, DateTime
from sqlalchemy.orm.util import identity_key
from sqlalchemy.orm.attributes import instance_state, set_committed_value
from sqlmodel import Session, select, update

from record.models import (
    EventKind, Order, OrderStatus, Person, Photo, PhotoStatus, StageEvent, WorkItem, WorkStatus, utcnow,
)
from record.runs import free_for

W = WorkStatus
ALLOWED_WORK: dict[WorkStatus, frozenset[WorkStatus]] = {
    W.QUEUED: frozenset({W.CLAIMED, W.CANCELLED}),
    W.CLAIMED: frozenset({W.SUBMITTED, W.PASSED, W.REJECTED, W.QUEUED, W.FAILED}),
    W.FAILED: frozenset({W.QUEUED}),
    W.SUBMITTED: frozenset(),
    W.PASSED: frozenset(),
    W.REJECTED: frozenset(),
    W.CANCELLED: frozenset(),
}
# The event each work move writes.
WORK_EVENT: dict[WorkStatus, EventKind] = {
    W.CLAIMED: EventKind.CLAIMED,
    W.SUBMITTED: EventKind.SUBMITTED,
    W.PASSED: EventKind.PASSED,
    W.REJECTED: EventKind.REJECTED,
    W.QUEUED: EventKind.RELEASED,
    W.FAILED: EventKind.FAILED,
    W.CANCELLED: EventKind.RELEASED,
}

P = PhotoStatus
ALLOWED_PHOTO: dict[PhotoStatus, frozenset[PhotoStatus]] = {
    P.INGESTED: frozenset({P.FAILED, P.HELD, P.PASSED, P.CULLED, P.CHART}),
    P.PASSED: frozenset({P.DELIVERED}),
    P.FAILED: frozenset(),
    P.HELD: frozenset({P.PASSED}),
    P.REJECTED: frozenset(),
    P.DUPLICATE: frozenset(),
    P.DELIVERED: frozenset({P.INGESTED}),   # a client revision sends it back into the line
    P.CULLED: frozenset(),
    P.CHART: frozenset(),
}
PHOTO_EVENT: dict[PhotoStatus, EventKind] = {
    P.CULLED: EventKind.REJECTED,
    P.CHART: EventKind.SET_ASIDE,
    P.INGESTED: EventKind.REVISED,
    P.FAILED: EventKind.FAILED,
    P.HELD: EventKind.HELD,
    P.PASSED: EventKind.PASSED,
    P.DELIVERED: EventKind.DELIVERED,
}

O = OrderStatus
ALLOWED_ORDER: dict[OrderStatus, frozenset[OrderStatus]] = {
    O.CREATED: frozenset({O.RUNNING}),
    # RUNNING -> RUNNING: a new run took over from one that died. RUNNING -> REVISION: the client asked for
    # changes while no run was live (the last one died before it could say it ended).
    O.RUNNING: frozenset({O.RUNNING, O.DELIVERED, O.FAILED, O.REVISION}),
    O.DELIVERED: frozenset({O.RUNNING, O.REVISION}),   # run again (the zip is gone), or a client revision
    O.REVISION: frozenset({O.RUNNING, O.REVISION}),
    O.FAILED: frozenset({O.RUNNING, O.REVISION}),
}


class IllegalMove(ValueError):
    """The move is not in the table of allowed moves."""


class StaleMove(RuntimeError):
    """The row was not in the expected status any more (someone else moved it)."""


def enqueue(session: Session, *, order_id: int, photo_id: int, stage: str, round: int,
            input_path: str | None, actor: str) -> WorkItem:
    item = WorkItem(order_id=order_id, photo_id=photo_id, stage=stage, round=round,
                    status=WorkStatus.QUEUED, input_path=input_path)
    session.add(item)
    session.flush()
    session.add(StageEvent(order_id=order_id, photo_id=photo_id, work_item_id=item.id, stage=stage,
                           round=round, kind=EventKind.ENQUEUED, actor=actor))
    return item


def _move_values(to: WorkStatus, *, actor: str, reason: str | None, now: datetime,
                 lease_expires_at: datetime | None, fields: dict[str, object]) -> dict[str, object]:
    """The columns one move sets: the same for a move of a known item and for a claim-the-next statement."""
    values: dict[str, object] = {"status": to, "updated_at": now, "reason": reason, **fields}
    if to is WorkStatus.CLAIMED:
        values |= {"claimed_by": actor, "lease_expires_at": lease_expires_at, "attempt": WorkItem.attempt + 1}
    elif to is WorkStatus.QUEUED:
        values |= {"claimed_by": None, "lease_expires_at": None}
    return values


def move_item(session: Session, item: WorkItem, to: WorkStatus, *, actor: str,
              reason: str | None = None, blamed_stage: str | None = None,
              seconds: float | None = None, lease_expires_at: datetime | None = None,
              guard: Iterable[ColumnElement[bool]] = (), **fields: object) -> WorkItem:
    """Move ``item`` from its current status to ``to``; extra ``fields`` are set in the same UPDATE.

    ``guard`` adds conditions to the UPDATE's WHERE (e.g. ``WorkItem.claimed_by == 'ana'``): if the row no
    longer meets them, nothing changes and :class:`StaleMove` is raised, exactly as for a changed status."""
    expected = item.status
    if to not in ALLOWED_WORK[expected]:
        raise IllegalMove(f"work item {item.id} ({item.stage}, round {item.round}) cannot go from {expected} to {to}")
    guard = tuple(guard)
    now = utcnow()
    values = _move_values(to, actor=actor, reason=reason, now=now, lease_expires_at=lease_expires_at, fields=fields)
    result = session.execute(
        update(WorkItem).where(WorkItem.id == item.id, WorkItem.status == expected, *guard).values(**values)
    )
    if result.rowcount != 1:
        raise StaleMove(f"work item {item.id} was no longer {expected}"
                        f"{' (or no longer as expected)' if guard else ''}; someone else moved it")
    session.add(StageEvent(order_id=item.order_id, photo_id=item.photo_id, work_item_id=item.id,
                           stage=item.stage, round=item.round, kind=WORK_EVENT[to], actor=actor,
                           reason=reason, blamed_stage=blamed_stage, seconds=seconds, at=now))
    session.refresh(item)
    return item


# --- claiming: the hottest statement of the record, run on the driver's connection -------------------------------
# A claim runs many times a second with dozens of claimers in one process. Through the ORM it cost ~0.8 ms of
# CPU (statement cache keys, ORM loading, the event object's flush) for a statement the database runs in a
# few microseconds; with 32 claimer threads sharing one interpreter that CPU is the latency. So the claim is
# plain SQL, written once per dialect and number of stages, run on the session's own DBAPI connection (same
# transaction), and the WorkItem is built from the RETURNING row. The columns it sets are checked against
# _move_values below, so it cannot drift from move_item.

_ITEM_COLUMNS = tuple(c.name for c in WorkItem.__table__.c)
_CLAIM_SETS = ("status", "updated_at", "reason", "claimed_by", "lease_expires_at", "attempt")
# The CLAIMED event: the same columns move_item's StageEvent gets (reason, blamed_stage, seconds stay NULL).
_EVENT_COLUMNS = ("order_id", "photo_id", "work_item_id", "stage", "round", "kind", "actor", "at")


def _claim_sets_match_moves() -> bool:
    return set(_move_values(WorkStatus.CLAIMED, actor="", reason=None, now=utcnow(), lease_expires_at=None,
                            fields={})) == set(_CLAIM_SETS)


@lru_cache(maxsize=64)
def _claim_sql(dialect: str, n_stages: int | None, order_by: tuple[str, ...],
               skilled: bool) -> tuple[str, str | None]:
    """The claim (and, on SQLite, the event insert) as SQL text with named parameters ``:name`` (SQLite) or
    ``%(name)s`` (psycopg): ``actor``, ``now``, ``expires``, ``s0``... (the statuses and the event kind are
    literals).
    ``n_stages`` None: any stage (``skilled`` must then be true). ``skilled``: only if the actor has the skill
    for the stage (and for every stage asked), read from ``people`` in the same statement."""
    frm, to = WorkStatus.QUEUED, WorkStatus.CLAIMED
    if to not in ALLOWED_WORK[frm] or not _claim_sets_match_moves():  # pragma: no cover - guards against drift
        raise IllegalMove(f"the claim statement no longer matches the table of moves ({frm} -> {to})")
    # The statuses and the event kind are the enums' fixed values, written into the statement as literals
    # (checked to be plain words): a prepared statement's generic plan is then planned for the 'queued'
    # rows, not for any status.
    literals = {"queued": frm.value, "claimed": to.value, "kind": WORK_EVENT[to].value}
    if not all(v.isidentifier() and v.isascii() for v in literals.values()):  # pragma: no cover
        raise IllegalMove(f"a status or event kind is not a plain word: {literals}")

    def p(name: str) -> str:
        if name in literals:
            return f"'{literals[name]}'"
        return f":{name}" if dialect == "sqlite" else f"%({name})s"

    items, events = WorkItem.__tablename__, StageEvent.__tablename__
    where = [f"status = {p('queued')}"]
    if n_stages is not None:
        where.append(f"stage IN ({', '.join(p(f's{i}') for i in range(n_stages))})")
    if skilled:
        # ',a,b,' holds ',a,': the same test as people.skills_named's split, on one uncorrelated subquery.
        find = "instr" if dialect == "sqlite" else "strpos"
        held = f"(SELECT ',' || skills || ',' FROM {Person.__tablename__} WHERE name = {p('actor')})"
        wanted = ["stage"] if n_stages is None else [p(f"s{i}") for i in range(n_stages)]
        where += [f"{find}({held}, ',' || {w} || ',') > 0" for w in wanted]
    pick = (f"SELECT id FROM {items} WHERE {' AND '.join(where)} "
            f"ORDER BY {', '.join(order_by)} LIMIT 1")
    sets = (f"status = {p('claimed')}, updated_at = {p('now')}, reason = NULL, claimed_by = {p('actor')}, "
            f"lease_expires_at = {p('expires')}, attempt = attempt + 1")
    returning = ", ".join(_ITEM_COLUMNS)
    if dialect == "sqlite":
        claim = (f"UPDATE {items} SET {sets} WHERE id = ({pick}) AND status = {p('queued')} "
                 f"RETURNING {returning}")
        event = (f"INSERT INTO {events} ({', '.join(_EVENT_COLUMNS)}) "
                 f"VALUES ({', '.join(p('ev_' + c) for c in _EVENT_COLUMNS)})")
        return claim, event
    claim = (f"WITH picked AS ({pick} FOR UPDATE SKIP LOCKED), "
             f"claimed AS (UPDATE {items} SET {sets} WHERE id = (SELECT id FROM picked) "
             f"RETURNING {returning}), "
             f"claim_event AS (INSERT INTO {events} ({', '.join(_EVENT_COLUMNS)}) "
             f"SELECT order_id, photo_id, id, stage, round, {p('kind')}, {p('actor')}, {p('now')} FROM claimed) "
             f"SELECT {returning} FROM claimed")
    return claim, None


@lru_cache(maxsize=8)
def _datetime_processors(dialect) -> tuple:  # noqa: ANN001
    """How the dialect stores and reads back a DateTime (SQLite: its own text format, which must match what
    the ORM writes, or time comparisons such as an expired lease would go wrong); (None, None) when the
    driver does it."""
    impl = DateTime().dialect_impl(dialect)
    return impl.bind_processor(dialect), impl.result_processor(dialect, None)


def _item_from_row(session: Session | None, values: dict[str, object], read_time) -> WorkItem:  # noqa: ANN001
    """The claimed WorkItem from its RETURNING row, as the ORM would load it: the session's own copy updated
    if it holds one, else a new detached instance (built the way the ORM builds loaded objects)."""
    values["status"] = WorkStatus(values["status"])
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


def driver_cursor(session: Session):  # noqa: ANN201
    """A cursor on the driver's connection of ``session``'s transaction (begun if need be: SQLite's BEGIN
    IMMEDIATE), after the autoflush an ORM query would do, so plain SQL sees what the session added."""
    if session.autoflush:
        session.flush()
    connection = session.connection()
    return connection.dialect, connection.connection.dbapi_connection.cursor()


def claim_first(session: Session, *, stages: list[str] | None, order_by: tuple[str, ...], actor: str,
                lease_expires_at: datetime, skilled: bool = False) -> WorkItem | None:
    """Claim the first queued work item of ``stages`` in the order of the ``order_by`` columns, with the same
    table of allowed moves, the same columns and the same CLAIMED event as :func:`move_item`, choice and claim
    in one statement so no other claimer can come between them. None: nothing left to claim.
    ``skilled``: only stages ``actor`` has the skill for, and nothing at all unless they have every one of
    ``stages`` (None: any of their skills), checked in the same statement.

    - PostgreSQL: ``WITH picked AS (SELECT id ... WHERE status = 'queued' ... ORDER BY ... LIMIT 1 FOR UPDATE
      SKIP LOCKED), claimed AS (UPDATE ... WHERE id = (SELECT id FROM picked) RETURNING ...), claim_event AS
      (INSERT INTO stage_events ... FROM claimed) SELECT ... FROM claimed``: claimers skip rows others hold
      instead of waiting, and the whole claim is one round trip. The guard is the pick's: ``FOR UPDATE``
      locks the row and re-checks ``status = 'queued'`` on its newest version, and the lock holds until the
      commit, so the update needs only the id, a primary-key lookup. (With the status test repeated there,
      or with ``id IN (...)``, on a table without statistics yet - a fresh record, a bulk enqueue before
      autovacuum's ANALYZE - PostgreSQL found the row by walking every queued entry of the pick's index:
      bench/queue.py, 32 claimers, ~600 instead of ~2,300 claims a second in those runs.)
    - SQLite (one writer at a time): ``UPDATE ... WHERE id = (SELECT ... LIMIT 1) AND status = 'queued'
      RETURNING ...``, then the event, in the same transaction."""
    dialect, cursor = driver_cursor(session)
    values = claim_on_cursor(dialect, cursor, stages=stages, order_by=order_by, actor=actor,
                             lease_expires_at=lease_expires_at, skilled=skilled)
    return None if values is None else _item_from_row(session, values, _datetime_processors(dialect)[1])


def claim_on_cursor(dialect, cursor, *, stages: list[str] | None, order_by: tuple[str, ...], actor: str,  # noqa: ANN001
                    lease_expires_at: datetime, skilled: bool = False) -> dict[str, object] | None:
    """:func:`claim_first` on a driver ``cursor`` of ``dialect`` (closed here), in whatever transaction its
    connection is (on PostgreSQL the claim may be a statement on its own, in autocommit). The claimed row as
    column values, or None. :func:`item_from_values` makes it a WorkItem."""
    if stages is None and not skilled:
        raise ValueError("claim_first needs stages, or skilled=True for any stage of the actor's skills")
    claim, event = _claim_sql(dialect.name, None if stages is None else len(stages), tuple(order_by), skilled)
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
        values = dict(zip(_ITEM_COLUMNS, row))
        if event is not None:
            cursor.execute(event, {"ev_order_id": values["order_id"], "ev_photo_id": values["photo_id"],
                                   "ev_work_item_id": values["id"], "ev_stage": values["stage"],
                                   "ev_round": values["round"], "ev_kind": WORK_EVENT[WorkStatus.CLAIMED].value, "ev_actor": actor,
                                   "ev_at": params["now"]})
    finally:
        cursor.close()
    return values


def item_from_values(dialect, values: dict[str, object]) -> WorkItem:  # noqa: ANN001
    """A detached WorkItem from :func:`claim_on_cursor`'s values, as the ORM would load it."""
    return _item_from_row(None, values, _datetime_processors(dialect)[1])


def extend_lease(session: Session, item: WorkItem, *, actor: str, lease_expires_at: datetime) -> WorkItem:
    """A heartbeat: the claim stays ``actor``'s until ``lease_expires_at``. Not a move, so no event; guarded like
    one (still claimed, still by ``actor``), else :class:`StaleMove`."""
    result = session.execute(
        update(WorkItem).where(WorkItem.id == item.id, WorkItem.status == WorkStatus.CLAIMED,
                               WorkItem.claimed_by == actor)
        .values(lease_expires_at=lease_expires_at, updated_at=utcnow())
    )
    if result.rowcount != 1:
        raise StaleMove(f"work item {item.id} is not claimed by {actor} any more")
    session.refresh(item)
    return item


def move_photo(session: Session, photo: Photo, to: PhotoStatus, *, stage: str, actor: str,
               reason: str | None = None, round: int = 1) -> Photo:
    expected = photo.status
    if to not in ALLOWED_PHOTO[expected]:
        raise IllegalMove(f"photo {photo.id} ({photo.source_name}) cannot go from {expected} to {to}")
    result = session.execute(
        update(Photo).where(Photo.id == photo.id, Photo.status == expected).values(status=to, reason=reason)
    )
    if result.rowcount != 1:
        raise StaleMove(f"photo {photo.id} was no longer {expected}; someone else moved it")
    session.add(StageEvent(order_id=photo.order_id, photo_id=photo.id, stage=stage, round=round,
                           kind=PHOTO_EVENT[to], actor=actor, reason=reason))
    session.refresh(photo)
    return photo


def move_order(session: Session, order: Order, to: OrderStatus, *, run: str | None,
               delivery_path: str | None = None) -> Order:
    """Move ``order`` to ``to``, guarded by its status and by its run lease (record/runs.py): only the run
    holding the order (``run``, its flow run id) may move it, or anyone when no live run holds it (``run``
    None: an action of a person, such as a client revision). Else :class:`StaleMove`, nothing changed.

    No stage event: an order's status sums up its photos' moves, which have theirs."""
    expected = session.execute(select(Order.status).where(Order.id == order.id)).scalar_one()
    if to not in ALLOWED_ORDER[expected]:
        raise IllegalMove(f"order {order.id} cannot go from {expected} to {to}")
    values: dict[str, object] = {"status": to, "updated_at": utcnow()}
    if delivery_path is not None:
        values["delivery_path"] = delivery_path
    result = session.execute(
        update(Order).where(Order.id == order.id, Order.status == expected, free_for(run)).values(**values)
    )
    if result.rowcount != 1:
        raise StaleMove(f"order {order.id} was no longer {expected}, or another run holds it now "
                        f"(`postline status {order.id}` says which); its status was left as it was")
    session.refresh(order)
    return order
