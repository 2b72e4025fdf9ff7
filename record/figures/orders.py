"""Per order: turnaround in working days against the due date and the studio's promise, client revision rounds,
and a finish-date forecast for the open orders (Little's law); per shoot type or client, the same summed up.

- An order counts in a period when it was first delivered in it (its first DELIVERED event). Turnaround is
  the working days after the day it came in (created) up to and including that day (config/calendar.py). Its
  revision rounds are those the client had asked for by the period's end (all of them in the period, as a
  round follows a delivery): a later round does not change a past period's figure.
- Forecast: the line finishes photos at the rate it passed them through QC in the period (photos per working
  day, λ); by Little's law the photos in the line now (L) take L/λ working days. An order is open until it is
  delivered: one whose run stopped (failed) still has its photos in the queues. Open orders are served as the
  queues serve them (rush first, then the nearest due date, then the oldest), so an order finishes when the
  photos of the orders before it and its own are done: today + ceil(photos up to it / λ) working days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, case, func, or_, select
from sqlmodel import Session

from config.calendar import WorkCalendar
from record.figures.scope import ORDERS, Scope
from record.figures.sql import EVENTS, K, unindexed
from record.models import QC_GATE, OrderStatus, Photo, PhotoStatus

PHOTOS = Photo.__table__


@dataclass
class OrderRow:
    order_id: int
    client: str
    shoot: str
    came_in: date
    delivered: date
    due: date | None
    working_days: int
    revisions: int
    late_days: int | None          # working days after the due date (None: not late, or no due date)

    def to_dict(self, promise: int) -> dict[str, object]:
        return {"order": self.order_id, "client": self.client, "shoot": self.shoot,
                "came_in": self.came_in.isoformat(), "first_delivered": self.delivered.isoformat(),
                "due": self.due.isoformat() if self.due else None, "working_days": self.working_days,
                "late_vs_due_working_days": self.late_days, "over_promise": self.working_days > promise,
                "revision_rounds": self.revisions}


def _day(value: datetime | date | str) -> date:
    if isinstance(value, str):                 # SQLite hands back MIN() of a time as text
        value = datetime.fromisoformat(value)
    return value.date() if isinstance(value, datetime) else value


def delivered_orders(session: Session, scope: Scope, calendar: WorkCalendar) -> list[OrderRow]:
    """The orders first delivered in the period, with their turnaround."""
    # Grouped on unindexed(order_id): SQLite would otherwise walk ix_stage_events_order_id for the grouping's
    # order and look every event of the record up in the table to test its kind.
    first = (select(EVENTS.c.order_id.label("order_id"), func.min(EVENTS.c.at).label("delivered_at"))
             .where(EVENTS.c.kind == K.DELIVERED, *scope.of_orders(EVENTS.c.order_id))
             .group_by(unindexed(EVENTS.c.order_id)).subquery("first_delivery"))
    rows = session.execute(
        select(ORDERS.c.id, ORDERS.c.client, ORDERS.c.shoot, ORDERS.c.created_at, first.c.delivered_at,
               ORDERS.c.due, ORDERS.c.revisions)
        .select_from(ORDERS.join(first, first.c.order_id == ORDERS.c.id))
        .where(*scope.in_period(first.c.delivered_at)).order_by(ORDERS.c.id)
    ).all()
    later = _rounds_asked_from(session, scope.until, [row[0] for row in rows]) if scope.until and rows else {}
    out = []
    for order_id, client, shoot, created, delivered_at, due, revisions in rows:
        came_in, done = _day(created), _day(delivered_at)
        late = calendar.turnaround(due, done) if due is not None and done > due else None
        out.append(OrderRow(order_id, client, str(getattr(shoot, "value", shoot)), came_in, done, due,
                            calendar.turnaround(came_in, done), revisions - later.get(order_id, 0), late))
    return out


def _rounds_asked_from(session: Session, moment: datetime, order_ids: list[int]) -> dict[int, int]:
    """Order -> client revision rounds asked for from ``moment`` on (the order's ``revisions`` counts them up to
    now). A change asked for opens a round unless one is open: asked for since the order's last delivery
    (record.rounds.request_revision); its photos' REVISED events, in the order written, say when."""
    asked, earlier, delivered = EVENTS.alias("asked"), EVENTS.alias("earlier"), EVENTS.alias("delivered")
    delivered_between = select(delivered.c.id).where(
        delivered.c.order_id == asked.c.order_id, delivered.c.kind == K.DELIVERED, delivered.c.id > earlier.c.id,
        delivered.c.id < asked.c.id).correlate_except(delivered).exists()
    round_open = select(earlier.c.id).where(
        earlier.c.order_id == asked.c.order_id, earlier.c.kind == K.REVISED, earlier.c.id < asked.c.id,
        ~delivered_between).correlate_except(earlier).exists()
    return dict(session.execute(
        select(asked.c.order_id, func.count()).where(
            asked.c.kind == K.REVISED, asked.c.order_id.in_(order_ids), asked.c.at >= moment, ~round_open)
        .group_by(asked.c.order_id)).all())


@dataclass
class ForecastRow:
    order_id: int
    client: str
    due: date | None
    rush: bool
    photos_left: int                 # photos in the line now
    ahead: int                       # photos of orders served before it
    finish: date | None              # None: no throughput measured

    @property
    def will_miss(self) -> bool:
        return self.due is not None and self.finish is not None and self.finish > self.due

    def to_dict(self) -> dict[str, object]:
        return {"order": self.order_id, "client": self.client, "due": self.due.isoformat() if self.due else None,
                "rush": self.rush, "photos_left": self.photos_left, "photos_ahead": self.ahead,
                "finish": self.finish.isoformat() if self.finish else None, "will_miss_due": self.will_miss}


