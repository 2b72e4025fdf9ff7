"""The cull in the production record: each photo's signals (written at ingest), the decisions people took on
the suggestion at the review of the originals, and how often the suggestion was right.

Data functions take ``session`` and do not commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, func, select

from record.models import CullDecision, CullSignals, CullVerdict


def add_signals(session: Session, signals: CullSignals) -> CullSignals:
    session.add(signals)
    return signals


def signals_for(session: Session, photo_id: int) -> CullSignals | None:
    """One photo's signals; None when it has none (not measured, or set aside at ingest)."""
    return session.get(CullSignals, photo_id)


def signals_of(session: Session, order_id: int) -> dict[int, CullSignals]:
    """Every recorded photo's signals of an order, by photo id."""
    rows = session.exec(select(CullSignals).where(CullSignals.order_id == order_id)).all()
    return {row.photo_id: row for row in rows}


def record_decision(session: Session, *, order_id: int, photo_id: int, suggested: CullVerdict, reasons: list[str],
                    decided: CullVerdict, actor: str) -> CullDecision:
    """A person's decision on a photo the cull made a suggestion for, and whether they agreed with it."""
    row = CullDecision(order_id=order_id, photo_id=photo_id, suggested=suggested, reasons=",".join(reasons),
                       decided=decided, agreed=suggested is decided, actor=actor)
    session.add(row)
    return row


@dataclass(frozen=True)
class Agreement:
    """How people's decisions at the review of the originals compared with the cull's suggestions."""
    decisions: int             # photos decided that had a suggestion
    agreed: int                # ... decided as suggested
    suggested_rejects: int     # suggested for culling
    rejects_kept: int          # ... that people kept anyway
    suggested_keeps: int
    keeps_culled: int          # suggested to keep, culled by people

    @property
    def rate(self) -> float | None:
        """Share of decisions that agreed with the suggestion; None without decisions."""
        return self.agreed / self.decisions if self.decisions else None


def taken(query, *, since: datetime | None = None, until: datetime | None = None,  # noqa: ANN001, ANN201
          order_id: int | None = None):
    """``query`` (over ``cull_decisions``) kept to the decisions taken in [since, until), of one order if given."""
    if since is not None:
        query = query.where(CullDecision.at >= since)
    if until is not None:
        query = query.where(CullDecision.at < until)
    if order_id is not None:
        query = query.where(CullDecision.order_id == order_id)
    return query


def agreement(session: Session, *, since: datetime | None = None, until: datetime | None = None,
              order_id: int | None = None) -> Agreement:
    """:class:`Agreement` over the decisions taken in [since, until) (of one order, if given)."""
    query = taken(select(CullDecision.suggested, CullDecision.decided, func.count()).group_by(
        CullDecision.suggested, CullDecision.decided), since=since, until=until, order_id=order_id)
    counts = {(CullVerdict(s), CullVerdict(d)): n for s, d, n in session.exec(query).all()}
    keep, reject = CullVerdict.KEEP, CullVerdict.REJECT
    return Agreement(
        decisions=sum(counts.values()),
        agreed=counts.get((keep, keep), 0) + counts.get((reject, reject), 0),
        suggested_rejects=counts.get((reject, keep), 0) + counts.get((reject, reject), 0),
        rejects_kept=counts.get((reject, keep), 0),
        suggested_keeps=counts.get((keep, keep), 0) + counts.get((keep, reject), 0),
        keeps_culled=counts.get((keep, reject), 0))
