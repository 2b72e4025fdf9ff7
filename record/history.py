"""What each photo of an order went through, from its stage events: the stages and rounds it passed and who
worked them, for the delivery's manifest; and when each order was last delivered, for the archive.
Functions take ``session`` and do not commit."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, func, select

from record.models import EventKind, StageEvent

WORKED = (EventKind.SUBMITTED, EventKind.PASSED)


def worked(session: Session, order_id: int) -> dict[int, list[dict]]:
    """Photo id -> each stage it finished (submitted) and each gate it passed, in order: stage, round, what
    happened, who did it (a person's sign-in name, or postline-auto) and when (UTC, ISO 8601)."""
    events = session.exec(
        select(StageEvent).where(StageEvent.order_id == order_id, col(StageEvent.kind).in_(WORKED),
                                 col(StageEvent.photo_id).is_not(None))
        .order_by(StageEvent.id)).all()
    out: dict[int, list[dict]] = {}
    seen = set()
    for event in events:
        once = (event.photo_id, event.stage, event.round, event.kind)
        if once in seen:        # a gate's pass moves its item and its photo: two events, one thing that happened
            continue
        seen.add(once)
        out.setdefault(event.photo_id, []).append({
            "stage": event.stage, "round": event.round, "event": event.kind.value, "by": event.actor,
            "at": event.at.isoformat() if event.at else None})
    return out


def last_delivered(session: Session, order_id: int | None = None) -> dict[int, datetime]:
    """Order id -> when a photo of it was last delivered (UTC): what the archive's retention and the revision
    window count from. Of order ``order_id`` alone, when given."""
    query = select(StageEvent.order_id, func.max(StageEvent.at)).where(StageEvent.kind == EventKind.DELIVERED)
    if order_id is not None:
        query = query.where(StageEvent.order_id == order_id)
    rows = session.exec(query.group_by(StageEvent.order_id)).all()
    return {order_id: at for order_id, at in rows}
