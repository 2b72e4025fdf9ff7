"""What a figure covers: a period and filters, as SQL conditions on the events (and the orders they belong to).

- The period is ``[since, until)`` in UTC; an event counts in it by its time (``at``).
- ``shoot``, ``preset``, ``client`` (and ``order_id``) keep the events of the orders that match.
- ``stage`` keeps one stage's rows (and the rejections blamed on it).
- ``retoucher`` keeps the work that person did: the work items they finished or hold, and the QC rejections
  blamed on a pass they handed back: the photo's last pass at the stage blamed up to the rejection's round (QC
  may blame a round-1 pass in its round 2, after sending the photo back to another stage first).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import exists, select
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import FromClause

from record.figures.sql import ITEMS
from record.models import Order, ShootType

ORDERS = Order.__table__


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


class Scope(BaseModel):
    model_config = ConfigDict(frozen=True)
    since: datetime | None = Field(None, description="First moment counted (UTC); None: the start of the record.")
    until: datetime | None = Field(None, description="First moment not counted (UTC); None: now.")
    stage: str | None = Field(None, max_length=40, description="Only this stage (its key).")
    retoucher: str | None = Field(None, max_length=80, description="Only this person's work (their sign-in name).")
    shoot: ShootType | None = Field(None, description="Only orders of this kind of shoot.")
    preset: str | None = Field(None, max_length=80, description="Only orders graded with this preset.")
    client: str | None = Field(None, max_length=120, description="Only this client's orders (the name as recorded).")
    order_id: int | None = Field(None, ge=1, description="Only this order.")

    @classmethod
    def days(cls, first: date | None, last: date | None, **filters: object) -> "Scope":
        """The whole days ``first`` to ``last`` (both included)."""
        return cls(since=midnight(first) if first else None,
                   until=midnight(last) + timedelta(days=1) if last else None, **filters)

    def shifted(self, since: datetime | None, until: datetime | None) -> "Scope":
        """The same filters over another period."""
        return self.model_copy(update={"since": since, "until": until})

    @property
    def order_filtered(self) -> bool:
        return any(v is not None for v in (self.shoot, self.preset, self.client, self.order_id))

    def order_conditions(self, orders: FromClause = ORDERS) -> list[ColumnElement[bool]]:
        conditions = []
        if self.order_id is not None:
            conditions.append(orders.c.id == self.order_id)
        if self.shoot is not None:
            conditions.append(orders.c.shoot == self.shoot)
        if self.preset is not None:
            conditions.append(orders.c.preset == self.preset)
        if self.client is not None:
            conditions.append(orders.c.client == self.client)
        return conditions

    def of_orders(self, order_id: ColumnElement) -> list[ColumnElement[bool]]:
        """Conditions keeping the rows whose ``order_id`` is one of the orders the filters keep."""
        if not self.order_filtered:
            return []
        if self.order_id is not None and (self.shoot, self.preset, self.client) == (None, None, None):
            return [order_id == self.order_id]
        return [order_id.in_(select(ORDERS.c.id).where(*self.order_conditions()))]

    def in_period(self, at: ColumnElement) -> list[ColumnElement[bool]]:
        conditions = []
        if self.since is not None:
            conditions.append(at >= self.since)
        if self.until is not None:
            conditions.append(at < self.until)
        return conditions

    def events(self, events: FromClause, *, period: bool = True, stage_column: str | None = "stage",
               by_retoucher: str = "item") -> list[ColumnElement[bool]]:
        """Conditions on an events table (or alias): the period (unless ``period`` is False), the orders, the stage
        (checked on ``stage_column``; None: not at all) and the retoucher: ``by_retoucher="item"`` keeps events of
        the work items they hold or handed back; ``"blamed"`` keeps QC rejections blamed on a pass they handed back."""
        conditions = (self.in_period(events.c.at) if period else []) + self.of_orders(events.c.order_id)
        if self.stage is not None and stage_column is not None:
            conditions.append(events.c[stage_column] == self.stage)
        if self.retoucher is not None:
            if by_retoucher == "item":
                conditions.append(events.c.work_item_id.in_(
                    select(ITEMS.c.id).where(ITEMS.c.claimed_by == self.retoucher)))
            else:
                later = ITEMS.alias("later")
                conditions.append(exists().where(
                    ITEMS.c.photo_id == events.c.photo_id, ITEMS.c.stage == events.c.blamed_stage,
                    ITEMS.c.round <= events.c.round, ITEMS.c.claimed_by == self.retoucher,
                    ~select(later.c.id).where(later.c.photo_id == ITEMS.c.photo_id, later.c.stage == ITEMS.c.stage,
                                              later.c.round > ITEMS.c.round, later.c.round <= events.c.round)
                    .correlate_except(later).exists()))
        return conditions
