"""What an order's run leaves on its own flow run in the Prefect UI (not on a sub-run): the order's summary
(``order-N-delivery``: the delivery, turnaround against the due date and the promise, the per-stage table with who
did each stage, rework by reason and each send-back with its reason, the photos not delivered and why), its stage
table as a sortable table artifact (``order-N-stages``) and its progress (tasks/progress.py) as it ended.

Published when the run ends, delivered or not (:func:`published_report`), so a lead sees where an order
stopped as well as what it delivered; the figures are the record's (record/figures).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect import task
from prefect.runtime import flow_run
from prefect.logging import get_logger

from config.calendar import HolidaysFileError, WorkCalendar, get_calendar
from config.settings import get_settings
from record import clocks, progress, ratings, stats, work
from record.db import transaction
from record.figures.orders import delivered_orders
from record.figures.quality import rework
from record.figures.scope import Scope
from record.figures.views import duration, late, pct
from record.models import OrderStatus, PhotoStatus
from tasks.deliver import in_package_as_before
from tasks.progress import order_run_id, progress_markdown, put_artifact, table_data
from tasks.reporting import cell

NOT_DELIVERED = (PhotoStatus.REJECTED, PhotoStatus.DUPLICATE, PhotoStatus.FAILED, PhotoStatus.HELD,
                 PhotoStatus.CHART, PhotoStatus.CULLED)
HEADERS = ["stage", "photos in", "finished", "sent back", "passes", "failed", "rework rate", "first-pass yield",
           "touch median", "machine median", "queue wait median", "done by"]


def _calendar() -> tuple[WorkCalendar, str]:
    """The studio's working days, and a note when its holidays file cannot be read: the summary is published
    with weekends alone (its run is no place to stop for it; `postline report` says what to mend)."""
    try:
        return get_calendar(), ""
    except HolidaysFileError as exc:
        return WorkCalendar(()), f" (holidays not counted: {exc})"


def _turnaround(order, first_delivered, calendar: WorkCalendar, note: str) -> str:  # noqa: ANN001
    if first_delivered is None:
        return "**Turnaround:** not delivered yet"
    promise = get_settings().promise_working_days
    days = calendar.turnaround(order.created_at.date(), first_delivered)
    text = (f"**Turnaround:** {days} working days to the first delivery ({first_delivered}; promise {promise})"
            + note)
    if days > promise:
        text += ", **over the promise**"
    if order.due is not None:
        text += (f", due {order.due}: **{late(calendar.turnaround(order.due, first_delivered))}**"
                 if first_delivered > order.due else f", due {order.due}: on time")
    return text


def _people(done_by: dict[str, int]) -> str:
    """Who did a stage's passes: 'rita 3, ana 1', postline's own worker as 'automatic'."""
    return ", ".join(f"{'automatic' if actor == work.AUTO_WORKER else actor} {n}"
                     for actor, n in sorted(done_by.items(), key=lambda kv: (-kv[1], kv[0]))) or "–"


@task(name="order-report")
def publish_order_report(order_id: int) -> None:
    """The order's summary and stage table, written on the order's own flow run (the run holding it; else the
    run this task is part of, from its root)."""
    with transaction() as session:
        order = work.get_order(session, order_id)
        rows = stats.stage_table(session, order_id=order_id, detail=True)
        reasons = rework(session, Scope(order_id=order_id))
        trouble = [p for p in work.photos(session, order_id) if p.status in NOT_DELIVERED]
        calendar, note = _calendar()
        delivered = delivered_orders(session, Scope(order_id=order_id), calendar)
        people = progress.people_by_stage(session, order_id)
        sent_back = progress.rejections(session, order_id)
        cameras = clocks.summary(order_id, clocks.cameras(session, order_id))
        rated = ratings.in_a_line(session, order_id)
    table = [[r.title, r.entered, r.finished, r.sent_back, r.finished_passes, r.failed, pct(r.rework_rate),
              pct(r.first_pass_yield), duration(r.touch.median), duration(r.machine.median), duration(r.wait.median),
              _people(people.get(r.stage, {}))]
             for r in rows]
    delivery = (f"**Delivery:** `{order.delivery_path}`" if order.delivery_path else
                "**Delivery:** none: no photo passed" if order.status is OrderStatus.FAILED else "**Delivery:** none yet")
    lines = [f"### {order.client} · order {order_id}", "", delivery, "",
             _turnaround(order, delivered[0].delivered if delivered else None, calendar, note), "",
             *([f"**Cameras:** {cell(cameras)}", ""] if cameras else []),
             *([f"**The photographer's ratings:** {cell(rated)}", ""] if rated else []),
             "| " + " | ".join(HEADERS) + " |", "|---|" + "---:|" * (len(HEADERS) - 2) + "---|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table]
    titles = {r.stage: r.title for r in rows}
    if reasons.by_reason:
        lines += ["", f"**QC rejections:** {reasons.total_rejections} ({reasons.total_reasons} reasons; a rejection "
                  "with several counts under each): " + ", ".join(
                      f"{cell(titles.get(stage, stage))} {cell(reason)} {n}"
                      for (stage, reason), n in sorted(reasons.by_reason.items()))]
    if sent_back:
        lines += ["", "**Rework, each send-back:**", "", "| photo | round | sent back to | by | why |",
                  "|---|---:|---|---|---|"]
        lines += [f"| {cell(name)} | {e.round} | {cell(titles.get(e.blamed_stage, e.blamed_stage))} | "
                  f"{cell('automatic QC' if e.actor == work.AUTO_WORKER else e.actor)} | {cell(e.reason or '')} |"
                  for e, name in sent_back]
    packed = in_package_as_before(order, trouble)
    as_before = [p for p in trouble if p.id in packed]
    trouble = [p for p in trouble if p.id not in packed]
    if as_before:
        lines += ["", "**Delivered as before** (the change asked for not made; the package has the version delivered "
                  "earlier):", ""]
        lines += [f"- `{p.source_name}` ({p.status.value}): {p.reason}" for p in as_before]
    if trouble:
        listed, folds = work.folded(trouble)
        lines += ["", "**Not delivered:**", ""]
        lines += [f"- `{p.source_name}` ({p.status.value}): {p.reason}" for p in listed]
        lines += [f"- ({status.value}) {cell(line)}" for status, line in folds]
        lines += [f"- (`postline status {order_id} --all` lists each file)"] if folds else []
    run_id = order_run_id(order_id) or str(flow_run.root_flow_run_id or flow_run.id)
    put_artifact(f"order-{order_id}-delivery", "markdown", "\n".join(lines),
                 f"Order {order_id}: delivery and per-stage summary, rework reasons, who did each stage", run_id)
    put_artifact(f"order-{order_id}-stages", "table", table_data([dict(zip(HEADERS, row)) for row in table]),
                 f"Order {order_id}: per stage, photos and passes, rework, time, who did it", run_id)
    put_artifact(f"order-{order_id}-progress", "markdown", progress_markdown(order_id),
                 f"Order {order_id}: where its photos are, what it waits on, how to act", run_id)


@contextmanager
def published_report(order_id: int) -> Iterator[None]:
    """Around an order's run: publish its artifacts when the run ends, whether it delivered or stopped on an
    error (a run that pauses or suspends for people publishes when it ends later). A failure to publish is
    logged and never hides the run's own outcome."""
    def publish() -> None:
        try:
            publish_order_report(order_id)
        except Exception as exc:  # noqa: BLE001 - the run's outcome matters more than its summary
            get_logger("postline.order_report").warning("order %s: summary not published: %s", order_id, exc)
    try:
        yield
    except Exception:
        publish()
        raise
    publish()
