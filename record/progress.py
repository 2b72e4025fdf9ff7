"""Where an order's photos are now, per stage: how many wait, how many are being worked and by whom, how many
are done, and how many of those waiting are rework. What an order run's progress artifact shows
(tasks/progress.py). Data functions: they take ``session`` and do not commit."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import and_, literal_column, or_
from sqlmodel import Session, col, func, select

from record.models import QC_GATE, EventKind, Photo, StageEvent, WorkItem, WorkStatus
from record.reasons import in_words
from record.work import AUTO_WORKER, order_line, photos_done_per_stage


@dataclass
class StageNow:
    """One stage (or gate) of an order, now."""
    stage: str
    waiting: int = 0                 # queued
    rework: int = 0                  # of those waiting or being worked: rounds after the first
    worked: int = 0                  # claimed
    holders: Counter = field(default_factory=Counter)   # person -> photos they hold (postline's own worker left out)
    done: int = 0                    # photos it has finished, any round


def stages_now(session: Session, order_id: int, stages: list[str]) -> list[StageNow]:
    """``stages`` in the order given (then any other with open work), each as it is now for ``order_id``."""
    rework = WorkItem.round > literal_column("1")     # one literal: PostgreSQL groups by the very expression it selects
    rows = session.exec(
        select(WorkItem.stage, WorkItem.status, WorkItem.claimed_by, rework, func.count())
        .where(WorkItem.order_id == order_id, col(WorkItem.status).in_([WorkStatus.QUEUED, WorkStatus.CLAIMED]))
        .group_by(WorkItem.stage, WorkItem.status, WorkItem.claimed_by, rework)
    ).all()
    found = {key: StageNow(key) for key in stages}
    for stage, status, person, rework, n in rows:
        now = found.setdefault(stage, StageNow(stage))
        if status is WorkStatus.QUEUED or status == WorkStatus.QUEUED.value:
            now.waiting += n
        else:
            now.worked += n
            if person and person != AUTO_WORKER:
                now.holders[person] += n
        now.rework += n if rework else 0
    for stage, n in photos_done_per_stage(session, order_id).items():
        found.setdefault(stage, StageNow(stage)).done = n
    return list(found.values())


def open_round(session: Session, order_id: int, stage: str) -> int:
    """The highest round of the order's photos waiting or being worked in ``stage`` (1 when none)."""
    highest = session.exec(select(func.max(WorkItem.round)).where(
        WorkItem.order_id == order_id, WorkItem.stage == stage,
        col(WorkItem.status).in_([WorkStatus.QUEUED, WorkStatus.CLAIMED]))).one()
    return highest or 1


def people_by_stage(session: Session, order_id: int) -> dict[str, Counter]:
    """Per stage: who finished the order's photos there (the submitting actor, postline's own worker too), and
    how many passes each; at the QC gate, who decided (a pass or a rejection each, as its finished passes)."""
    decided = and_(StageEvent.stage == QC_GATE, col(StageEvent.kind).in_([EventKind.PASSED, EventKind.REJECTED]),
                   col(StageEvent.work_item_id).is_not(None))
    rows = session.exec(
        select(StageEvent.stage, StageEvent.actor, func.count())
        .where(StageEvent.order_id == order_id, or_(StageEvent.kind == EventKind.SUBMITTED, decided))
        .group_by(StageEvent.stage, StageEvent.actor)
    ).all()
    found: dict[str, Counter] = {}
    for stage, actor, n in rows:
        found.setdefault(stage, Counter())[actor] += n
    return found


def rejections(session: Session, order_id: int) -> list[tuple[StageEvent, str]]:
    """Every rejection that sent a photo of the order back or held it (a stage blamed), oldest first, with the
    photo's card name."""
    rows = session.exec(
        select(StageEvent, Photo.source_name).join(Photo, Photo.id == StageEvent.photo_id)
        .where(StageEvent.order_id == order_id, StageEvent.kind == EventKind.REJECTED,
               col(StageEvent.blamed_stage).is_not(None))
        .order_by(col(StageEvent.id))
    ).all()
    return [(event, name) for event, name in rows]


def rework_reason(session: Session, item: WorkItem) -> str | None:
    """For a rework round: why QC (the automatic gate or the lead) sent the photo back, and, when it was sent back
    to an earlier stage whose redo brought it here again, which. None for a first round."""
    if item.round < 2:
        return None
    row = session.exec(
        select(StageEvent.reason, StageEvent.blamed_stage)
        .where(StageEvent.photo_id == item.photo_id, StageEvent.kind == EventKind.REJECTED,
               StageEvent.round == item.round - 1, col(StageEvent.blamed_stage).is_not(None))
        .order_by(col(StageEvent.id).desc())
    ).first()
    if row is None:
        return None
    reason, stage = in_words(row[0] or ""), row[1]
    if stage == item.stage:
        return reason
    try:
        title = order_line(session, item.order_id).stage(stage).title
    except KeyError:
        title = stage
    return f"{reason} (sent back to {title}; redone there, it comes to this stage again)"
