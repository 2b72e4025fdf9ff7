"""The ops manager's report: every figure of a period and filters, from the production record, in one
:class:`Report` that the terminal, CSV/JSON, HTML and the Prefect artifacts present (none of them computes).

``build_report`` runs the SQL of the figures modules in one transaction; the JSON form (:meth:`Report.to_dict`)
names stages by key, the presentations by title.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from config.calendar import WorkCalendar
from config.line import Line
from config.settings import get_settings
from record.figures.orders import Forecast, GroupRow, OrderRow, delivered_orders, forecast, groups
from record.figures.people import RetoucherRow, retouchers
from record.figures.quality import OrderYield, Rework, rework, rolled_yields
from record.figures.scope import Scope
from record.figures.sql import EVENTS, K, day_of, month_of
from record.figures.stages import PSEUDO_TITLES, StageRow, first_pass_rows, stage_rows
from record.models import Order, utcnow
from record.work import studio_line

MONTHLY_AFTER_DAYS = 92      # a longer period's trend is by month, a shorter one's by day


@dataclass
class Report:
    scope: Scope
    first_day: date                       # the period shown: first_day to last_day, both included
    last_day: date
    earlier: Scope | None                 # the comparison period of the retouchers' trend
    titles: dict[str, str]
    stages: list[StageRow]
    rework: Rework
    retouchers: list[RetoucherRow]
    delivered: list[OrderRow]
    yields: dict[int, OrderYield]
    forecast: Forecast
    trend_bucket: str                     # "day" or "month"
    trend: dict[tuple[str, str], int]     # (bucket, stage) -> photos finished there
    groups: dict[str, list[GroupRow]]     # "shoot" / "client" -> rows
    promise_days: int
    revision_target: float
    today: date
    working_days: int                     # of the period shown
    cull_agreement: dict[str, Any] | None = field(default=None)  # review of originals vs the suggested cull (issue 13)
    ratings_agreement: dict[str, Any] | None = field(default=None)  # review of originals vs the photographer's ratings

    @property
    def not_started(self) -> bool:
        return self.first_day > self.today

    @property
    def calendar_days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def title(self, stage: str) -> str:
        return self.titles.get(stage, stage)

    @property
    def revision_rounds(self) -> float | None:
        return sum(o.revisions for o in self.delivered) / len(self.delivered) if self.delivered else None

    @property
    def late_vs_due(self) -> list[OrderRow]:
        return [o for o in self.delivered if o.late_days is not None]

    @property
    def over_promise(self) -> list[OrderRow]:
        return [o for o in self.delivered if o.working_days > self.promise_days]

    def to_dict(self) -> dict[str, Any]:
        s = self.scope
        filters = {k: getattr(s, k) for k in ("stage", "retoucher", "preset", "client", "order_id")}
        filters["shoot"] = s.shoot.value if s.shoot else None
        earlier = self.earlier
        return {
            "period": {"first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(),
                       "calendar_days": self.calendar_days, "working_days": self.working_days},
            "filters": filters,
            "stages": [r.to_dict() for r in self.stages],
            "rework": {"rejections_by_stage": self.rework.rejections,
                       "by_stage_and_reason": [{"stage": st, "reason": re, "rejections": n}
                                               for (st, re), n in sorted(self.rework.by_reason.items())],
                       "rejections": self.rework.total_rejections, "reasons_given": self.rework.total_reasons,
                       "note": "a rejection with several reasons counts once for its stage and once per reason",
                       "monthly": [{"month": m, "stage": st, "reason": re, "rejections": n}
                                   for (m, st, re), n in sorted(self.rework.monthly.items())]},
            "retouchers": {"comparison_period": None if earlier is None else {
                "since": earlier.since.date().isoformat() if earlier.since else None,
                "until": (earlier.until - timedelta(days=1)).date().isoformat() if earlier.until else None},
                "rows": [r.to_dict() for r in self.retouchers]},
            "orders": {"promise_working_days": self.promise_days,
                       "delivered": [dict(o.to_dict(self.promise_days),
                                          rolled_yield=_r(self.yields[o.order_id].rolled)
                                          if o.order_id in self.yields else None) for o in self.delivered],
                       "late_vs_due": [o.order_id for o in self.late_vs_due],
                       "over_promise": [o.order_id for o in self.over_promise],
                       "revision_rounds_per_order": _r(self.revision_rounds),
                       "revision_rounds_target": self.revision_target},
            "forecast": {"photos_per_working_day": _r(self.forecast.rate), "photos_passed": self.forecast.photos_passed,
                         "working_days": self.forecast.working_days, "photos_in_line": self.forecast.in_line,
                         "lead_working_days": _r(self.forecast.lead_days), "today": self.today.isoformat(),
                         "orders": [o.to_dict() for o in self.forecast.orders]},
            "trend": {"bucket": self.trend_bucket,
                      "rows": [{"bucket": b, "stage": st, "finished_photos": n}
                               for (b, st), n in sorted(self.trend.items())]},
            "groups": {by: [g.to_dict(self.promise_days) for g in rows] for by, rows in self.groups.items()},
            "cull_agreement": self.cull_agreement,
            "ratings_agreement": self.ratings_agreement,
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def stage_titles(session: Session, line: Line, keys: set[str]) -> dict[str, str]:
    """Stage key -> title: the line's, the pseudo-stages', and for a stage only an older line had, the title an
    order's recorded line gives it (else the key)."""
    titles = dict(PSEUDO_TITLES) | {s.key: s.title for s in line.stages}
    missing = keys - set(titles)
    if missing:
        for text in session.execute(select(Order.line_json).where(Order.line_json.is_not(None))
                                    .group_by(Order.line_json)).scalars():
            for spec in Line.model_validate_json(text).stages:
                titles.setdefault(spec.key, spec.title)
            if not keys - set(titles):
                break
    return titles


