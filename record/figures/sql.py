"""The SQL pieces the figures share, written once for SQLite and PostgreSQL so both give the same numbers.

- :func:`seconds_between`, :func:`day_of`, :func:`month_of`: the few expressions the two dialects spell
  differently (SQLite stores times as text: ``julianday``/``strftime``; PostgreSQL: ``EXTRACT``/``to_char``).
- :func:`percentiles`: median and p90 by nearest rank (the smallest value with at least that share of the
  values at or below it), from ordered rows numbered in SQL (``ROW_NUMBER``/``COUNT`` over a window): SQLite has
  no percentile function, and PostgreSQL's ``percentile_cont`` interpolates, which would make the two differ.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Float, and_, case, cast, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import FromClause
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


class _text_of_time(FunctionElement):  # noqa: N801
    """A timestamp as text in a fixed layout: a day ('2026-10-05') or a month ('2026-10')."""
    inherit_cache = True
    layouts = {"day": ("%Y-%m-%d", "YYYY-MM-DD"), "month": ("%Y-%m", "YYYY-MM")}


class day_of(_text_of_time):  # noqa: N801
    inherit_cache = True
    layout = "day"


class month_of(_text_of_time):  # noqa: N801
    inherit_cache = True
    layout = "month"


@compiles(_text_of_time, "sqlite")
def _time_text_sqlite(element, compiler, **kw):  # noqa: ANN001
    return f"strftime('{element.layouts[element.layout][0]}', {compiler.process(list(element.clauses)[0], **kw)})"


@compiles(_text_of_time, "postgresql")
def _time_text_postgresql(element, compiler, **kw):  # noqa: ANN001
    return f"to_char({compiler.process(list(element.clauses)[0], **kw)}, '{element.layouts[element.layout][1]}')"


def as_float(value: ColumnElement) -> ColumnElement:
    """PostgreSQL sums and averages of integers are NUMERIC (Decimal in Python): make them floats in SQL."""
    return cast(value, Float)


def percentiles(session: Session, values: FromClause,
                groups: Sequence[str]) -> dict[tuple, tuple[int, float, float, float]]:
    """Group -> (count, median, p90, sum) of ``values.c.value`` (NULLs left out) by the columns named ``groups``,
    by nearest rank: the value of rank ceil(p * n) in ascending order, i.e. the row whose rank r is the first
    with r >= p * n (2r >= n > 2(r - 1) for the median; 10r >= 9n > 10(r - 1) for p90).

    The rows are numbered in one window (rank, count and sum over the same partition and order: one pass,
    and no sort at all where an index gives that order: ix_events_durations for touch times); only the two
    picked rows of each group reach the final GROUP BY. Values computed from several columns (queue waits)
    should come in as a MATERIALIZED CTE: each is then computed once, not once per use."""
    keys = [values.c[name] for name in groups]
    whole = {"partition_by": keys, "order_by": values.c.value, "rows": (None, None)}
    ranked = select(*keys, values.c.value,
                    func.row_number().over(partition_by=keys, order_by=values.c.value).label("rank"),
                    func.count().over(**whole).label("n"), func.sum(values.c.value).over(**whole).label("total"),
                    ).where(values.c.value.is_not(None)).subquery("ranked")
    rank, n, value = ranked.c["rank"], ranked.c.n, ranked.c.value
    median = and_(rank * 2 >= n, (rank - 1) * 2 < n)
    p90 = and_(rank * 10 >= n * 9, (rank - 1) * 10 < n * 9)
    names = [ranked.c[name] for name in groups]
    rows = session.execute(
        select(*names, func.max(n), func.min(case((median, value))), func.min(case((p90, value))),
               func.max(ranked.c.total))
        .where(or_(median, p90)).group_by(*names)
    ).all()
    # Kept to the millisecond: SQLite's julianday arithmetic is a few microseconds off PostgreSQL's epoch one.
    return {tuple(row[:len(groups)]): (int(row[-4]), round(float(row[-3]), 3), round(float(row[-2]), 3),
                                       float(row[-1])) for row in rows}
