"""The client's selection, in the record's terms.

An order with a client selection (``Order.client_selection``) grades every photo, then waits: a photo whose
grading is done and that has no pick yet is queued nowhere (:func:`next_stage` says None) and *awaits the
client* (:func:`awaiting`). The client's selection (the gallery, or the same decision given at the order's
paused run: qc/selection.py) picks each waiting photo once, in one transaction per photo set:

- a **favourite** gets a SELECTED event (its note as the reason) and is queued in the stage after grading, with
  the graded file as its input: it goes through the retouch stages, then QC and delivery;
- any other photo gets a GRADED_ONLY event and is queued straight at the QC gate with its graded file: it is
  never queued in a retouch stage, so no retoucher sees it and no stage counts it, and it is delivered as
  graded once QC passes it (the finished file of a photo is the last stage's output it has:
  :func:`record.work.finished_output`);
- the pick itself (favourite, album, note) is a :class:`record.models.ClientPick` row.

In such an order grading never runs fused with the automatic stages after it (:func:`run_of`): each photo's pass
ends at grading with a full graded master, the file a favourite's retouch run starts from and a graded-only photo
is delivered from.

Later rounds keep to it: a graded-only photo QC sends back to grading goes from grading to the QC gate again;
a client's revision request (record/rounds.py) puts a photo in a retouch stage, from where it goes on as any.
Data functions take ``session`` and do not commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from config.line import Line, StageSpec
from record import black_and_white, links, moves, work
from record.models import (
    CLIENT_SELECTION, QC_GATE, ClientLink, ClientPick, EventKind, LinkPurpose, Order, Photo, PhotoStatus,
    StageEvent, WorkItem, WorkStatus,
)

OPEN = (WorkStatus.QUEUED, WorkStatus.CLAIMED)
GRADED_ONLY_REASON = "not chosen by the client: delivered as graded, without retouch"


def selects(session: Session, order_id: int) -> bool:
    """Whether the order waits for the client's selection after grading."""
    return bool(session.execute(select(Order.client_selection).where(Order.id == order_id)).scalar_one_or_none())


def pick_of(session: Session, photo_id: int) -> ClientPick | None:
    return session.get(ClientPick, photo_id)


def run_of(session: Session, line: Line, order_id: int, key: str) -> tuple[StageSpec, ...]:
    """The automatic run of stages around stage ``key`` as order ``order_id`` runs them, fused
    (:meth:`config.line.Line.segment`): with the client's selection, grading runs alone, its graded master
    written, and the photo stops there for the client's picks."""
    return line.segment(key, client_selection=selects(session, order_id))


def next_stage(session: Session, line: Line, item: WorkItem, *, done: str | None = None) -> str | None:
    """Where the photo of ``item`` goes once ``item``'s stage is done with it: the line's next stage (the QC gate
    after the last). After grading, in an order with a client selection: a favourite to the next stage, a photo
    the client did not choose to the QC gate, and a photo not picked yet nowhere (None: the selection queues it).
    ``done``: the stage just done, when not ``item``'s own (a fused pass records a run of stages under the item of
    its first: tasks/stages.py)."""
    stage = done or item.stage
    after = line.next_after(stage)
    following = after.key if after else QC_GATE
    if stage != line.first.key or not selects(session, item.order_id):
        return following
    pick = pick_of(session, item.photo_id)
    if pick is None:
        return None
    return following if pick.favourite else QC_GATE


def awaiting(session: Session, order_id: int) -> dict[str, tuple[Photo, WorkItem]]:
    """The order's photos awaiting the client's selection, by card name: in the line, graded (the first stage's
    latest item submitted), not picked and queued nowhere; each with its graded item."""
    if not selects(session, order_id):
        return {}
    line = work.order_line(session, order_id)
    graded: dict[int, WorkItem] = {}
    for item in session.exec(select(WorkItem).where(
            WorkItem.order_id == order_id, WorkItem.stage == line.first.key).order_by(WorkItem.round)).all():
        graded[item.photo_id] = item
    picked = set(session.exec(select(ClientPick.photo_id).where(ClientPick.order_id == order_id)).all())
    busy = set(session.exec(select(WorkItem.photo_id).where(WorkItem.order_id == order_id,
                                                            col(WorkItem.status).in_(OPEN))).all())
    return {p.source_name: (p, graded[p.id]) for p in work.photos(session, order_id, PhotoStatus.INGESTED)
            if p.id in graded and graded[p.id].status is WorkStatus.SUBMITTED and p.id not in picked
            and p.id not in busy}