def _trend(session: Session, scope: Scope, bucket: str) -> dict[tuple[str, str], int]:
    when = (day_of if bucket == "day" else month_of)(EVENTS.c.at)
    rows = session.execute(
        select(when, EVENTS.c.stage, func.count(EVENTS.c.photo_id.distinct()))
        .where(EVENTS.c.kind == K.SUBMITTED, *scope.events(EVENTS)).group_by(when, EVENTS.c.stage)
    ).all()
    return {(b, stage): n for b, stage, n in rows}


def year_earlier(scope: Scope, now: datetime | None = None) -> Scope | None:
    """The same period a year earlier (the retouchers' trend compares with it by default); a period still running
    (``--since`` alone) up to ``now``. None for the whole record."""
    if scope.since is None:
        return None
    if scope.until is None:
        if now is None:
            return None
        scope = scope.shifted(scope.since, now)

    def back(moment: datetime) -> datetime:
        try:
            return moment.replace(year=moment.year - 1)
        except ValueError:                   # 29 February
            return moment.replace(year=moment.year - 1, day=28)
    return scope.shifted(back(scope.since), back(scope.until))


def build_report(session: Session, scope: Scope, calendar: WorkCalendar, *, earlier: Scope | None = None,
                 line: Line | None = None, now: datetime | None = None) -> Report:
    """Every figure of ``scope``; the retouchers' trend against ``earlier`` (default: a year earlier)."""
    now = now or utcnow()
    line = line or studio_line(session)
    settings = get_settings()
    first = scope.since or session.execute(select(func.min(EVENTS.c.at))).scalar_one() or now
    first_day = (first if isinstance(first, datetime) else datetime.fromisoformat(first)).date()
    if scope.until is not None and scope.until <= now:
        last_day = (scope.until - timedelta(microseconds=1)).date()
    else:                                    # a period still running counts up to today
        last_day = now.astimezone(UTC).date()
    if scope.since is None:                  # a period ending before the record's first event: its last day alone
        first_day = min(first_day, last_day)
    elif first_day > last_day:               # a period not started yet: its days as asked, nothing in them yet
        last_day = (scope.until - timedelta(microseconds=1)).date() if scope.until is not None else first_day
    calendar_days = max(1, (last_day - first_day).days + 1)
    earlier = earlier if earlier is not None else year_earlier(scope, now)
    first_passes = first_pass_rows(session, scope, by="actor")     # shared: per stage and per retoucher
    stages = stage_rows(session, scope, line, days=calendar_days, now=now, first_passes=first_passes)
    worked = rework(session, scope)
    titles = stage_titles(session, line, {r.stage for r in stages} | set(worked.rejections))
    for row in stages:
        row.title = titles.get(row.stage, row.stage)
    delivered = delivered_orders(session, scope, calendar)
    bucket = "day" if calendar_days <= MONTHLY_AFTER_DAYS else "month"
    return Report(
        scope=scope, first_day=first_day, last_day=last_day, earlier=earlier, titles=titles, stages=stages,
        rework=worked, retouchers=retouchers(session, scope, earlier, first_passes=first_passes), delivered=delivered,
        yields=rolled_yields(session, [o.order_id for o in delivered]),
        forecast=forecast(session, scope, calendar, today=now.date(), first_day=first_day,
                          end_day=last_day + timedelta(days=1)),
        trend_bucket=bucket, trend=_trend(session, scope, bucket),
        groups={by: groups(session, scope, by, delivered) for by in ("shoot", "client")},
        promise_days=settings.promise_working_days, revision_target=settings.revision_rounds_target,
        today=now.date(), working_days=calendar.working_days(first_day, last_day + timedelta(days=1)),
        cull_agreement=_cull_agreement(session, scope),
        ratings_agreement=_ratings_agreement(session, scope),
    )


def _cull_agreement(session: Session, scope: Scope) -> dict[str, Any] | None:
    """How the senior photographer's review of the originals compared with the suggested cull (record/cull.py),
    over the period (and order, if the scope names one); None when nobody decided on a suggestion."""
    from record.cull import agreement

    found = agreement(session, since=scope.since, until=scope.until, order_id=scope.order_id)
    if not found.decisions:
        return None
    return {"decisions": found.decisions, "agreed": f"{found.rate:.0%}",
            "suggested rejects kept": f"{found.rejects_kept} of {found.suggested_rejects}",
            "suggested keeps culled": f"{found.keeps_culled} of {found.suggested_keeps}"}


def _ratings_agreement(session: Session, scope: Scope) -> dict[str, Any] | None:
    """How the review of the originals decided the frames the photographers had rated themselves
    (record/ratings.py): their rejects kept, their picks culled; None when no rated frame was decided."""
    from record.ratings import against_review

    found = against_review(session, since=scope.since, until=scope.until, order_id=scope.order_id)
    if not found.decided:
        return None
    return {"rated frames decided": found.decided,
            "photographer's rejects kept": f"{found.rejects_kept} of {found.rejects}",
            "photographer's picks culled": f"{found.picks_culled} of {found.picks}"}


def known_stage(session: Session, line: Line, key: str) -> bool:
    """Whether ``key`` is a stage of the line, a pseudo-stage, or one the record has events of."""
    if key in PSEUDO_TITLES or any(s.key == key for s in line.stages):
        return True
    return session.execute(select(EVENTS.c.id).where(EVENTS.c.stage == key).limit(1)).first() is not None
