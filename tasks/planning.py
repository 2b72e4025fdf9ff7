"""Small tasks that tell the order flow what to do next, from the production record."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.logging import get_run_logger

from config.settings import get_settings
from record import progress, runs, selection, work
from record.db import transaction
from record.models import CLIENT_SELECTION, QC_GATE
from tasks.ingest import by_shot, copied_again, scan_card


def batches(items: list) -> list[list]:
    """``items`` in batches of about POSTLINE_BATCH_SIZE: smaller when there are fewer than that per worker
    (POSTLINE_WORKERS), so that every worker has some; bigger when there would be more than POSTLINE_MAX_BATCHES,
    so a stage of a big order is tens of task runs, not hundreds (Prefect records and shows each). Their number is
    a multiple of the workers where the most allows, and their sizes differ by one at most, so the last round
    keeps every worker busy too instead of leaving one batch to finish alone."""
    settings = get_settings()
    total, workers = len(items), settings.workers
    if not total:
        return []
    size = max(min(settings.batch_size, -(-total // workers)), -(-total // settings.max_batches), 1)
    count = -(-total // size)
    if count > workers:
        whole = -(-count // workers) * workers
        count = whole if whole <= settings.max_batches else max(workers, whole - workers)
    count = min(count, total)
    small, bigger = divmod(total, count)
    out, start = [], 0
    for index in range(count):
        end = start + small + (index < bigger)
        out.append(items[start:end])
        start = end
    return out


@task(name="plan-ingest")
def plan_ingest(order_id: int, card_folder: str) -> list[list[str]]:
    """The card's files not yet recorded for this order, those refused before and copied again since
    (tasks.ingest.copied_again), and those on the card when the order was created and not recorded yet but gone
    now (ingest names them), in batches; a shot's files (a RAW and the camera's JPEG of it) in one batch, RAW
    first (tasks.ingest.by_shot). A card folder gone once the order has photos (a card wiped and reused after the
    shoot; a client's revision months later) gives nothing new; the first run needs it (tasks.inputs.check_order).
    Once the order was delivered, a file that was not on the card when the order was made is not taken (the
    run's log names it): the client's photos are those they were delivered."""
    card = Path(card_folder)
    with transaction() as session:
        known = work.known_sources(session, order_id)
        listed = work.card_listed(session, order_id)
        delivered = work.get_order(session, order_id).delivery_path is not None
    if known and not card.is_dir():     # the card put away (wiped, reused) after ingest: the archive holds the rest
        get_run_logger().info("the card folder %s is not there any more: nothing new is taken from it (the order's "
                              "originals are in its archive)", card)
        return [[name for shot in batch for name in shot] for batch in batches(by_shot(sorted(listed - known)))]
    again = copied_again(order_id, card)         # refused before, copied again since
    known -= again
    todo = sorted(set(scan_card(card)) - known | (listed - known))
    if delivered and listed and (added := [name for name in todo if name not in listed and name not in again]):
        get_run_logger().warning(       # a revision's run: the client's photos are those they were delivered
            "%d file(s) came onto the card folder %s after the order was delivered (%s): not taken into it, its "
            "photos are those the client was delivered; make an order of them (`postline order create ... --from "
            "FOLDER`)", len(added), card, ", ".join(added[:5]) + (" ..." if len(added) > 5 else ""))
        todo = [name for name in todo if name not in added]
    return [[name for shot in batch for name in shot] for batch in batches(by_shot(todo))]


@task(name="next-stage")
def next_stage(order_id: int, run_id: str) -> str | None:
    """The first stage of the order's line (then the QC gate) that has queued work for this order; for an
    automatic stage, the first stage of its automatic run as the order runs it (they run fused: tasks/stages.py;
    with the client's selection, grading runs alone: record.selection.run_of); once grading has none, the
    client's selection while photos await it (record/selection.py). Stops the run (record.runs.NotTheHolder) if
    it no longer holds the order."""
    with transaction() as session:
        runs.ensure_holder(session, order_id, run_id)
        pending = work.stages_with_work(session, order_id)
        line = work.order_line(session, order_id)
        if line.first.key not in pending and selection.awaiting(session, order_id):
            return CLIENT_SELECTION
        for spec in line.stages:
            if spec.key in pending:
                return spec.key if spec.needs_people else selection.run_of(session, line, order_id, spec.key)[0].key
    return QC_GATE if QC_GATE in pending else None


@task(name="plan-batches")
def plan_batches(order_id: int, stage: str) -> list[list[int]]:
    """The order's queued work items at ``stage`` (for an automatic stage, at every stage of its automatic run
    as the order runs it: record.selection.run_of), in batches (:func:`batches`)."""
    with transaction() as session:
        line = work.order_line(session, order_id)
        keys = [stage] if stage == QC_GATE or line.stage(stage).needs_people else \
            [spec.key for spec in selection.run_of(session, line, order_id, stage)]
        ids = [item.id for key in keys for item in work.items_in(session, order_id, key)]
    return batches(ids)


def run_title(order_id: int, stage: str) -> str:
    """How a stage's sub-run is named in the Prefect UI: the stage's title, or for an automatic run of stages,
    its first and last (`Cull & grade → Design & layout · order 7`), and its round when it is rework."""
    with transaction() as session:
        line = work.order_line(session, order_id)
        spec = line.stage(stage)
        segment = (spec,) if spec.needs_people else selection.run_of(session, line, order_id, stage)
    title = segment[0].title if len(segment) == 1 else f"{segment[0].title} → {segment[-1].title}"
    return round_title(order_id, stage, title)


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
