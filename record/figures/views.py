"""The report's tables, as every presentation lays them out: the terminal and CSV (surfaces/cli/report.py), the HTML
page (surfaces/cli/report_html.py) and the Prefect artifacts (tasks/reporting.py).

A :class:`View` is a table: its title, its columns (each with the raw value, for CSV and charts, and how it
reads) and its items. Stages are named by title here; the JSON form (:meth:`Report.to_dict`) names them by key.
Text from people (client names) is left as it is: each presentation escapes it its own way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from record.figures.report import Report

# --- how values read ----------------------------------------------------------------------------------------------

def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def duration(seconds: float | None) -> str:
    """0.28 s, 45 s, 12 min, 3.5 h, 7.0 d."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def change(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def points(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f} pt"


def number(value: float | None, places: int = 2) -> str:
    return "-" if value is None else f"{value:.{places}f}"


RAW_UNITS = {duration: " (seconds)", pct: " (fraction)", change: " (fraction)", points: " (fraction)"}


def plain(value: object) -> str:
    return "-" if value is None else str(value)


def late(working_days: int | None) -> str:
    """How late a delivery was against its due date, in working days; one after it on a day off (a Saturday for
    a Friday) is late by less than a working day, not '0 working days late'."""
    if working_days is None:
        return "-"
    return "late on a day off" if working_days == 0 else f"{_many(working_days, 'working day')} late"


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], object]                 # the raw value (CSV, charts)
    reads: Callable[[object], str] = plain         # how it reads in a table


@dataclass(frozen=True)
class View:
    title: str
    columns: tuple[Column, ...]
    items: Sequence[Any]
    note: str = ""

    def cells(self) -> list[list[str]]:
        return [[c.reads(c.value(item)) for c in self.columns] for item in self.items]

    def raw(self) -> list[list[object]]:
        return [[c.value(item) for c in self.columns] for item in self.items]

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]

    @property
    def raw_headers(self) -> list[str]:
        """The headers of :meth:`raw`'s values, with their units where the table's reading hid them: seconds where
        it reads "12 min", a fraction where it reads "25.0%"."""
        return [c.header + RAW_UNITS.get(c.reads, "") for c in self.columns]


# --- the tables ------------------------------------------------------------------------------------------------------

def stage_views(rep: Report) -> list[View]:
    rows = rep.stages
    stage = Column("stage", lambda r: r.title)
    lead = any(r.lead_wait.n for r in rows)        # a line with a lead's review at the QC gate
    return [
        View("Flow (photos; a photo through a stage twice is one photo, two passes)", (
            stage, Column("entered", lambda r: r.entered), Column("passes in", lambda r: r.entered_passes),
            Column("finished", lambda r: r.finished), Column("passes out", lambda r: r.finished_passes),
            Column("sent back", lambda r: r.sent_back if r.work_stage or r.stage == "qc_gate" else None),
            Column("rejections", lambda r: r.rejections if r.work_stage or r.stage == "qc_gate" else None),
            Column("held", lambda r: r.held), Column("failed", lambda r: r.failed),
            Column("WIP at end", lambda r: r.wip), Column("per day", lambda r: r.per_day, number)), rows,
            "sent back: photos QC sent back with the stage blamed (on the gate's row, all it sent back); "
            "per day: photos finished per calendar day"),
        View("Time (people: touch time, claim to hand-back; the automatic worker: machine time)", (
            stage, Column("people passes/touch h", lambda r: r.people_per_hour, lambda v: number(v, 1)),
            Column("touch median", lambda r: r.touch.median, duration),
            Column("touch p90", lambda r: r.touch.p90, duration),
            Column("machine median", lambda r: r.machine.median, duration),
            Column("machine p90", lambda r: r.machine.p90, duration),
            Column("queue wait median", lambda r: r.wait.median, duration),
            Column("queue wait p90", lambda r: r.wait.p90, duration),
            *((Column("lead's decision median", lambda r: r.lead_wait.median, duration),
               Column("lead's decision p90", lambda r: r.lead_wait.p90, duration)) if lead else ())),
            [r for r in rows if r.stage not in ("ingest", "delivery")],
            "the QC gate's queue wait runs until its automatic checks start"
            + ("; lead's decision: from those checks to the lead's pass or send-back (the wait for the lead and "
               "the review)" if lead else "")),
        View("Quality", (
            stage, Column("rework rate", lambda r: r.rework_rate, pct),
            Column("first passes", lambda r: r.first_passes),
            Column("sent back in round 1", lambda r: r.first_passes_sent_back),
            Column("first-pass yield", lambda r: r.first_pass_yield, pct)),
            [r for r in rows if r.work_stage],
            "rework rate: photos sent back / photos finished in the stage; first-pass yield: round-1 hand-backs "
            "QC did not send back to the stage"),
    ]


