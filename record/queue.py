"""Stage queues: retouchers pull the next photo of their stages, work on it under a lease, and hand it back.

A work item (photo x stage x round) waits QUEUED until someone claims it. A claim is a lease: ``claimed_by``,
``lease_expires_at`` and ``attempt``; a heartbeat extends it; :func:`reap_expired` returns claims whose lease
ran out to the queue (a RELEASED event with reason ``'lease expired'``). Every status change goes through
:mod:`record.moves`, so it is guarded and writes its event in the same transaction.

Claiming itself (who may claim which stages, the claim statement that never gives one item to two people, the
turns claimers take) is :mod:`record.claims`; :func:`claim`, :func:`claim_next` and :func:`stages_for` are
found here too, as the queue's callers know them. Order of the queue: rush orders first, then the order's due
date (none last), then the item's age.

Two kinds of function:
- data functions (``claim_next``, ``heartbeat``, ``release``, ``reap_expired``, ``submit``, ``queue_depths``,
  ``mine``, ``open_items``, ``ensure_claimant``) take ``session`` and do not commit: the caller owns the
  transaction;
- top-level helpers (``claim``, ``pull``) own their transactions.

The whole hand-back (the result checked by :mod:`qc.results`, stored by :mod:`tasks.files`, recorded by
:func:`submit`, the order's run woken) is the action :func:`surfaces.actions.queue.hand_back`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from config.errors import Forbidden, NotFound
from record import moves
from record.claims import DEFAULT_LEASE, claim, claim_next, stages_for  # noqa: F401  (the queue's callers' names)
from record.db import ORDER_LOCK, one_at_a_time, transaction
from record.errors import NoSkill, QueueError  # noqa: F401  (caught as queue.NoSkill, queue.QueueError)
from record.models import EventKind, Order, StageEvent, WorkItem, WorkStatus, utcnow

LEASE_EXPIRED = "lease expired"
OPEN = (WorkStatus.QUEUED, WorkStatus.CLAIMED)


class NoSuchItem(NotFound, QueueError):
    """No work item has that id."""


class NotYourClaim(QueueError, Forbidden):
    """The item is not (or no longer) claimed by this person."""


@dataclass(frozen=True)
class StageDepth:
    stage: str
    queued: int = 0
    claimed: int = 0
    oldest: datetime | None = None        # when the longest-waiting queued item was queued (UTC)
    earliest_due: date | None = None      # the nearest due date among queued items' orders


@dataclass(frozen=True)
class SubmitResult:
    item: WorkItem
    seconds: float | None                 # touch time: from the claim to the submit
    stage_done: bool                      # the order has no queued or claimed item left in this stage
    next_item: WorkItem | None = None     # the next stage's item, when ``enqueue_next`` was given
    run_stopped: bool = False             # ... and no run of the order is going: it stopped (surfaces.actions.queue)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; every time in the record is UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _get(session: Session, item_id: int) -> WorkItem:
    item = session.get(WorkItem, item_id, populate_existing=True)
    if item is None:
        raise NoSuchItem(f"there is no work item {item_id}; `postline queue mine --as NAME` lists your claims")
    return item


# --- after the claim ------------------------------------------------------------------------------------------

def _explain(session: Session, item: WorkItem, person: str) -> str:
    where = f"work item {item.id} ({item.stage}, round {item.round})"
    if item.status is WorkStatus.CLAIMED:
        return (f"{where} is claimed by {item.claimed_by}, not {person} (a lease that ran out lets someone else "
                f"take it); pull another with `postline queue pull --as {person}`")
    if item.status is WorkStatus.QUEUED:
        return (f"{where} is not claimed by {person}: it is back in the queue (released, or the lease ran out); "
                f"pull it again with `postline queue pull --as {person} --stage {item.stage}`")
    return f"{where} is already {item.status.value}; nothing more can be done with it"


def _lapsed_to_queue(session: Session, item: WorkItem, person: str) -> bool:
    """Whether ``item`` went back to the queue only because ``person``'s lease ran out (nobody took it since)."""
    if item.status is not WorkStatus.QUEUED:
        return False
    last = session.exec(
        select(StageEvent).where(StageEvent.work_item_id == item.id,
                                 col(StageEvent.kind).in_([EventKind.CLAIMED, EventKind.RELEASED]))
        .order_by(col(StageEvent.id).desc())
    ).first()
    return (last is not None and last.kind is EventKind.RELEASED and last.actor == person
            and last.reason == LEASE_EXPIRED)


