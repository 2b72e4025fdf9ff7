"""The SQL pieces the figures share, written once for SQLite and PostgreSQL so both give the same numbers.

- :func:`seconds_between`, :func:`day_of`, :func:`month_of`: the few expressions the two dialects spell
  differently (SQLite stores times as text: ``julianday``/``strftime``; PostgreSQL: ``EXTRACT``/``to_char``).
- :func:`percentiles`: median and p90 by nearest rank (the smallest value with at least that share of the
  values at or below it), from ordered rows numbered in SQL (``ROW_NUMBER``/``COUNT`` over a window): SQLite has
  no percentile function, and PostgreSQL's ``percentile_cont`` interpolates, which would make the two differ.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import Subquery
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


def percentiles(session: Session, values: Subquery, groups: Sequence[str]) -> dict[tuple, tuple[int, float, float]]:
    """Group -> (count, median, p90) of ``values.c.value`` by the columns named ``groups``, by nearest rank:
    the value of rank ceil(p * n) in ascending order (rank r qualifies when r >= p * n: 2r >= n, 10r >= 9n)."""
    keys = [values.c[name] for name in groups]
    ranked = select(*keys, values.c.value,
                    func.row_number().over(partition_by=keys, order_by=values.c.value).label("rank"),
                    func.count().over(partition_by=keys).label("n")).subquery("ranked")
    rank, n = ranked.c["rank"], ranked.c.n
    rows = session.execute(
        select(*(ranked.c[name] for name in groups), func.max(n),
               func.min(case((rank * 2 >= n, ranked.c.value))), func.min(case((rank * 10 >= n * 9, ranked.c.value))))
        .group_by(*(ranked.c[name] for name in groups))
    ).all()
    # Kept to the millisecond: SQLite's julianday arithmetic is a few microseconds off PostgreSQL's epoch one.
    return {tuple(row[:len(groups)]): (int(row[-3]), round(float(row[-2]), 3), round(float(row[-1]), 3))
            for row in rows}