def reason_view(rep: Report) -> View:
    finished = {r.stage: r.finished for r in rep.stages}
    items = []
    for stage, total in sorted(rep.rework.rejections.items(), key=lambda kv: -kv[1]):
        items.append((stage, "(all reasons)", total, finished.get(stage)))
        items += [(stage, reason, n, finished.get(stage)) for (s, reason), n in
                  sorted(rep.rework.by_reason.items(), key=lambda kv: -kv[1]) if s == stage]
    rate = (lambda i: i[2] / i[3] if i[3] else None)
    note = (f"a rejection with several reasons counts once for its stage and once under each reason: "
            f"{_many(rep.rework.total_rejections, 'rejection')} "
            f"{'carries' if rep.rework.total_rejections == 1 else 'carry'} {_many(rep.rework.total_reasons, 'reason')}")
    return View("QC rejections by stage blamed and reason", (
        Column("stage blamed", lambda i: rep.title(i[0])), Column("reason", lambda i: i[1]),
        Column("rejections", lambda i: i[2]), Column("per photo finished there", rate, pct)), items, note)


def retoucher_view(rep: Report) -> View:
    earlier = rep.earlier
    then = (f"{earlier.since:%Y-%m-%d} to {earlier.until.date() - timedelta(days=1)}"
            if earlier and earlier.since and earlier.until else "no earlier period")
    was = (lambda attr: lambda r: getattr(r.earlier, attr) if r.earlier else None)
    return View(f"Retouchers (against {then})", (
        Column("person", lambda r: r.person), Column("handed back", lambda r: r.passes),
        Column("photos", lambda r: r.photos), Column("days worked", lambda r: r.days_worked),
        Column("per day worked", lambda r: r.per_day, number),
        Column("per touch h", lambda r: r.per_touch_hour, lambda v: number(v, 1)),
        Column("first-pass yield", lambda r: r.first_pass_yield, pct),
        Column("per day then", was("per_day"), number), Column("output change", lambda r: r.output_change, change),
        Column("yield then", was("first_pass_yield"), pct),
        Column("yield change", lambda r: r.yield_change, points)), rep.retouchers,
        "output: passes handed back; a day worked: a day with a hand-back; studio target: output +15% on the year")


def order_view(rep: Report) -> View:
    promise = rep.promise_days
    rolled = (lambda o: rep.yields[o.order_id].rolled if o.order_id in rep.yields else None)
    return View(f"Orders first delivered (turnaround in working days; promise {promise})", (
        Column("order", lambda o: o.order_id), Column("client", lambda o: o.client), Column("shoot", lambda o: o.shoot),
        Column("came in", lambda o: o.came_in), Column("delivered", lambda o: o.delivered),
        Column("due", lambda o: o.due), Column("working days", lambda o: o.working_days),
        Column("late vs due", lambda o: o.late_days, late),
        Column("over promise", lambda o: o.working_days > promise, lambda v: "yes" if v else "no"),
        Column("revision rounds", lambda o: o.revisions), Column("rolled yield", rolled, pct)), rep.delivered)


def forecast_view(rep: Report) -> View:
    f = rep.forecast
    return View(f"Forecast for open orders (from {rep.today})", (
        Column("order", lambda o: o.order_id), Column("client", lambda o: o.client),
        Column("rush", lambda o: o.rush, lambda v: "rush" if v else ""), Column("due", lambda o: o.due),
        Column("photos left", lambda o: o.photos_left), Column("photos ahead", lambda o: o.ahead),
        Column("finish", lambda o: o.finish),
        Column("will miss due", lambda o: o.will_miss, lambda v: "MISSES" if v else "")), f.orders, _forecast_note(rep))


