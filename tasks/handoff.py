"""Where the automatic line meets people: preparing work for a person (assisted stages), noting what an
order waits on, and waking its flow run when the last photo of a stage is handed back."""

from __future__ import annotations

import time
from pathlib import Path
from uuid import UUID

from prefect import task
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import resume_flow_run
from prefect.logging import get_logger

from config.line import get_line
from presets.model import Preset
from record import queue, work
from record.db import transaction
from record.models import QC_GATE, WorkItem
from tasks.errors import as_retryable, retry_only_retryable
from tasks.files import bytes_still_needed, work_path
from tasks.operations import OPERATIONS, OpContext

logger = get_logger("postline.handoff")


def next_stage_for(stage: str) -> str:
    """Where a photo goes after ``stage``: the next stage of the line, or the QC gate after the last."""
    return get_line().next_key(stage) or QC_GATE


@task(name="open-work")
def open_work(order_id: int, stage: str) -> int:
    with transaction() as session:
        return queue.open_items(session, order_id=order_id, stage=stage)


@task(name="mark-waiting")
def mark_waiting(order_id: int, stage: str | None, flow_run_id: str | None) -> None:
    """Record what the order's flow run waits on (shown by `postline status`; used to wake it)."""
    with transaction() as session:
        order = work.get_order(session, order_id)
        order.waiting_on, order.flow_run_id = stage, flow_run_id
        session.add(order)


@task(name="prepare-batch", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_only_retryable)
def prepare_batch(order_id: int, stage: str, item_ids: list[int]) -> int:
    """Assisted stage: run the stage's operation on each queued photo; the result is what the retoucher
    pulls. Content-keyed: a photo already prepared is not prepared again. A failure of the disk or the record
    stops the batch with a Retryable error (the photo stays queued, unprepared)."""
    line = get_line()
    spec = line.stage(stage)
    with transaction() as session:
        preset = Preset.model_validate_json(work.get_order(session, order_id).preset_json)
        items = work.items_by_id(session, item_ids)
    prepared = 0
    for item in items:
        target = work_path(order_id, stage, item.photo_id, item.round, "-prepared.tif")
        if item.input_path == str(target):
            continue
        try:
            OPERATIONS[spec.operation](Path(item.input_path), target, OpContext(preset=preset, round=item.round))
            with transaction() as session:
                row = session.get(WorkItem, item.id)
                row.input_path = str(target)
                session.add(row)
        except Exception as exc:
            stop = as_retryable(exc, order_id=order_id, folder=target.parent,
                                needed=lambda: bytes_still_needed(order_id, [s.key for s in line.stages]))
            if stop is None:
                raise
            raise stop from exc
        prepared += 1
    return prepared


def wake_order(order_id: int, stage: str, *, run_input: dict | None = None, patience: float = 15.0) -> bool:
    """Resume the order's flow run if it is waiting on ``stage``. The run may be a moment away from
    pausing (it checks, then pauses), so keep trying for ``patience`` seconds. True if it was woken."""
    with transaction() as session:
        order = work.get_order(session, order_id)
        waiting_on, run_id = order.waiting_on, order.flow_run_id
    if waiting_on != stage or not run_id:
        return False
    deadline = time.monotonic() + patience
    while True:
        try:
            resume_flow_run(UUID(run_id), run_input=run_input)
            logger.debug("order %s: %s is done, its flow run resumes", order_id, stage)
            return True
        except FlowPauseTimeout:
            return False
        except RuntimeError:  # NotPausedError and friends: not paused yet, or already resumed
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)


def hand_back(*, item_id: int, person: str, file: Path) -> queue.SubmitResult:
    """A retoucher hands back finished work: checked, stored, recorded, the photo moved on to the next
    stage in the same transaction, and the order's flow run woken if that was the stage's last photo."""
    with transaction() as session:
        stage = queue.ensure_claimant(session, item_id=item_id, person=person).stage
    result = queue.submit_file(item_id=item_id, person=person, file=file,
                               allow_crop=get_line().stage(stage).allow_crop, enqueue_next=next_stage_for(stage))
    if result.stage_done:
        wake_order(result.item.order_id, stage)
    return result
