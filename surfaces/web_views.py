"""What the web page shows, read from the production record: plain data for the templates, and who may
see or work on which item. No HTTP here (surfaces/web_app.py is the routes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, func, select

from config import errors
from record import queue, work
from record.work import AUTO_WORKER
from record.models import (
    CLIENT_SELECTION, ORIGINAL_REVIEW, QC_GATE, EventKind, Order, OrderStatus, Person, PersonRole, Photo, StageEvent, WorkItem, WorkStatus, utcnow,
)


class Forbidden(errors.Forbidden):
    """The signed-in person may not see or do this; the message says why (shown with HTTP 403)."""


def when(value: datetime | None) -> str:
    value = queue._utc(value)  # noqa: SLF001 - the record's one helper for SQLite's naive UTC times
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"


def age(value: datetime | None) -> str:
    value = queue._utc(value)  # noqa: SLF001
    if value is None:
        return "–"
    minutes = max(0, int((utcnow() - value).total_seconds() // 60))
    if minutes < 1:
        return "under a minute"
    if minutes >= 1440:
        return f"{minutes // 1440} d {minutes % 1440 // 60} h"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def stage_title(key: str) -> str:
    """What people call a stage (the line's title), e.g. 'Liquify & skin' for liquify_skin."""
    if key == QC_GATE:
        return "QC gate"
    if key == CLIENT_SELECTION:
        return "the client's selection"
    if key == ORIGINAL_REVIEW:
        return "the review of the originals (the senior photographer)"
    try:
        return work.studio_line().stage(key).title
    except KeyError:
        return key


def is_lead(person: Person) -> bool:
    return person.role is PersonRole.LEAD


@dataclass(frozen=True)
class StageRow:
    key: str
    title: str
    depth: queue.StageDepth
    can_pull: bool            # the person has the skill and people work in this stage
    by_people: bool = False   # people work in this stage (manual or assisted), whoever looks


@dataclass(frozen=True)
class ItemRow:
    item: WorkItem
    photo: str                # the photo's name on the card
    client: str
    claimed_at: datetime | None


def stage_rows(session: Session, person: Person, *, line_stages: list[tuple[str, str]],
               people_stages: list[str]) -> list[StageRow]:
    """The queues this person sees: a lead every stage of the line; a retoucher the people's stages they have
    the skill for."""
    skills = set(queue.stages_for(session, person.name))
    titles = dict(line_stages)
    if is_lead(person):
        keys = [key for key, _ in line_stages]
    else:
        keys = [s for s in people_stages if s in skills]
    depths = {d.stage: d for d in queue.queue_depths(session, keys)}
    return [StageRow(key=k, title=titles.get(k, k), depth=depths.get(k, queue.StageDepth(stage=k)),
                     can_pull=k in skills and k in people_stages, by_people=k in people_stages) for k in keys]


def _claimed_at(session: Session, items: list[WorkItem]) -> dict[int, datetime]:
    if not items:
        return {}
    rows = session.exec(
        select(StageEvent.work_item_id, func.max(StageEvent.at))
        .where(col(StageEvent.work_item_id).in_([i.id for i in items]), StageEvent.kind == EventKind.CLAIMED)
        .group_by(StageEvent.work_item_id)
    ).all()
    return {item_id: at for item_id, at in rows}


def item_rows(session: Session, items: list[WorkItem]) -> list[ItemRow]:
    claimed = _claimed_at(session, items)
    rows = []
    for item in items:
        photo = session.get(Photo, item.photo_id)
        order = session.get(Order, item.order_id)
        rows.append(ItemRow(item=item, photo=photo.source_name if photo else f"photo {item.photo_id}",
                            client=order.client if order else "?", claimed_at=claimed.get(item.id)))
    return rows


def all_claims(session: Session) -> list[WorkItem]:
    """Every item people hold now (the automatic worker's claims and the QC gate's are not people's work)."""
    return list(session.exec(
        select(WorkItem).where(WorkItem.status == WorkStatus.CLAIMED, WorkItem.stage != QC_GATE,
                               col(WorkItem.claimed_by).is_not(None), WorkItem.claimed_by != AUTO_WORKER)
        .order_by(col(WorkItem.lease_expires_at), col(WorkItem.id))
    ).all())


def open_orders(session: Session) -> list[Order]:
    return list(session.exec(
        select(Order).where(col(Order.status).in_([OrderStatus.CREATED, OrderStatus.RUNNING]))
        .order_by(col(Order.due).is_(None), col(Order.due), col(Order.id))
    ).all())


def submitted_by(session: Session, item: WorkItem, person: str) -> bool:
    return item.status is WorkStatus.SUBMITTED and session.exec(
        select(StageEvent.id).where(StageEvent.work_item_id == item.id, StageEvent.kind == EventKind.SUBMITTED,
                                    StageEvent.actor == person)
    ).first() is not None


def _not_yours(item: WorkItem) -> str:
    where = f"Work item {item.id} ({item.stage}, round {item.round})"
    if item.status is WorkStatus.CLAIMED:
        return f"{where} is claimed by {item.claimed_by}, not by you: only they can download, hand back or release it."
    if item.status is WorkStatus.QUEUED:
        return f"{where} is not claimed by you: it is waiting in its queue. Use “Claim next” to take work."
    return f"{where} is {item.status.value} and is not yours."


def workable_item(session: Session, item_id: int, person: Person) -> WorkItem:
    """The item if ``person`` may download, hand back or release it (their claim); else :class:`Forbidden`.
    Raises :class:`record.queue.NoSuchItem` for an id that is not there."""
    try:
        return queue.ensure_claimant(session, item_id=item_id, person=person.name)
    except queue.NotYourClaim:
        raise Forbidden(_not_yours(session.get(WorkItem, item_id))) from None


def can_work(session: Session, item: WorkItem, person: Person) -> bool:
    """Whether ``person`` may hand back ``item``: their claim, or theirs until the lease ran out and nobody took it."""
    try:
        queue.ensure_claimant(session, item_id=item.id, person=person.name)
    except queue.QueueError:
        return False
    return True


def visible_item(session: Session, item_id: int, person: Person) -> WorkItem:
    """The item if ``person`` may look at it: their claim, their handed-back work, or any item for a lead."""
    item = session.get(WorkItem, item_id, populate_existing=True)
    if item is None:
        raise queue.NoSuchItem(f"There is no work item {item_id}.")
    if is_lead(person) or submitted_by(session, item, person.name):
        return item
    return workable_item(session, item_id, person)


def rework_note(session: Session, item: WorkItem) -> str | None:
    """For a rework round: why QC (automatic or the lead) sent the photo back (record/progress.py)."""
    from record.progress import rework_reason

    return rework_reason(session, item)


def download_name(item: WorkItem, photo: Photo | None, source: Path) -> str:
    """The name the working file downloads as: ``<item>-<photo>-<stage>-r<round>.tif`` (never the client's)."""
    from tasks.files import safe_name

    stem = safe_name(Path(photo.source_name).stem) if photo else f"photo-{item.photo_id}"
    return f"{item.id}-{stem}-{item.stage}-r{item.round}{source.suffix.lower() or '.tif'}"
