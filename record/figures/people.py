"""Per retoucher: output per day worked, touch time, first-pass yield, and the trend against an earlier period.

Output is the passes a person handed back (a photo redone is work done twice); ``photos`` counts each photo
they handed back once. A day worked is a calendar day (UTC) on which they handed something back: output per day
worked is what a person does in a day at the line, whatever their holidays. First-pass yield is over their
round-1 hand-backs: the share the QC gate did not send back to that stage in round 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlmodel import Session

from record.figures.scope import Scope
from record.figures.sql import EVENTS, K, as_float, day_of
from record.figures.stages import first_pass_rows
from record.work import AUTO_WORKER


@dataclass
class RetoucherRow:
    person: str
    passes: int = 0
    photos: int = 0
    days_worked: int = 0
    touch_seconds: float = 0.0
    first_passes: int = 0
    first_passes_sent_back: int = 0
    earlier: "RetoucherRow | None" = None

    @property
    def per_day(self) -> float | None:
        return self.passes / self.days_worked if self.days_worked else None

    @property
    def per_touch_hour(self) -> float | None:
        return self.passes / (self.touch_seconds / 3600) if self.touch_seconds > 0 else None

    @property
    def first_pass_yield(self) -> float | None:
        return 1 - self.first_passes_sent_back / self.first_passes if self.first_passes else None

    @property
    def output_change(self) -> float | None:
        """Output per day worked against the earlier period: +0.15 is 15% more."""
        before = self.earlier.per_day if self.earlier else None
        return self.per_day / before - 1 if before and self.per_day is not None else None

    @property
    def yield_change(self) -> float | None:
        """First-pass yield against the earlier period, in points (0.02 is two points better)."""
        before = self.earlier.first_pass_yield if self.earlier else None
        now = self.first_pass_yield
        return now - before if before is not None and now is not None else None

    def to_dict(self) -> dict[str, object]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 4)
        return {"person": self.person, "passes": self.passes, "photos": self.photos, "days_worked": self.days_worked,
                "per_day_worked": r(self.per_day), "touch_hours": round(self.touch_seconds / 3600, 4),
                "per_touch_hour": r(self.per_touch_hour), "first_pass_photos": self.first_passes,
                "first_pass_sent_back": self.first_passes_sent_back, "first_pass_yield": r(self.first_pass_yield),
                "earlier": self.earlier.to_dict() if self.earlier else None,
                "output_change": r(self.output_change), "first_pass_yield_change": r(self.yield_change)}


def _rows(session: Session, scope: Scope, first_passes: dict[tuple, tuple[int, int]] | None) -> dict[str, RetoucherRow]:
    where = [EVENTS.c.kind == K.SUBMITTED, EVENTS.c.actor != AUTO_WORKER, *scope.events(EVENTS)]
    out = {person: RetoucherRow(person, passes, photos, days, float(seconds or 0))
           for person, passes, photos, days, seconds in session.execute(
               select(EVENTS.c.actor, func.count(), func.count(EVENTS.c.photo_id.distinct()),
                      func.count(day_of(EVENTS.c.at).distinct()),
                      as_float(func.coalesce(func.sum(EVENTS.c.seconds), 0)))
               .where(*where).group_by(EVENTS.c.actor)).all()}
    if first_passes is None:
        first_passes = first_pass_rows(session, scope, by="actor")
    for (_, person), (first, sent_back) in first_passes.items():
        if person == AUTO_WORKER:
            continue
        row = out.setdefault(person, RetoucherRow(person))
        row.first_passes += first
        row.first_passes_sent_back += sent_back
    return out


def retouchers(session: Session, scope: Scope, earlier: Scope | None, *,
               first_passes: dict[tuple, tuple[int, int]] | None = None) -> list[RetoucherRow]:
    """One row per person who handed work back in ``scope``, each with the same figures over ``earlier`` (the
    comparison period) when given; most output per day first. ``first_passes``: :func:`first_pass_rows` by actor
    for ``scope``, when the caller has them already."""
    now = _rows(session, scope, first_passes)
    if earlier is not None:
        before = _rows(session, earlier, None)
        for person, row in now.items():
            row.earlier = before.get(person)
    return sorted(now.values(), key=lambda r: (-(r.per_day or 0), r.person))
