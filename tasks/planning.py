"""Small tasks that tell the order flow what to do next, from the production record."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from config.settings import get_settings
from record import progress, runs, selection, work
from record.db import transaction
from record.models import CLIENT_SELECTION, QC_GATE
from tasks.ingest import scan_card


def chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


@task(name="plan-ingest")
def plan_ingest(order_id: int, card_folder: str) -> list[list[str]]:
    """The card's files not yet recorded for this order, in batches."""
    with transaction() as session:
        known = work.known_sources(session, order_id)
    todo = [name for name in scan_card(Path(card_folder)) if name not in known]
    return chunks(todo, get_settings().batch_size)


@task(name="next-stage")
def next_stage(order_id: int, run_id: str) -> str | None:
    """The first stage of the order's line (then the QC gate) that has queued work for this order; once grading
    has none, the client's selection while photos await it (record/selection.py). Stops the run
    (record.runs.NotTheHolder) if it no longer holds the order."""
    with transaction() as session:
        runs.ensure_holder(session, order_id, run_id)
        pending = work.stages_with_work(session, order_id)
        line = work.order_line(session, order_id)
        client = line.first.key not in pending and bool(selection.awaiting(session, order_id))
    if client:
        return CLIENT_SELECTION
    for key in [s.key for s in line.stages] + [QC_GATE]:
        if key in pending:
            return key
    return None


@task(name="plan-batches")
def plan_batches(order_id: int, stage: str) -> list[list[int]]:
    with transaction() as session:
        ids = [item.id for item in work.items_in(session, order_id, stage)]
    return chunks(ids, get_settings().batch_size)


def add_counts(results: list[dict[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for counts in results:
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
    return totals


def round_title(order_id: int, stage: str, title: str) -> str:
    """A stage's (or gate's) sub-run name: ``title · order N``, and ``· round R`` when the photos it takes are
    rework (the highest round waiting there), so a rework pass reads apart from the first in the Prefect UI."""
    with transaction() as session:
        highest = progress.open_round(session, order_id, stage)
    return f"{title} · order {order_id}" + (f" · round {highest}" if highest > 1 else "")


def order_title(order_id: int) -> str:
    """How an order is named in the Prefect UI: client and order number."""
    with transaction() as session:
        return f"{work.get_order(session, order_id).client} · order {order_id}"
