"""The photos asked for in black and white too, in the record's terms (record.models.BlackAndWhiteRequest).

The client asks in the gallery: with their selection (a tick beside Favourite: qc/selection.py), or on delivered
photos (surfaces/actions/client.py); the studio with `postline order bw N PHOTO...`
(surfaces/actions/black_and_white.py). The order's delivery gives each such photo the black-and-white twins of the
renditions its recipe names (presets/recipe.py, ``[black_and_white]``; tasks/deliver.py).

Data functions take ``session`` and do not commit."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select

from record import moves
from record.models import BlackAndWhiteRequest, utcnow


def requested(session: Session, order_id: int, photo_ids: Iterable[int] | None = None) -> set[int]:
    """The order's photos asked for in black and white (of ``photo_ids`` only, when given)."""
    query = select(BlackAndWhiteRequest.photo_id).where(BlackAndWhiteRequest.order_id == order_id)
    if photo_ids is not None:
        query = query.where(col(BlackAndWhiteRequest.photo_id).in_(list(photo_ids)))
    return set(session.exec(query).all())


def among(session: Session, photo_ids: Iterable[int]) -> set[int]:
    """Which of ``photo_ids`` (of any orders: a retoucher's queue) are asked for in black and white."""
    return set(session.exec(select(BlackAndWhiteRequest.photo_id)
                            .where(col(BlackAndWhiteRequest.photo_id).in_(list(photo_ids)))).all())


def of_order(session: Session, order_id: int) -> list[BlackAndWhiteRequest]:
    """The order's requests, by photo id."""
    return list(session.exec(select(BlackAndWhiteRequest).where(BlackAndWhiteRequest.order_id == order_id)
                             .order_by(BlackAndWhiteRequest.photo_id)).all())


def ask(session: Session, order_id: int, photo_ids: Iterable[int], *, actor: str) -> list[int]:
    """Ask for ``photo_ids`` in black and white; returns those not asked for before. A photo asked for at the same
    moment elsewhere (the client sending twice, the studio's command) is asked for once: the later request writes
    no second row (``ON CONFLICT DO NOTHING``, as both SQLite and PostgreSQL spell it, where an INSERT would fail)
    and does not count it as its own."""
    had = requested(session, order_id)
    new = [photo_id for photo_id in dict.fromkeys(photo_ids) if photo_id not in had]
    insert = (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)
    written: set[int] = set()
    for start in range(0, len(new), moves.PHOTOS_PER_STATEMENT):
        rows = [{"photo_id": photo_id, "order_id": order_id, "actor": actor[:80], "at": utcnow()}
                for photo_id in new[start:start + moves.PHOTOS_PER_STATEMENT]]
        written |= set(session.execute(insert(BlackAndWhiteRequest).values(rows).on_conflict_do_nothing(
            index_elements=["photo_id"]).returning(BlackAndWhiteRequest.photo_id)).scalars())
    return [photo_id for photo_id in new if photo_id in written]


def withdraw(session: Session, order_id: int, photo_ids: Iterable[int]) -> list[int]:
    """No black and white for ``photo_ids`` any more; returns those that had been asked for."""
    gone = sorted(requested(session, order_id, photo_ids))
    if gone:
        session.execute(delete(BlackAndWhiteRequest).where(col(BlackAndWhiteRequest.photo_id).in_(gone)))
    return gone
