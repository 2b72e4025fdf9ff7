"""Rework by the stage blamed and by reason, and rolled yield per order.

A QC rejection counts once for the stage it blames and once under each of its reasons (record/reasons.py
keeps one row per code): a rejection for ``[clipped,colour_cast]`` is one send-back, two reasons, so the
reasons of a stage can add up to more than its send-backs; :class:`Rework` carries both totals to say so. A
rejection recorded without a code counts under ``unspecified``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import Session

from record.figures.scope import Scope
from record.figures.sql import EVENTS, K, month_of
from record.figures.stages import first_pass_rows
from record.models import QC_GATE, StageEventReason

REASONS = StageEventReason.__table__
UNSPECIFIED = "unspecified"


@dataclass
class Rework:
    by_reason: dict[tuple[str, str], int]        # (stage blamed, reason) -> rejections giving that reason
    rejections: dict[str, int]                   # stage blamed -> rejections (each once)
    monthly: dict[tuple[str, str, str], int]     # (month 'YYYY-MM', stage blamed, reason) -> rejections
    monthly_rejections: dict[tuple[str, str], int]  # (month, stage blamed) -> rejections (each once)

    @property
    def total_rejections(self) -> int:
        return sum(self.rejections.values())

    @property
    def total_reasons(self) -> int:
        return sum(self.by_reason.values())


def rework(session: Session, scope: Scope) -> Rework:
    code = func.coalesce(REASONS.c.code, UNSPECIFIED)
    where = [EVENTS.c.kind == K.REJECTED, EVENTS.c.stage == QC_GATE, EVENTS.c.work_item_id.is_not(None),
             *scope.events(EVENTS, stage_column="blamed_stage", by_retoucher="blamed")]
    joined = EVENTS.outerjoin(REASONS, REASONS.c.event_id == EVENTS.c.id)
    month = month_of(EVENTS.c.at)
    monthly = session.execute(
        select(month, EVENTS.c.blamed_stage, code, func.count()).select_from(joined).where(*where)
        .group_by(month, EVENTS.c.blamed_stage, code)
    ).all()
    per_month = session.execute(
        select(month, EVENTS.c.blamed_stage, func.count()).where(*where).group_by(month, EVENTS.c.blamed_stage)
    ).all()
    by_reason: dict[tuple[str, str], int] = {}
    for _, stage, reason, n in monthly:
        by_reason[(stage or "?", reason)] = by_reason.get((stage or "?", reason), 0) + n
    rejections: dict[str, int] = {}
    for _, stage, n in per_month:
        rejections[stage or "?"] = rejections.get(stage or "?", 0) + n
    return Rework(by_reason=by_reason, rejections=rejections,
                  monthly={(m, stage or "?", reason): n for m, stage, reason, n in monthly},
                  monthly_rejections={(m, stage or "?"): n for m, stage, n in per_month})


@dataclass
class OrderYield:
    order_id: int
    stages: dict[str, float]      # stage -> first-pass yield of the order's photos there

    @property
    def rolled(self) -> float | None:
        """Rolled yield: the product of the stages' first-pass yields (the chance a photo went through every
        stage right the first time, were the stages independent)."""
        return math.prod(self.stages.values()) if self.stages else None


def rolled_yields(session: Session, order_ids: list[int]) -> dict[int, OrderYield]:
    """Each order's first-pass yield per stage over its whole life, and their product: the order's whole work,
    whatever stage or person the report is narrowed to (its list of orders is)."""
    if not order_ids:
        return {}
    out = {order_id: OrderYield(order_id, {}) for order_id in order_ids}
    rows = first_pass_rows(session, Scope(), by="order", where=(EVENTS.c.order_id.in_(order_ids),))
    for (stage, order_id), (first, sent_back) in rows.items():
        if first:
            out[order_id].stages[stage] = 1 - sent_back / first
    return out
