"""Every status change of a work item or a photo, and the event it writes.

The tables of allowed moves are here and nowhere else. A move is one guarded
``UPDATE ... WHERE id = :id AND status = :expected``; if no row changed, someone
else moved it first and :class:`StaleMove` is raised. The stage event is added in
the same session, so it commits (or not) with the change. Functions take
``session`` and do not commit: the caller owns the transaction.

Claiming the next queued item is the same move as :func:`move_item` to CLAIMED, made by one statement that
also picks the item (:mod:`record.claim_sql`, checked against the table here; called by :mod:`record.claims`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import ColumnElement
from sqlmodel import Session, func, select, update

from config.errors import Refused
from record.models import (
    ORDER, EventKind, Order, OrderStatus, Photo, PhotoStatus, StageEvent, WorkItem, WorkStatus, utcnow,
)
from record.reasons import record_codes
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
    values = _move_values(to, actor=actor, reason=reason, now=now, lease_expires_at=lease_expires_at, fields=fields)
    result = session.execute(
        update(WorkItem).where(WorkItem.id == item.id, WorkItem.status == expected, *guard).values(**values)
    )
    if result.rowcount != 1:
        raise StaleMove(f"work item {item.id} was no longer {expected}"
                        f"{' (or no longer as expected)' if guard else ''}; someone else moved it")
    session.refresh(item)
    queued_at = None
    if to is WorkStatus.CLAIMED and item.attempt == 1:      # the first claim: it carries the queue wait
        queued_at, seconds = queue_wait(session, item.id, now)
    event = StageEvent(order_id=item.order_id, photo_id=item.photo_id, work_item_id=item.id,
                       stage=item.stage, round=item.round, kind=WORK_EVENT[to], actor=actor,
                       reason=reason, blamed_stage=blamed_stage, seconds=seconds, queued_at=queued_at, at=now)
    session.add(event)
    record_codes(session, event)   # a rejection's reason codes, one row each (record/reasons.py)
    return item


@dataclass(frozen=True)
class StageDone:
    """One automatic stage's work in a fused pass (tasks/stages.py): the stage, its output and touch seconds."""
    stage: str
    output_path: str
    output_sha256: str
    seconds: float


def record_pass(session: Session, item: WorkItem, done: Sequence[StageDone], *, actor: str, input_path: str,
                lease_expires_at: datetime, then: str | None, then_input: str) -> WorkItem | None:
    """An automatic run of stages worked in one pass, recorded as the separate moves would be: ``item`` (claimed,
    the run's first stage in ``done``) submitted; for each later stage of ``done``, its item queued, claimed and
    submitted (its input: ``input_path``, the file the pass started from); then the photo queued at ``then`` (the
    next stage or the QC gate; None: nowhere yet, graded it awaits the client's selection, record/selection.py)
    with ``then_input``. Every item gets its ENQUEUED, CLAIMED and SUBMITTED events
    with the stage's seconds, all in the caller's transaction. The first move is guarded like any; the later
    items are new in this transaction (nobody else can have moved them), so they are written in their final
    state at once: a handful of statements for the whole run, not a dozen per stage. Returns the queued item
    (None when ``then`` is)."""
    first, *later = done
    move_item(session, item, WorkStatus.SUBMITTED, actor=actor, seconds=first.seconds,
              output_path=first.output_path, output_sha256=first.output_sha256)
    now = utcnow()
    common = {"order_id": item.order_id, "photo_id": item.photo_id, "round": item.round, "queue_rank": item.queue_rank}
    rows = [WorkItem(**common, stage=stage.stage, status=WorkStatus.SUBMITTED, claimed_by=actor, attempt=1,
                     lease_expires_at=lease_expires_at, input_path=input_path, output_path=stage.output_path,
                     output_sha256=stage.output_sha256, created_at=now, updated_at=now) for stage in later]
    queued = None if then is None else WorkItem(**common, stage=then, status=WorkStatus.QUEUED,
                                                input_path=then_input, created_at=now, updated_at=now)
    session.add_all([*rows, *([queued] if queued is not None else [])])
    session.flush()
    events = []
    for row, stage in zip(rows, later):
        base = {"order_id": row.order_id, "photo_id": row.photo_id, "work_item_id": row.id, "stage": row.stage,
                "round": row.round, "actor": actor, "at": now}
        events += [StageEvent(**base, kind=EventKind.ENQUEUED),      # claimed as it is queued: no queue wait
                   StageEvent(**base, kind=EventKind.CLAIMED, queued_at=now, seconds=0.0),
                   StageEvent(**base, kind=EventKind.SUBMITTED, seconds=stage.seconds)]
    if queued is not None:
        events.append(StageEvent(order_id=queued.order_id, photo_id=queued.photo_id, work_item_id=queued.id,
                                 stage=then, round=queued.round, kind=EventKind.ENQUEUED, actor=actor, at=now))
    session.add_all(events)
    return queued


def queue_wait(session: Session, item_id: int, now: datetime) -> tuple[datetime | None, float | None]:
    """When the item was enqueued (its ENQUEUED event) and the seconds from then to ``now``: what its first
    CLAIMED event records (the same as record.claim_sql's claim statements write)."""
    queued_at = session.execute(select(func.min(StageEvent.at)).where(
        StageEvent.work_item_id == item_id, StageEvent.kind == EventKind.ENQUEUED)).scalar_one()
    if queued_at is None:
        return None, None
    if isinstance(queued_at, str):             # SQLite hands back MIN() of a time as text
        queued_at = datetime.fromisoformat(queued_at)
    if queued_at.tzinfo is None:
        queued_at = queued_at.replace(tzinfo=UTC)
    return queued_at, (now - queued_at).total_seconds()


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
    event = StageEvent(order_id=photo.order_id, photo_id=photo.id, stage=stage, round=round,
                       kind=PHOTO_EVENT[to], actor=actor, reason=reason)
    session.add(event)
    record_codes(session, event)
    session.refresh(photo)
    return photo


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
    result = session.execute(
        update(Order).where(Order.id == order.id, Order.status == expected, free_for(run, now)).values(**values)
    )
    if result.rowcount != 1:
        raise StaleMove(f"order {order.id} was no longer {expected}, or another run holds it now "
                        f"(`postline status {order.id}` says which); its status was left as it was")
    session.add(StageEvent(order_id=order.id, stage=ORDER, kind=ORDER_EVENT[to], actor=(actor or run or "postline")[:80],
                           reason=reason, at=now))
    session.refresh(order)
    return order
