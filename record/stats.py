"""The per-stage table of one order or of a period, from the production record (never from Prefect's run
history, which may be pruned): what `postline status N` and an order run's artifacts show. The whole ops
report (rework by reason, retouchers, turnaround, forecast) is :mod:`record.figures.report`; what each column
means is written in :mod:`record.figures.stages`."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from record.figures.scope import Scope
from record.figures.stages import StageRow, stage_rows
from record.work import order_line, studio_line

__all__ = ["StageRow", "stage_table"]


def stage_table(session: Session, *, order_id: int | None = None, since: datetime | None = None,
                until: datetime | None = None, detail: bool = False) -> list[StageRow]:
    """Ingest, the stages of the order's line (or the current line), the QC gate and delivery, aggregated in SQL.
    ``detail``: also queue waits and work in progress."""
    line = order_line(session, order_id) if order_id is not None else studio_line(session)
    return stage_rows(session, Scope(since=since, until=until, order_id=order_id), line, detail=detail)
