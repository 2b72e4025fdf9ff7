"""Every status change of a work item or a photo, and the event it writes.

The tables of allowed moves are here and nowhere else. A move is one guarded
``UPDATE ... WHERE id = :id AND status = :expected RETURNING ...``; if no row changed, someone
else moved it first and :class:`StaleMove` is raised. The stage event is written in
the same transaction, so it commits (or not) with the change. Functions take
``session`` and do not commit: the caller owns the transaction.

Moves are written in as few statements as they need (:func:`write_events`, :func:`_update_one`): each photo
of an order makes about a dozen moves through the line, and on a 1,000-photo order the ORM's cost per
statement was most of the line's time outside image work (bench/scale.py, bench/README.md).

Claiming the next queued item is the same move as :func:`move_item` to CLAIMED, made by one statement that
also picks the item (:mod:`record.claim_sql`, checked against the table here; called by :mod:`record.claims`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, Update, insert
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import object_session
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, SQLModel, func, select, update

from config.errors import Refused
from record.models import (
    ORDER, QC_GATE, EventKind, Order, OrderStatus, Photo, PhotoStatus, StageEvent, WorkItem, WorkStatus, queue_rank,
    utcnow,
)
from record.reasons import has_codes, write_codes
from record.runs import free_for

PHOTOS_PER_STATEMENT = 500    # ids in one IN list: well inside SQLite's and PostgreSQL's limits on parameters
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
    # PASSED, DELIVERED -> DUPLICATE: a camera JPEG that stood in for its unreadable RAW gives way to the RAW
    # copied again (tasks/ingest.py)
    P.PASSED: frozenset({P.DELIVERED, P.DUPLICATE}),
    P.FAILED: frozenset({P.INGESTED}),   # `postline order retry`: back in the line once its cause is fixed
    P.HELD: frozenset({P.PASSED, P.INGESTED}),   # `postline qc held`: a lead passes it, or sends it back a round
    P.REJECTED: frozenset(),
    P.DUPLICATE: frozenset(),
    P.DELIVERED: frozenset({P.INGESTED, P.DUPLICATE}),   # INGESTED: a client revision sends it back into the line
    P.CULLED: frozenset(),
    P.CHART: frozenset(),
}
PHOTO_EVENT: dict[PhotoStatus, EventKind] = {
    P.CULLED: EventKind.REJECTED,
    P.CHART: EventKind.SET_ASIDE,
    P.DUPLICATE: EventKind.SET_ASIDE,
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
    # run again (the package is gone), a client revision, or packed again at another path (`postline deliver`)
    O.DELIVERED: frozenset({O.RUNNING, O.REVISION, O.DELIVERED}),
    O.REVISION: frozenset({O.RUNNING, O.REVISION}),
    O.FAILED: frozenset({O.RUNNING, O.REVISION}),
}
# The event each order move writes (stage ORDER, no photo): a run started, delivered, failed; a client revision.
ORDER_EVENT: dict[OrderStatus, EventKind] = {
    O.RUNNING: EventKind.ORDER_RUNNING,
    O.DELIVERED: EventKind.ORDER_DELIVERED,
    O.FAILED: EventKind.ORDER_FAILED,
    O.REVISION: EventKind.ORDER_REVISION,
}


class IllegalMove(Refused, ValueError):
    """The move is not in the table of allowed moves."""


class StaleMove(Refused):
    """The row was not in the expected status any more (someone else moved it)."""


def event_row(*, order_id: int, stage: str, kind: EventKind, actor: str, photo_id: int | None = None,
              work_item_id: int | None = None, round: int = 1, reason: str | None = None,
              blamed_stage: str | None = None, seconds: float | None = None, queued_at: datetime | None = None,
              at: datetime | None = None) -> dict[str, object]:
    """One stage event's columns, every one of them (as :class:`StageEvent`'s defaults would fill them)."""
    return {"order_id": order_id, "photo_id": photo_id, "work_item_id": work_item_id, "stage": stage,
            "round": round, "kind": kind, "actor": actor, "reason": reason, "blamed_stage": blamed_stage,
            "seconds": seconds, "queued_at": queued_at, "at": at or utcnow()}


def write_events(session: Session, rows: Sequence[dict[str, object]], *, codes: bool = True) -> None:
    """Stage events (:func:`event_row`) written now, in the caller's transaction, in order: the plain ones in one
    statement (the ORM's unit of work sends one INSERT per event on SQLite, to learn each one's id), a rejection
    with reason codes on its own with its codes (record/reasons.py). ``codes=False``: reasons that do not start
    with codes whatever they start with (an ingest rejection's starts with the file's name, which may be
    ``[2024] ...``)."""
    session.flush()         # what the events refer to, if the caller has not written it yet (as autoflush would)
    events = StageEvent.__table__
    plain: list[dict[str, object]] = []
    for row in rows:
        if not codes or not has_codes(row["kind"], row["reason"]):
            plain.append(row)
            continue
        if plain:
            session.execute(insert(events), plain)
            plain = []
        event_id = session.execute(insert(events).values(row)).inserted_primary_key[0]
        write_codes(session, event_id, row["reason"])
    if plain:
        session.execute(insert(events), plain)


def _update_one(session: Session, row: SQLModel, statement: Update) -> bool:
    """Run the guarded UPDATE of ``row``'s table ``statement`` (on the table, not the model) and give
    ``row`` the values its table row holds now, as ``session.refresh`` would, from the statement's RETURNING
    instead of another SELECT. False, ``row`` unchanged, when the guard matched no row."""
    if object_session(row) is not session:     # as session.refresh refused it: the session's own copy would
        raise InvalidRequestError(f"{row!r} is not persistent within this Session")   # keep the old values
    session.flush()         # the caller's changes first, as autoflush did before an ORM statement
    table = type(row).__table__
    changed = session.execute(statement.returning(*table.c)).first()
    if changed is None:
        return False
    for column, value in zip(table.c, changed, strict=True):
        set_committed_value(row, column.key, value)
    return True


def enqueue(session: Session, *, order_id: int, photo_id: int, stage: str, round: int,
            input_path: str | None, actor: str) -> WorkItem:
    item = WorkItem(order_id=order_id, photo_id=photo_id, stage=stage, round=round,
                    status=WorkStatus.QUEUED, input_path=input_path)
    session.add(item)
    session.flush()
    write_events(session, [event_row(order_id=order_id, photo_id=photo_id, work_item_id=item.id, stage=stage,
                                     round=round, kind=EventKind.ENQUEUED, actor=actor)])
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


def columns_set_by(to: WorkStatus) -> frozenset[str]:
    """The columns a move of a work item to ``to`` sets (besides the caller's ``fields``): the claim statement
    (record.claim_sql) is checked against them."""
    return frozenset(_move_values(to, actor="", reason=None, now=utcnow(), lease_expires_at=None, fields={}))


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
    # a QC gate photo that passed its checks waits for the lead claimed, with no lease (record.rounds.await_lead)
    awaited_lead = (item.stage == QC_GATE and expected is WorkStatus.CLAIMED and item.lease_expires_at is None
                    and to in (WorkStatus.PASSED, WorkStatus.REJECTED))
    values = _move_values(to, actor=actor, reason=reason, now=now, lease_expires_at=lease_expires_at, fields=fields)
    items = WorkItem.__table__
    if not _update_one(session, item, update(items).where(items.c.id == item.id, items.c.status == expected, *guard)
                       .values(**values)):
        raise StaleMove(f"work item {item.id} was no longer {expected}"
                        f"{' (or no longer as expected)' if guard else ''}; someone else moved it")
    queued_at = None
    if to is WorkStatus.CLAIMED and item.attempt == 1:      # the first claim: it carries the queue wait
        queued_at, seconds = queue_wait(session, item.id, now)
    elif awaited_lead and seconds is None:                   # a lead's decision carries how long the photo waited
        seconds = since_claimed(session, item.id, now)
    write_events(session, [event_row(order_id=item.order_id, photo_id=item.photo_id, work_item_id=item.id,
                                     stage=item.stage, round=item.round, kind=WORK_EVENT[to], actor=actor,
                                     reason=reason, blamed_stage=blamed_stage, seconds=seconds,
                                     queued_at=queued_at, at=now)])
    return item


@dataclass(frozen=True)
class StageDone:
    """One automatic stage's work in a fused pass (tasks/stages.py): the stage, its output and touch seconds."""
    stage: str
    output_path: str
    output_sha256: str
    seconds: float
    exposure_ev: float | None = None   # grading: the exposure it graded with (WorkItem.exposure_ev)
    kept_white: bool = False


def record_pass(session: Session, item: WorkItem, done: Sequence[StageDone], *, actor: str, input_path: str,
                lease_expires_at: datetime, then: str | None, then_input: str) -> None:
    """An automatic run of stages worked in one pass, recorded as the separate moves would be: ``item`` (claimed,
    the run's first stage in ``done``) submitted; for each later stage of ``done``, its item queued, claimed and
    submitted (its input: ``input_path``, the file the pass started from); then the photo queued at ``then`` (the
    next stage or the QC gate; None: nowhere yet, graded it awaits the client's selection, record/selection.py)
    with ``then_input``. Every item gets its ENQUEUED, CLAIMED and SUBMITTED events
    with the stage's seconds, all in the caller's transaction. The first move is guarded like any; the later
    items are new in this transaction (nobody else can have moved them), so they are written in their final
    state at once: one statement for the new items and one for their events, whatever the number of stages."""
    first, *later = done
    move_item(session, item, WorkStatus.SUBMITTED, actor=actor, seconds=first.seconds,
              output_path=first.output_path, output_sha256=first.output_sha256,
              exposure_ev=first.exposure_ev, kept_white=first.kept_white)
    now = utcnow()
    rank = item.queue_rank
    if rank is None:          # an item from before queue ranks: the new ones get the order's (as WorkItem's do)
        order = session.execute(select(Order.rush, Order.due).where(Order.id == item.order_id)).one()
        rank = queue_rank(bool(order.rush), order.due)
    common = {"order_id": item.order_id, "photo_id": item.photo_id, "round": item.round, "queue_rank": rank,
              "reason": None, "created_at": now, "updated_at": now}
    rows = [common | {"stage": stage.stage, "status": WorkStatus.SUBMITTED, "claimed_by": actor, "attempt": 1,
                      "lease_expires_at": lease_expires_at, "input_path": input_path,
                      "output_path": stage.output_path, "output_sha256": stage.output_sha256,
                      "exposure_ev": stage.exposure_ev, "kept_white": stage.kept_white} for stage in later]
    if then is not None:
        rows.append(common | {"stage": then, "status": WorkStatus.QUEUED, "claimed_by": None, "attempt": 0,
                              "lease_expires_at": None, "input_path": then_input, "output_path": None,
                              "output_sha256": None, "exposure_ev": None, "kept_white": False})
    if not rows:
        return
    items = WorkItem.__table__
    # one multi-row INSERT; RETURNING's order is not promised, so each id is matched by its stage (one item per
    # photo, stage and round)
    ids = dict(session.execute(insert(items).returning(items.c.stage, items.c.id), rows).tuples().all())
    events = []
    for stage in later:
        base = {"order_id": item.order_id, "photo_id": item.photo_id, "work_item_id": ids[stage.stage],
                "stage": stage.stage, "round": item.round, "actor": actor, "at": now}
        events += [event_row(**base, kind=EventKind.ENQUEUED),      # claimed as it is queued: no queue wait
                   event_row(**base, kind=EventKind.CLAIMED, queued_at=now, seconds=0.0),
                   event_row(**base, kind=EventKind.SUBMITTED, seconds=stage.seconds)]
    if then is not None:
        events.append(event_row(order_id=item.order_id, photo_id=item.photo_id, work_item_id=ids[then], stage=then,
                                round=item.round, kind=EventKind.ENQUEUED, actor=actor, at=now))
    write_events(session, events)


def queue_wait(session: Session, item_id: int, now: datetime) -> tuple[datetime | None, float | None]:
    """When the item was enqueued (its ENQUEUED event) and the seconds from then to ``now``: what its first
    CLAIMED event records (the same as record.claim_sql's claim statements write)."""
    queued_at = session.execute(select(func.min(StageEvent.at)).where(
        StageEvent.work_item_id == item_id, StageEvent.kind == EventKind.ENQUEUED)).scalar_one()
    if queued_at is None:
        return None, None
    queued_at = _aggregated_time(queued_at)
    return queued_at, (now - queued_at).total_seconds()


def since_claimed(session: Session, item_id: int, now: datetime) -> float | None:
    """Seconds from the item's last claim to ``now``: at the QC gate, from its automatic checks (a fraction of a
    second) to the lead's decision, the wait for the lead's review and the review."""
    claimed = session.execute(select(func.max(StageEvent.at)).where(
        StageEvent.work_item_id == item_id, StageEvent.kind == EventKind.CLAIMED)).scalar_one()
    return None if claimed is None else (now - _aggregated_time(claimed)).total_seconds()


def _aggregated_time(value: datetime | str) -> datetime:
    """MIN() or MAX() of a time column as a UTC datetime: SQLite hands it back as text."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def extend_lease(session: Session, item: WorkItem, *, actor: str, lease_expires_at: datetime) -> WorkItem:
    """A heartbeat: the claim stays ``actor``'s until ``lease_expires_at``. Not a move, so no event; guarded like
    one (still claimed, still by ``actor``), else :class:`StaleMove`."""
    items = WorkItem.__table__
    if not _update_one(session, item, update(items).where(items.c.id == item.id, items.c.status == WorkStatus.CLAIMED,
                                                          items.c.claimed_by == actor)
                       .values(lease_expires_at=lease_expires_at, updated_at=utcnow())):
        raise StaleMove(f"work item {item.id} is not claimed by {actor} any more")
    return item


def move_photo(session: Session, photo: Photo, to: PhotoStatus, *, stage: str, actor: str,
               reason: str | None = None, round: int = 1, kind: EventKind | None = None) -> Photo:
    """Move ``photo`` to ``to`` with its event (``kind``, default: the one :data:`PHOTO_EVENT` gives ``to``)."""
    expected = photo.status
    if to not in ALLOWED_PHOTO[expected]:
        raise IllegalMove(f"photo {photo.id} ({photo.source_name}) cannot go from {expected} to {to}")
    photos = Photo.__table__
    if not _update_one(session, photo, update(photos).where(photos.c.id == photo.id, photos.c.status == expected)
                       .values(status=to, reason=reason)):
        raise StaleMove(f"photo {photo.id} was no longer {expected}; someone else moved it")
    write_events(session, [event_row(order_id=photo.order_id, photo_id=photo.id, stage=stage, round=round,
                                     kind=kind or PHOTO_EVENT[to], actor=actor, reason=reason)])
    return photo


def move_photos(session: Session, photos: Sequence[Photo], to: PhotoStatus, *, stage: str, actor: str,
                reason: str | None = None, round: int = 1) -> None:
    """:func:`move_photo` for many photos of one status at once (a delivery marks a whole order delivered): one
    guarded UPDATE per PHOTOS_PER_STATEMENT photos and one statement for their events, not three statements a
    photo, so the transaction holds the record's write lock for milliseconds, not seconds (everyone else's writes
    wait for it). If any of them was no longer in its status, :class:`StaleMove` and the caller's transaction is
    to be rolled back, as with one photo."""
    if not photos:
        return
    expected = {photo.status for photo in photos}
    if len(expected) != 1:
        raise ValueError(f"photos of one status at a time, not {sorted(expected)}")
    expected = expected.pop()
    if to not in ALLOWED_PHOTO[expected]:
        raise IllegalMove(f"photos of order {photos[0].order_id} cannot go from {expected} to {to}")
    session.flush()
    table, moved = Photo.__table__, set()
    for start in range(0, len(photos), PHOTOS_PER_STATEMENT):
        ids = [photo.id for photo in photos[start:start + PHOTOS_PER_STATEMENT]]
        moved |= set(session.execute(update(table).where(table.c.id.in_(ids), table.c.status == expected)
                                     .values(status=to, reason=reason).returning(table.c.id)).scalars())
    if stale := [photo for photo in photos if photo.id not in moved]:
        raise StaleMove(f"{len(stale)} photo(s) ({', '.join(p.source_name for p in stale[:5])}) were no longer "
                        f"{expected}; someone else moved them")
    for photo in photos:
        set_committed_value(photo, "status", to)
        set_committed_value(photo, "reason", reason)
    write_events(session, [event_row(order_id=photo.order_id, photo_id=photo.id, stage=stage, round=round,
                                     kind=PHOTO_EVENT[to], actor=actor, reason=reason) for photo in photos])


def move_order(session: Session, order: Order, to: OrderStatus, *, run: str | None, actor: str | None = None,
               reason: str | None = None, delivery_path: str | None = None) -> Order:
    """Move ``order`` to ``to``, guarded by its status and by its run lease (record/runs.py): only the run
    holding the order (``run``, its flow run id) may move it, or anyone when no live run holds it (``run``
    None: an action of a person, such as a client revision). Else :class:`StaleMove`, nothing changed.

    Writes the move's event (:data:`ORDER_EVENT`, stage :data:`record.models.ORDER`, no photo) in the same
    transaction; its actor is ``actor``, else the run's flow run id, else 'postline'."""
    expected = session.execute(select(Order.status).where(Order.id == order.id)).scalar_one()
    if to not in ALLOWED_ORDER[expected]:
        raise IllegalMove(f"order {order.id} cannot go from {expected} to {to}")
    now = utcnow()
    values: dict[str, object] = {"status": to, "updated_at": now}
    if delivery_path is not None:
        values["delivery_path"] = delivery_path
    orders = Order.__table__
    if not _update_one(session, order, update(orders).where(orders.c.id == order.id, orders.c.status == expected,
                                                            free_for(run, now)).values(**values)):
        raise StaleMove(f"order {order.id} was no longer {expected}, or another run holds it now "
                        f"(`postline status {order.id}` says which); its status was left as it was")
    write_events(session, [event_row(order_id=order.id, stage=ORDER, kind=ORDER_EVENT[to],
                                     actor=(actor or run or "postline")[:80], reason=reason, at=now)])
    return order
