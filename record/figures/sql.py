"""The SQL pieces the figures share, written once for SQLite and PostgreSQL so both give the same numbers.

- :func:`seconds_between`, :func:`day_of`, :func:`month_of`: the few expressions the two dialects spell
  differently (SQLite stores times as text: ``julianday``/``substr``; PostgreSQL: ``EXTRACT``/``to_char``).
- :class:`unindexed`: a column SQLite's planner must not use an index for (its ``+column``), where the index it
  would pick reads rows one by one or needs a sort, and another one covers the whole statement in order.
- :func:`percentiles`: median and p90 by nearest rank (the smallest value with at least that share of the
  values at or below it), picked in SQL by rank (``LIMIT 1 OFFSET``): SQLite has no percentile function, and
  PostgreSQL's ``percentile_cont`` interpolates, which would make the two differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Float, cast, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session

from record.models import EventKind, StageEvent, WorkItem

EVENTS = StageEvent.__table__
ITEMS = WorkItem.__table__
K = EventKind


class seconds_between(FunctionElement):  # noqa: N801 - reads as the SQL function it is
    """Seconds from the first timestamp to the second, as a float."""
    type = Float()
    inherit_cache = True


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element, compiler, **kw):  # noqa: ANN001
    start, end = list(element.clauses)
    return f"((julianday({compiler.process(end, **kw)}) - julianday({compiler.process(start, **kw)})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element, compiler, **kw):  # noqa: ANN001
    start, end = list(element.clauses)
    return (f"CAST(EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)})) "
            "AS DOUBLE PRECISION)")


class unindexed(FunctionElement):  # noqa: N801
    """The column as it is, but on SQLite written ``+column``: no index is used for a term on it, so the planner
    takes the index that covers the rest of the statement (and its order) instead."""
    inherit_cache = True

    def __init__(self, column: ColumnElement):
        self.type = column.type
        super().__init__(column)


@compiles(unindexed)
def _unindexed(element, compiler, **kw):  # noqa: ANN001
    return compiler.process(list(element.clauses)[0], **kw)


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element, compiler, **kw):  # noqa: ANN001
    return f"+{compiler.process(list(element.clauses)[0], **kw)}"


class _text_of_time(FunctionElement):  # noqa: N801
    """A timestamp as text in a fixed layout: a day ('2026-10-05') or a month ('2026-10')."""
    inherit_cache = True
    layouts = {"day": "YYYY-MM-DD", "month": "YYYY-MM"}      # PostgreSQL's to_char
    lengths = {"day": 10, "month": 7}                          # SQLite: the leading characters of its text


class day_of(_text_of_time):  # noqa: N801
    inherit_cache = True
    layout = "day"


class month_of(_text_of_time):  # noqa: N801
    inherit_cache = True
    layout = "month"


@compiles(_text_of_time, "sqlite")
def _time_text_sqlite(element, compiler, **kw):  # noqa: ANN001
    # SQLite holds a time as the text '2026-10-05 09:00:00.000000' (UTC, SQLAlchemy's layout): the day and the
    # month are its first 10 and 7 characters. substr() reads them without strftime's parse of every row
    # (bench/report.py, 1M events: the year's trend 0.30 -> 0.26 s, the retouchers' days 0.23 -> 0.19 s).
    return f"substr({compiler.process(list(element.clauses)[0], **kw)}, 1, {element.lengths[element.layout]})"


@compiles(_text_of_time, "postgresql")
def _time_text_postgresql(element, compiler, **kw):  # noqa: ANN001
    return f"to_char({compiler.process(list(element.clauses)[0], **kw)}, '{element.layouts[element.layout]}')"


def as_float(value: ColumnElement) -> ColumnElement:
    """PostgreSQL sums and averages of integers are NUMERIC (Decimal in Python): make them floats in SQL."""
    return cast(value, Float)


# Above this many values in a group, its ranks are walked in the value's index order (the period tested on each
# entry) rather than the period's rows sorted: a month's few thousand touch times sort faster than the walk
# through every touch time of the stage, a year's fifty thousand do not (bench/report.py, 1M events:
# 40 ms sorted, 7 ms walked for the year; 3 ms sorted, 6 ms walked for a month).
WALK_AFTER = 20_000


def percentiles(session: Session, value: ColumnElement, groups: Sequence[ColumnElement],
                where: Sequence[ColumnElement[bool]], *, when: ColumnElement,
                period: Callable[[ColumnElement], list]) -> dict[tuple, tuple[int, float, float, float]]:
    """Group -> (count, median, p90, sum) of ``value`` (NULLs left out) over the rows ``where`` keeps whose time
    ``when`` is in the ``period`` (conditions on a time column: Scope.in_period), by the columns ``groups``, by
    nearest rank: the value of rank ceil(p * n) in ascending order (the first rank r with 2r >= n for the median,
    10r >= 9n for p90).

    One statement counts and sums each group; then each picked value is one ``ORDER BY value LIMIT 1 OFFSET
    rank - 1``. For a large group that walks an index holding the rows in value order within the group
    (ix_events_durations: touch times and queue waits, stage by stage; the period tested on ``unindexed(when)``)
    and stops at the rank: no sort, no window (the window functions this replaced numbered every row into a
    temporary table: bench/report.py)."""
    present = [value.is_not(None), *where]
    counted = session.execute(select(*groups, func.count(value), func.sum(value))
                              .where(*present, *period(when)).group_by(*groups)).all()
    out = {}
    for row in counted:
        key, n, total = tuple(row[:len(groups)]), int(row[-2]), row[-1]
        if not n:
            continue
        same = [column == part for column, part in zip(groups, key)]
        in_period = period(unindexed(when) if n > WALK_AFTER else when)
        picked = [session.execute(select(value).where(*present, *in_period, *same).order_by(value).limit(1)
                                  .offset(rank - 1)).scalar_one()
                  for rank in (-(-n // 2), -(-9 * n // 10))]
        # Kept to the millisecond: SQLite's julianday arithmetic is a few microseconds off PostgreSQL's epoch one.
        out[key] = (n, round(float(picked[0]), 3), round(float(picked[1]), 3), float(total))
    return out