def heartbeat(session: Session, *, item_id: int, person: str, lease: timedelta = DEFAULT_LEASE,
              now: datetime | None = None) -> WorkItem:
    """Keep ``person``'s claim until now + ``lease``. :class:`NotYourClaim` if it is not theirs (any more)."""
    item = _get(session, item_id)
    if item.status is not WorkStatus.CLAIMED or item.claimed_by != person:
        raise NotYourClaim(_explain(session, item, person))
    return moves.extend_lease(session, item, actor=person, lease_expires_at=(now or utcnow()) + lease)


def release(session: Session, *, item_id: int, person: str, reason: str | None = None) -> WorkItem:
    """Give a claim back: the item is QUEUED again (RELEASED event with ``reason``)."""
    item = _get(session, item_id)
    if item.status is not WorkStatus.CLAIMED or item.claimed_by != person:
        raise NotYourClaim(_explain(session, item, person))
    return moves.move_item(session, item, WorkStatus.QUEUED, actor=person, reason=reason or f"released by {person}",
                           guard=[col(WorkItem.claimed_by) == person])


def reap_expired(session: Session, now: datetime | None = None) -> int:
    """Return every claim whose lease ran out before ``now`` to the queue (RELEASED, reason 'lease expired',
    actor: the person whose lease it was). Returns how many. Does not commit."""
    now = now or utcnow()
    query = select(WorkItem).where(WorkItem.status == WorkStatus.CLAIMED, col(WorkItem.lease_expires_at) < now)
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    expired = list(session.exec(query.execution_options(populate_existing=True)).all())
    for item in expired:
        moves.move_item(session, item, WorkStatus.QUEUED, actor=item.claimed_by or "postline", reason=LEASE_EXPIRED,
                        guard=[col(WorkItem.lease_expires_at) < now])
    return len(expired)


# --- handing back -----------------------------------------------------------------------------------------------

def open_items(session: Session, *, order_id: int, stage: str) -> int:
    """How many items of ``order_id`` in ``stage`` (any round) are still queued or claimed."""
    return session.exec(
        select(func.count()).select_from(WorkItem)
        .where(WorkItem.order_id == order_id, WorkItem.stage == stage, col(WorkItem.status).in_(OPEN))
    ).one()


def _claimed_at(session: Session, item_id: int, person: str) -> datetime | None:
    return _utc(session.exec(
        select(StageEvent.at).where(StageEvent.work_item_id == item_id, StageEvent.kind == EventKind.CLAIMED,
                                    StageEvent.actor == person)
        .order_by(col(StageEvent.id).desc())
    ).first())


def ensure_claimant(session: Session, *, item_id: int, person: str) -> WorkItem:
    """The item, if ``person`` may submit it: claimed by them (even past the lease, if nobody took it), or
    queued again only because their lease ran out. Else :class:`NotYourClaim`."""
    item = _get(session, item_id)
    if item.status is WorkStatus.CLAIMED and item.claimed_by == person:
        return item
    if _lapsed_to_queue(session, item, person):
        return item
    raise NotYourClaim(_explain(session, item, person))


