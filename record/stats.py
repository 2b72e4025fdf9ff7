"""Figures from the production record (never from Prefect's run history, which may be pruned)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, select

from config.line import get_line
from record.models import DELIVERY, INGEST, QC_GATE, EventKind, Order, StageEvent
from record.work import order_line

K = EventKind


@dataclass
class StageRow:
    stage: str
    title: str
    photos_in: int = 0
    passed: int = 0        # finished OK (ingested, submitted, passed QC, delivered)
    rejected: int = 0      # failed here, or sent back by QC with this stage blamed
    reworked: int = 0      # QC rejections that blamed this stage
    touch_seconds: float = 0.0
    timed: int = 0
    work_stage: bool = False  # a stage of the line (rework is counted against these), not ingest/gate/delivery

    @property
    def rework_rate(self) -> float | None:
        """Reworked / finished: QC send-backs blamed on this stage over the work it finished."""
        return self.reworked / self.passed if self.passed and self.work_stage else None

    @property
    def mean_seconds(self) -> float | None:
        return self.touch_seconds / self.timed if self.timed else None

    @property
    def photos_per_hour(self) -> float | None:
        return self.timed / (self.touch_seconds / 3600) if self.touch_seconds else None


def _events(session: Session, *, order_id: int | None, since: datetime | None, until: datetime | None):
    query = select(StageEvent)
    if order_id is not None:
        query = query.where(StageEvent.order_id == order_id)
    if since is not None:
        query = query.where(StageEvent.at >= since)
    if until is not None:
        query = query.where(StageEvent.at < until)
    return session.exec(query.order_by(StageEvent.id)).all()


def stage_table(session: Session, *, order_id: int | None = None, since: datetime | None = None,
                until: datetime | None = None) -> list[StageRow]:
    line = order_line(session, order_id) if order_id is not None else get_line()
    rows = {INGEST: StageRow(INGEST, "Ingest")}
    rows |= {s.key: StageRow(s.key, s.title, work_stage=True) for s in line.stages}
    rows |= {QC_GATE: StageRow(QC_GATE, "QC gate"), DELIVERY: StageRow(DELIVERY, "Delivery")}
    entered: dict[str, set[int]] = {key: set() for key in rows}
    for ev in _events(session, order_id=order_id, since=since, until=until):
        row = rows.get(ev.stage)
        if row is None:
            continue
        if ev.stage == INGEST:
            entered[INGEST].add(ev.photo_id)
            row.passed += ev.kind is K.INGESTED
            row.rejected += ev.kind is K.REJECTED
        elif ev.stage == DELIVERY:
            row.passed += ev.kind is K.DELIVERED
        elif ev.work_item_id is None:
            continue  # photo-level echo of a work item's event: counted there
        elif ev.kind is K.ENQUEUED:
            entered[ev.stage].add(ev.photo_id)
        elif ev.kind in (K.SUBMITTED, K.PASSED):
            row.passed += 1
            if ev.seconds is not None:
                row.touch_seconds += ev.seconds
                row.timed += 1
        elif ev.kind in (K.FAILED, K.REJECTED):
            row.rejected += 1
            blamed = rows.get(ev.blamed_stage or "")
            if ev.kind is K.REJECTED and blamed is not None:
                blamed.rejected += 1
                blamed.reworked += 1
    for key, row in rows.items():
        row.photos_in = len(entered[key])
    rows[DELIVERY].photos_in = rows[QC_GATE].passed
    return list(rows.values())


def rejection_reasons(session: Session, *, order_id: int | None = None, since: datetime | None = None,
                      until: datetime | None = None) -> Counter[tuple[str, str]]:
    """(stage blamed, reason code) -> count, from QC rejections."""
    counts: Counter[tuple[str, str]] = Counter()
    for ev in _events(session, order_id=order_id, since=since, until=until):
        if ev.kind is K.REJECTED and ev.stage == QC_GATE:
            code = ev.reason[1:ev.reason.index("]")] if ev.reason and ev.reason.startswith("[") else "unspecified"
            for part in code.split(","):
                counts[(ev.blamed_stage or "?", part)] += 1
    return counts


def revision_rounds(session: Session, *, since: datetime | None = None, until: datetime | None = None) -> dict[int, int]:
    """Order id -> client revision rounds, for orders first delivered in the period."""
    first_delivery: dict[int, datetime] = {}
    for ev in _events(session, order_id=None, since=None, until=None):
        if ev.kind is K.DELIVERED:
            first_delivery.setdefault(ev.order_id, ev.at)
    rounds: dict[int, int] = {}
    for order_id, at in first_delivery.items():
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        if (since is None or at >= since) and (until is None or at < until):
            rounds[order_id] = session.get(Order, order_id).revisions
    return rounds
