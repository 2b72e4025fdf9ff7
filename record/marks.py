"""The regions QC leads mark on the photos they send back (:class:`record.models.QcMark`): written with the
rejection, on the new round's work item (qc/review.py), read by the retoucher's item page and `postline queue
pull`. Functions take ``session`` and do not commit."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session, col, select

from record.models import QcMark, WorkItem


def add_mark(session: Session, *, item: WorkItem, rejected: WorkItem, box: tuple[float, float, float, float],
             note: str, actor: str, outline: str | None = None) -> QcMark:
    """Mark ``box`` (x, y, w, h: fractions of the frame; ``outline``: a freehand region inside it, ``x,y x,y ...``)
    on ``item``, the round ``rejected`` was sent back to."""
    x, y, w, h = box
    mark = QcMark(work_item_id=item.id, rejected_item_id=rejected.id, x=x, y=y, w=w, h=h, outline=outline,
                  note=note[:500], actor=actor)
    session.add(mark)
    session.flush()
    return mark


def outline_points(mark: QcMark) -> list[tuple[float, float]] | None:
    """A freehand mark's outline as (x, y) fractions; None for a box."""
    if not mark.outline:
        return None
    return [(float(x), float(y)) for x, y in (point.split(",") for point in mark.outline.split())]


def marks_on(session: Session, item_id: int) -> list[QcMark]:
    """The regions marked for the round ``item_id``, oldest first."""
    return list(session.exec(select(QcMark).where(QcMark.work_item_id == item_id).order_by(col(QcMark.id))))


def marks_of(session: Session, item_ids: Iterable[int]) -> dict[int, list[QcMark]]:
    """The regions marked for each of ``item_ids`` (only those with one)."""
    found: dict[int, list[QcMark]] = {}
    for mark in session.exec(select(QcMark).where(col(QcMark.work_item_id).in_(list(item_ids)))
                             .order_by(col(QcMark.id))):
        found.setdefault(mark.work_item_id, []).append(mark)
    return found
