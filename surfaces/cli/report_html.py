"""`postline report --html FILE`: the report's tables and its charts in one HTML file that opens offline.

Charts are Plotly figures; plotly.js (~4.8 MB) is inlined once in the page's head, so the file needs no
network. Tables are the terminal's (:mod:`record.figures.views`), escaped by Jinja2
(templates/report.html). The charts:

- ``chart-rework-stage`` / ``chart-rework-reason``: QC rejections per month by stage blamed and by reason;
- ``chart-throughput``: photos finished per day (or month) in each stage;
- ``chart-turnaround``: orders by turnaround in working days, against the promise;
- ``chart-retouchers``: output per day worked, now and in the earlier period.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import plotly.graph_objects as go
from jinja2 import Environment, FileSystemLoader, select_autoescape
from plotly.offline import get_plotlyjs

from record.figures import views as text
from record.figures.report import Report

TEMPLATES = Path(__file__).parents[1] / "templates"
CONFIG = {"displaylogo": False, "responsive": True}


def _layout(fig: go.Figure, title: str, x: str, y: str, *, counts: bool = True, categories: bool = True,
            **kw: object) -> go.Figure:
    """The charts' common look: months, days and names as categories (not a time axis with gaps), counts as
    whole numbers."""
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white", height=380,
                      margin={"l": 60, "r": 20, "t": 50, "b": 50}, legend={"orientation": "h", "y": -0.2}, **kw)
    if categories:
        fig.update_xaxes(type="category")
    if counts:                      # whole numbers, about five ticks
        top = max((max(list(trace.y or [0]) or [0]) for trace in fig.data if trace.y is not None), default=0)
        if fig.layout.barmode == "stack":      # each bar's height: its traces' values at its x, summed
            heights: dict = {}
            for trace in fig.data:
                for at, value in zip(list(trace.x or []), list(trace.y or [])):
                    heights[at] = heights.get(at, 0) + (value or 0)
            top = max(heights.values(), default=top)
        fig.update_yaxes(tickformat="d", dtick=max(1, math.ceil(top / 5)))
    fig.update_yaxes(rangemode="tozero")
    return fig


def rework_by_stage(rep: Report) -> go.Figure | None:
    months = sorted({m for m, _ in rep.rework.monthly_rejections})
    stages = sorted({s for _, s in rep.rework.monthly_rejections})
    if not months:
        return None
    fig = go.Figure([go.Bar(name=rep.title(stage), x=months,
                            y=[rep.rework.monthly_rejections.get((m, stage), 0) for m in months]) for stage in stages])
    return _layout(fig, "QC rejections by stage blamed, per month", "month", "rejections", barmode="stack")


def rework_by_reason(rep: Report) -> go.Figure | None:
    months = sorted({m for m, _, _ in rep.rework.monthly})
    reasons = sorted({r for _, _, r in rep.rework.monthly})
    if not months:
        return None
    count = {}
    for (m, _, r), n in rep.rework.monthly.items():
        count[(m, r)] = count.get((m, r), 0) + n
    fig = go.Figure([go.Bar(name=reason, x=months, y=[count.get((m, reason), 0) for m in months])
                     for reason in reasons])
    return _layout(fig, "QC rejections by reason, per month (once under each reason)", "month", "rejections",
                   barmode="stack")


def every_bucket(buckets: set[str], bucket: str) -> list[str]:
    """Every day (``2026-11-30``) or month (``2026-11``) from the first of ``buckets`` to the last: a day when
    nothing was finished is a 0 on the chart, not a line drawn straight over it."""
    if not buckets:
        return []
    first, last = min(buckets), max(buckets)
    if bucket == "day":
        start, end = date.fromisoformat(first), date.fromisoformat(last)
        return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
    year, month = map(int, first.split("-"))
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def throughput(rep: Report) -> go.Figure | None:
    buckets = every_bucket({b for b, _ in rep.trend}, rep.trend_bucket)
    if not buckets:
        return None
    order = [r.stage for r in rep.stages]
    stages = sorted({s for _, s in rep.trend}, key=lambda s: order.index(s) if s in order else len(order))
    fig = go.Figure([go.Scatter(name=rep.title(stage), x=buckets, y=[rep.trend.get((b, stage), 0) for b in buckets],
                                mode="lines+markers") for stage in stages])
    return _layout(fig, f"Photos finished per {rep.trend_bucket}, by stage", rep.trend_bucket, "photos")


def turnaround(rep: Report) -> go.Figure | None:
    if not rep.delivered:
        return None
    orders = Counter(o.working_days for o in rep.delivered)
    days = sorted(orders)
    fig = go.Figure([go.Bar(name=name, x=[d for d in days if keep(d)], y=[orders[d] for d in days if keep(d)],
                            marker_color=colour, width=0.9)
                     for name, colour, keep in (("within the promise", "#2e7d32", lambda d: d <= rep.promise_days),
                                                ("over the promise", "#c62828", lambda d: d > rep.promise_days))])
    fig.add_vline(x=rep.promise_days + 0.5, line_dash="dash", line_color="#555",
                  annotation_text=f"promise: {rep.promise_days} working days")
    return _layout(fig, "Orders by turnaround (working days to first delivery)", "working days", "orders",
                   categories=False, barmode="stack")


def retouchers(rep: Report) -> go.Figure | None:
    if not rep.retouchers:
        return None
    people = [r.person for r in rep.retouchers]
    bars = [go.Bar(name="this period", x=people, y=[r.per_day or 0 for r in rep.retouchers])]
    if any(r.earlier for r in rep.retouchers):
        bars.append(go.Bar(name="earlier period", x=people,
                           y=[r.earlier.per_day or 0 if r.earlier else 0 for r in rep.retouchers]))
    return _layout(go.Figure(bars), "Output per day worked (passes handed back)", "retoucher", "per day",
                   counts=False, barmode="group")


CHARTS = {"chart-rework-stage": rework_by_stage, "chart-rework-reason": rework_by_reason,
          "chart-throughput": throughput, "chart-turnaround": turnaround, "chart-retouchers": retouchers}


def render(rep: Report, headline: str) -> str:
    charts = []
    for chart_id, make in CHARTS.items():
        fig = make(rep)
        charts.append({"id": chart_id, "html": None if fig is None else
                       fig.to_html(full_html=False, include_plotlyjs=False, div_id=chart_id, config=CONFIG)})
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    views = [*text.views(rep, None), text.group_view(rep, "shoot"), text.group_view(rep, "client")]
    return env.get_template("report.html").render(
        headline=headline, plotly_js=get_plotlyjs(), charts=charts, summary=text.summary_lines(rep),
        tables=[{"title": v.title, "headers": v.headers, "rows": v.cells(), "note": v.note} for v in views])


def write_html(rep: Report, path: Path, headline: str) -> Path:
    """Write the page to ``path`` (whole or not at all: a temporary file renamed into place); its path."""
    page = render(rep, headline)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path.resolve()