def _forecast_note(rep: Report) -> str:
    """λ, L and W, or why there is no λ: the period has not started, has no working day (photos QC passed on a
    weekend are no rate per working day), or no photo went through QC in it."""
    f = rep.forecast
    if f.rate is not None:
        return (f"λ = {f.rate:.2f} photos through QC per working day ({f.photos_passed} in {f.working_days}); "
                f"L = {f.in_line} photos in the line; W = L/λ = {f.lead_days:.1f} working days (Little's law)")
    if rep.not_started:
        return "the period has not started: no throughput to forecast with"
    if not f.working_days:
        return (f"the period has no working day ({_many(f.photos_passed, 'photo')} through QC on its days off): "
                "no throughput per working day to forecast with")
    return "no photo went through QC in the period: no throughput to forecast with"


def group_view(rep: Report, by: str) -> View:
    promise = rep.promise_days
    return View(f"By {'shoot type' if by == 'shoot' else 'client'}", (
        Column(by, lambda g: g.key), Column("photos through QC", lambda g: g.photos_passed),
        Column("sent back", lambda g: g.photos_sent_back), Column("rework rate", lambda g: g.rework_rate, pct),
        Column("orders delivered", lambda g: len(g.orders or [])),
        Column("mean working days", lambda g: g.to_dict(promise)["mean_working_days"], lambda v: number(v, 1)),
        Column("late vs due", lambda g: g.to_dict(promise)["late_vs_due"]),
        Column("over promise", lambda g: g.to_dict(promise)["over_promise"]),
        Column("revision rounds", lambda g: g.to_dict(promise)["revision_rounds_per_order"])), rep.groups[by],
        "rework rate here: photos QC sent back, of the photos QC decided on (a stage's rework rate: photos sent "
        "back to it, of the photos it finished)")


def views(rep: Report, by: str | None) -> list[View]:
    chosen = {"stage": stage_views(rep), "reason": [reason_view(rep)], "retoucher": [retoucher_view(rep)],
              "shoot": [group_view(rep, "shoot")], "client": [group_view(rep, "client")],
              "order": [order_view(rep)], "forecast": [forecast_view(rep)]}
    if by is not None:
        return chosen[by]
    return [*chosen["stage"], reason_view(rep), retoucher_view(rep), order_view(rep), forecast_view(rep)]


def headline(rep: Report) -> str:
    s = rep.scope
    filters = [f"{name} {value}" for name, value in (
        ("stage", s.stage), ("retoucher", s.retoucher), ("shoot", s.shoot.value if s.shoot else None),
        ("preset", s.preset), ("client", s.client)) if value is not None]
    days = f"{rep.calendar_days} day{'s' if rep.calendar_days != 1 else ''}"
    working = f"{rep.working_days} working day{'s' if rep.working_days != 1 else ''}"
    started = f", not started yet (today is {rep.today})" if rep.not_started else ""
    return (f"Production report, {rep.first_day} to {rep.last_day} ({days}, {working}; UTC){started}. "
            f"Filters: {', '.join(filters) or 'none'}.")


def summary_lines(rep: Report) -> list[str]:
    lines = []
    missed = ", ".join(f"order {o.order_id} ({o.client}, {late(o.late_days)})" for o in rep.late_vs_due)
    over = ", ".join(f"order {o.order_id} ({o.client}, {o.working_days} working days)" for o in rep.over_promise)
    lines.append(f"Late against the due date: {missed or 'none'}.")
    lines.append(f"Over the {rep.promise_days}-working-day promise: {over or 'none'}.")
    if rep.revision_rounds is not None:
        lines.append(f"Client revision rounds: {rep.revision_rounds:.2f} per delivered order "
                     f"({_many(len(rep.delivered), 'order')}; target <= {rep.revision_target:g}).")
    missing = [o for o in rep.forecast.orders if o.will_miss]
    if missing:
        lines.append("Forecast to miss their due date: " + ", ".join(
            f"order {o.order_id} ({o.client}, due {o.due}, finish {o.finish})" for o in missing) + ".")
    agreement = rep.cull_agreement
    lines.append("Review of originals, agreement with the suggested cull: "
                 + (", ".join(f"{k} {v}" for k, v in agreement.items()) if agreement else "not measured yet."))
    if rep.ratings_agreement:
        lines.append("Review of originals, against the photographers' own ratings: "
                     + ", ".join(f"{k} {v}" for k, v in rep.ratings_agreement.items()))
    return lines


def merged_stage_view(rep: Report) -> View:
    """The three stage tables side by side (one CSV table): every column once."""
    parts = stage_views(rep)
    columns = [parts[0].columns[0]] + [c for view in parts for c in view.columns[1:]]
    return View("Stages", tuple(columns), rep.stages)


def _many(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural when ``n`` is not 1: "1 order", "3 orders"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