@dataclass
class Forecast:
    rate: float | None               # λ: photos through QC per working day, in the period
    photos_passed: int
    working_days: int
    in_line: int                     # L: photos in the line now (all open orders)
    orders: list[ForecastRow]

    @property
    def lead_days(self) -> float | None:
        """W = L / λ: working days the line needs for what is in it now."""
        return self.in_line / self.rate if self.rate else None


def forecast(session: Session, scope: Scope, calendar: WorkCalendar, *, today: date,
             first_day: date, end_day: date) -> Forecast:
    """Finish dates of the open orders, from λ measured over ``[first_day, end_day)`` (the report's period) and
    the photos in the line now. The queue is the whole line's; only the orders the filters keep are listed."""
    passed = session.execute(
        select(func.count(EVENTS.c.photo_id.distinct())).where(
            EVENTS.c.kind == K.PASSED, EVENTS.c.stage == QC_GATE, unindexed(EVENTS.c.work_item_id).is_(None),
            *scope.in_period(EVENTS.c.at))
    ).scalar_one()
    days = calendar.working_days(first_day, end_day)
    rate = passed / days if days and passed else None
    left = func.count(PHOTOS.c.id)
    rows = session.execute(
        select(ORDERS.c.id, ORDERS.c.client, ORDERS.c.due, ORDERS.c.rush, left)
        .select_from(ORDERS.outerjoin(PHOTOS, and_(PHOTOS.c.order_id == ORDERS.c.id,
                                                   PHOTOS.c.status == PhotoStatus.INGESTED)))
        .where(ORDERS.c.status != OrderStatus.DELIVERED)
        .group_by(ORDERS.c.id, ORDERS.c.client, ORDERS.c.due, ORDERS.c.rush, ORDERS.c.status)
        .having(or_(ORDERS.c.status != OrderStatus.FAILED, left > 0))   # a stopped re-run of a delivered order
        .order_by(case((ORDERS.c.rush, 0), else_=1), case((ORDERS.c.due.is_(None), 1), else_=0), ORDERS.c.due,
                  ORDERS.c.id)
    ).all()
    keep = None
    if scope.order_filtered:
        keep = set(session.execute(select(ORDERS.c.id).where(*scope.order_conditions())).scalars())
    out, ahead = [], 0
    for order_id, client, due, rush, photos_left in rows:
        # ceil((ahead + left) / λ) with λ = passed / days, in integers (no 20.999... -> 21 surprises)
        finish = (calendar.add_working_days(today, -(-(ahead + photos_left) * days // passed))
                  if rate and photos_left else None)
        if keep is None or order_id in keep:
            out.append(ForecastRow(order_id, client, due, bool(rush), photos_left, ahead, finish))
        ahead += photos_left
    return Forecast(rate, passed, days, ahead, out)


@dataclass
class GroupRow:
    key: str                          # the shoot type or the client
    photos_passed: int = 0            # photos through QC in the period
    photos_sent_back: int = 0         # photos QC sent back in the period
    photos_decided: int = 0           # photos QC passed or sent back (a photo sent back, then passed, once)
    orders: list[OrderRow] | None = None

    @property
    def rework_rate(self) -> float | None:
        return self.photos_sent_back / self.photos_decided if self.photos_decided else None

    def to_dict(self, promise: int) -> dict[str, object]:
        orders = self.orders or []
        return {"key": self.key, "photos_passed_qc": self.photos_passed, "photos_sent_back": self.photos_sent_back,
                "photos_decided": self.photos_decided,
                "rework_rate": None if self.rework_rate is None else round(self.rework_rate, 4),
                "orders_delivered": len(orders),
                "mean_working_days": round(sum(o.working_days for o in orders) / len(orders), 2) if orders else None,
                "late_vs_due": sum(o.late_days is not None for o in orders),
                "over_promise": sum(o.working_days > promise for o in orders),
                "revision_rounds_per_order":
                    round(sum(o.revisions for o in orders) / len(orders), 2) if orders else None}


def groups(session: Session, scope: Scope, by: str, delivered: list[OrderRow]) -> list[GroupRow]:
    """Per shoot type or per client (``by``): photos through QC (the gate passed them, or a lead let a photo it
    held pass: the photo's own PASSED) and sent back in the period, and the orders first delivered in it."""
    column = ORDERS.c.shoot if by == "shoot" else ORDERS.c.client
    photo_passed = case((EVENTS.c.kind == K.PASSED, EVENTS.c.photo_id))
    photo_rejected = case((EVENTS.c.kind == K.REJECTED, EVENTS.c.photo_id))
    rows = session.execute(
        select(column, func.count(photo_passed.distinct()), func.count(photo_rejected.distinct()),
               func.count(EVENTS.c.photo_id.distinct()))
        .select_from(EVENTS.join(ORDERS, ORDERS.c.id == EVENTS.c.order_id))
        .where(EVENTS.c.stage == QC_GATE, EVENTS.c.kind.in_([K.PASSED, K.REJECTED]),
               or_(and_(EVENTS.c.kind == K.PASSED, EVENTS.c.work_item_id.is_(None)),
                   and_(EVENTS.c.kind == K.REJECTED, EVENTS.c.work_item_id.is_not(None))),
               *scope.events(EVENTS, stage_column=None))
        .group_by(column)
    ).all()
    out = {str(getattr(key, "value", key)): GroupRow(str(getattr(key, "value", key)), passed, sent_back, decided)
           for key, passed, sent_back, decided in rows}
    for order in delivered:
        key = order.shoot if by == "shoot" else order.client
        group = out.setdefault(key, GroupRow(key))
        group.orders = (group.orders or []) + [order]
    return sorted(out.values(), key=lambda g: g.key)