def record_pick(session: Session, *, line: Line, photo: Photo, graded: WorkItem, favourite: bool, album: bool,
                note: str, actor: str) -> WorkItem:
    """The client's pick of one waiting photo: the pick, its event, and the photo queued where it goes next
    (:func:`next_stage`). Returns the new work item."""
    session.add(ClientPick(photo_id=photo.id, order_id=photo.order_id, favourite=favourite, album=album,
                           note=note, actor=actor[:80]))
    reason = (note or None) if favourite else GRADED_ONLY_REASON
    moves.write_events(session, [moves.event_row(
        order_id=photo.order_id, photo_id=photo.id, stage=CLIENT_SELECTION, round=graded.round,
        kind=EventKind.SELECTED if favourite else EventKind.GRADED_ONLY, actor=actor[:80], reason=reason)])
    return moves.enqueue(session, order_id=photo.order_id, photo_id=photo.id, stage=next_stage(session, line, graded),
                         round=graded.round, input_path=graded.output_path, actor=actor[:80])


def picks(session: Session, order_id: int) -> dict[int, ClientPick]:
    return {p.photo_id: p for p in session.exec(select(ClientPick).where(ClientPick.order_id == order_id)).all()}


def client_notes(session: Session, items: list[WorkItem]) -> dict[int, str]:
    """What the client asked for the photo of each work item, by item id (items without a note left out): their
    note from the gallery's selection, the note of the client revision round the item is in, and whether it is
    wanted in black and white too (record/black_and_white.py: the retoucher sees it as the client will)."""
    photo_ids = list({item.photo_id for item in items})
    if not photo_ids:
        return {}
    picked = dict(session.exec(select(ClientPick.photo_id, ClientPick.note).where(
        col(ClientPick.photo_id).in_(photo_ids), ClientPick.note != "")).all())
    revised = {(e.photo_id, e.round): e.reason for e in session.exec(select(StageEvent).where(
        col(StageEvent.photo_id).in_(photo_ids), StageEvent.kind == EventKind.REVISED)).all() if e.reason}
    grey = black_and_white.among(session, photo_ids)
    notes = {}
    for item in items:
        said = [f"“{picked[item.photo_id]}”"] if item.photo_id in picked else []
        said += [revised[(item.photo_id, item.round)]] if (item.photo_id, item.round) in revised else []
        said += ["also in black and white"] if item.photo_id in grey else []
        if said and item.stage != QC_GATE:
            notes[item.id] = "; ".join(said)
    return notes


def decided(session: Session, photo_ids: list[int]) -> bool:
    """Whether every one of these photos has been picked."""
    if not photo_ids:
        return True
    found = session.exec(select(func.count()).select_from(ClientPick).where(
        col(ClientPick.photo_id).in_(photo_ids))).one()
    return found >= len(set(photo_ids))


# --- waiting, overdue, reminders ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Waiting:
    """An order that waits for the client's selection: how many photos, since which gallery link, due when."""
    order_id: int
    photos: int
    link: ClientLink | None           # the newest live gallery link (None: none made yet, or none live)
    due: datetime | None              # when the selection is due (the link's day + selection_days)
    expired: ClientLink | None = None  # with no live link: the newest that expired unanswered

    def overdue(self, now: datetime) -> bool:
        return self.due is not None and now >= self.due

    def days_late(self, now: datetime) -> int:
        return max(0, (now - self.due).days) if self.due is not None else 0


def waiting(session: Session, order_id: int, *, now: datetime, selection_days: int) -> Waiting | None:
    """The order's wait for its client, if it waits for them (None when no photo awaits the selection)."""
    count = len(awaiting(session, order_id))
    if not count:
        return None
    made = links.of_order(session, order_id, LinkPurpose.GALLERY)
    link = next((lk for lk in made if links.live(lk, now)), None)
    due = links.created(link) + timedelta(days=selection_days) if link is not None else None
    expired = None if link is not None else next((lk for lk in made if lk.revoked_at is None), None)
    return Waiting(order_id=order_id, photos=count, link=link, due=due, expired=expired)


def orders_with_selection(session: Session) -> list[int]:
    """Orders with a client selection that are not finished, oldest first."""
    from record.models import OrderStatus

    return list(session.exec(select(Order.id).where(
        Order.client_selection == True,  # noqa: E712 - SQL
        col(Order.status).in_([OrderStatus.CREATED, OrderStatus.RUNNING, OrderStatus.FAILED]))
        .order_by(Order.id)).all())


def due_reminders(session: Session, *, now: datetime, selection_days: int, every_days: int) -> list[ClientLink]:
    """The gallery links to e-mail a reminder with now: of orders whose selection is overdue, the newest live
    link that has an address, not reminded in the last ``every_days``."""
    due = []
    for order_id in orders_with_selection(session):
        wait = waiting(session, order_id, now=now, selection_days=selection_days)
        if wait is None or wait.link is None or not wait.link.email or not wait.overdue(now):
            continue
        last = links.utc(wait.link.reminded_at)
        if last is None or now - last >= timedelta(days=every_days):
            due.append(wait.link)
    return due
