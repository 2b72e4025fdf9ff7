"""What an order's run leaves on its flow run in the Prefect UI: the order's summary (``order-N-delivery``:
the delivery, turnaround against the due date and the promise, the per-stage table, rework by reason, the
photos not delivered and why) and its stage table as a sortable table artifact (``order-N-stages``).

Published when the run ends, delivered or not (:func:`published_report`), so a lead sees where an order
stopped as well as what it delivered; the figures are the record's (record/figures).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.logging import get_logger

from config.calendar import get_calendar
from config.settings import get_settings
from record import stats, work
from record.db import transaction
from record.figures.orders import delivered_orders
from record.figures.quality import rework
from record.figures.scope import Scope
from record.figures.views import duration, pct
from record.models import OrderStatus, PhotoStatus
from tasks.reporting import cell

NOT_DELIVERED = (PhotoStatus.REJECTED, PhotoStatus.DUPLICATE, PhotoStatus.FAILED, PhotoStatus.HELD,
                 PhotoStatus.CHART, PhotoStatus.CULLED)
HEADERS = ["stage", "photos in", "finished", "sent back", "passes", "failed", "rework rate", "first-pass yield",
           "touch median", "machine median", "queue wait median"]


def _turnaround(order, first_delivered) -> str:  # noqa: ANN001
    if first_delivered is None:
        return "**Turnaround:** not delivered yet"
    calendar, promise = get_calendar(), get_settings().promise_working_days
    days = calendar.turnaround(order.created_at.date(), first_delivered)
    text = f"**Turnaround:** {days} working days to the first delivery ({first_delivered}; promise {promise})"
    if days > promise:
        text += ", **over the promise**"
    if order.due is not None:
        text += (f", due {order.due}: **{calendar.turnaround(order.due, first_delivered)} working days late**"
                 if first_delivered > order.due else f", due {order.due}: on time")
    return text


@task(name="order-report")
def publish_order_report(order_id: int) -> None:
    with transaction() as session:
        order = work.get_order(session, order_id)
        rows = stats.stage_table(session, order_id=order_id, detail=True)
        reasons = rework(session, Scope(order_id=order_id))
        trouble = [p for p in work.photos(session, order_id) if p.status in NOT_DELIVERED]
        delivered = delivered_orders(session, Scope(order_id=order_id), get_calendar())
    table = [[r.title, r.entered, r.finished, r.sent_back, r.finished_passes, r.failed, pct(r.rework_rate),
              pct(r.first_pass_yield), duration(r.touch.median), duration(r.machine.median), duration(r.wait.median)]
             for r in rows]
    delivery = (f"**Delivery:** `{order.delivery_path}`" if order.delivery_path else
                "**Delivery:** none: no photo passed" if order.status is OrderStatus.FAILED else "**Delivery:** none yet")
    lines = [f"### {order.client} · order {order_id}", "", delivery, "",
             _turnaround(order, delivered[0].delivered if delivered else None), "",
             "| " + " | ".join(HEADERS) + " |", "|---|" + "---:|" * (len(HEADERS) - 1)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table]
    titles = {r.stage: r.title for r in rows}
    if reasons.by_reason:
        lines += ["", f"**QC rejections:** {reasons.total_rejections} ({reasons.total_reasons} reasons; a rejection "
                  "with several counts under each): " + ", ".join(
                      f"{cell(titles.get(stage, stage))} {cell(reason)} {n}"
                      for (stage, reason), n in sorted(reasons.by_reason.items()))]
    if trouble:
        lines += ["", "**Not delivered:**", ""]
        lines += [f"- `{p.source_name}` ({p.status.value}): {p.reason}" for p in trouble]
    create_markdown_artifact(key=f"order-{order_id}-delivery", markdown="\n".join(lines),
                             description=f"Order {order_id}: delivery and per-stage summary")
    create_table_artifact(key=f"order-{order_id}-stages", table=[dict(zip(HEADERS, row)) for row in table],
                          description=f"Order {order_id}: per stage, photos and passes, rework, time")


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