def submit(session: Session, *, item_id: int, person: str, output_path: str, output_sha256: str,
           enqueue_next: str | None = None, now: datetime | None = None) -> SubmitResult:
    """Record ``person``'s finished work on ``item_id``: SUBMITTED with output path, checksum and touch time.

    Refused (:class:`NotYourClaim`) unless the item is claimed by ``person``. If their lease ran out and the
    item went back to the queue untouched, it is claimed again for them first (a second CLAIMED event), so
    finished work is not lost to a coffee break; if someone else took it, the submit is refused.
    ``enqueue_next``: queue the photo in that stage (same round, this output as input) in the same
    transaction. ``stage_done`` in the result tells the caller to resume the order's waiting flow run.
    Checks on the file are the caller's (:func:`qc.results.check_result`, run before the transaction).
    Does not commit."""
    now = now or utcnow()
    item = ensure_claimant(session, item_id=item_id, person=person)
    one_at_a_time(session, ORDER_LOCK, item.order_id)     # two last hand-backs at once: one of them sees none left
    started = _claimed_at(session, item.id, person)
    if item.status is WorkStatus.QUEUED:
        item = moves.move_item(session, item, WorkStatus.CLAIMED, actor=person, lease_expires_at=now + DEFAULT_LEASE,
                               reason="claimed again to take the result submitted after the lease ran out")
    seconds = (now - started).total_seconds() if started else None
    item = moves.move_item(session, item, WorkStatus.SUBMITTED, actor=person, seconds=seconds,
                           output_path=output_path, output_sha256=output_sha256,
                           guard=[col(WorkItem.claimed_by) == person])
    next_item = None
    if enqueue_next:
        next_item = moves.enqueue(session, order_id=item.order_id, photo_id=item.photo_id, stage=enqueue_next,
                                  round=item.round, input_path=output_path, actor=person)
    done = open_items(session, order_id=item.order_id, stage=item.stage) == 0
    return SubmitResult(item=item, seconds=seconds, stage_done=done, next_item=next_item)


# --- looking ---------------------------------------------------------------------------------------------------

def queue_depths(session: Session, stages: list[str] | None = None) -> list[StageDepth]:
    """Per stage: queued and claimed counts, when the oldest queued item was queued, the earliest due date
    among queued items. ``stages`` (in that order) are listed even when empty; other stages follow."""
    rows = session.exec(
        select(WorkItem.stage, WorkItem.status, func.count(), func.min(WorkItem.created_at), func.min(Order.due))
        .join(Order, col(Order.id) == WorkItem.order_id)
        .where(col(WorkItem.status).in_(OPEN)).group_by(WorkItem.stage, WorkItem.status)
    ).all()
    found: dict[str, dict[str, object]] = {}
    for stage, status, n, oldest, due in rows:
        entry = found.setdefault(stage, {})
        if WorkStatus(status) is WorkStatus.QUEUED:
            entry.update(queued=n, oldest=_utc(oldest), earliest_due=due)
        else:
            entry["claimed"] = n
    order = list(stages or []) + sorted(s for s in found if s not in (stages or []))
    return [StageDepth(stage=s, **found.get(s, {})) for s in order]


def mine(session: Session, person: str) -> list[WorkItem]:
    """What ``person`` holds now (claimed), the soonest-expiring lease first."""
    return list(session.exec(
        select(WorkItem).where(WorkItem.status == WorkStatus.CLAIMED, WorkItem.claimed_by == person)
        .order_by(col(WorkItem.lease_expires_at), col(WorkItem.id))
    ).all())


def lease_expiry(item: WorkItem) -> datetime | None:
    return _utc(item.lease_expires_at)


# --- top-level helpers (own their transactions) --------------------------------------------------------------------

def pull(*, person: str, stages: list[str] | None = None, lease: timedelta = DEFAULT_LEASE,
         url: str | None = None) -> WorkItem | None:
    """Return expired claims to the queue, then :func:`claim` the next item for ``person``. None: nothing to do."""
    with transaction(url) as session:
        reap_expired(session)
    return claim(person=person, stages=stages, lease=lease, url=url)
