"""Running a batch of one stage's queued work items with the stage's automatic operation.

Per photo: claim (with a lease), work, then submit and queue the next stage in one
transaction. A photo whose work fails permanently is marked failed with the reason; the
batch goes on. A crash between claim and submit leaves a claim that the next run releases."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import task
from prefect.logging import get_run_logger

from config.line import get_line
from presets.model import Preset
from record import moves, work
from record.db import transaction
from record.models import Photo, PhotoStatus, WorkItem, WorkStatus
from tasks.errors import Retryable, retry_only_retryable
from tasks.files import sha256_of, work_path
from tasks.handoff import next_stage_for
from tasks.operations import OPERATIONS, OpContext, reference_path
from tasks.pixels.calibrate import CalibrationResult


def _submit(item: WorkItem, output: Path, seconds: float) -> None:
    with transaction() as session:
        item = session.get(WorkItem, item.id)
        moves.move_item(session, item, WorkStatus.SUBMITTED, actor=work.AUTO_WORKER, seconds=seconds,
                        output_path=str(output), output_sha256=sha256_of(output))
        moves.enqueue(session, order_id=item.order_id, photo_id=item.photo_id, stage=next_stage_for(item.stage),
                      round=item.round, input_path=str(output), actor=work.AUTO_WORKER)


def _fail(item: WorkItem, reason: str) -> None:
    with transaction() as session:
        item = session.get(WorkItem, item.id)
        moves.move_item(session, item, WorkStatus.FAILED, actor=work.AUTO_WORKER, reason=reason)
        photo = session.get(Photo, item.photo_id)
        moves.move_photo(session, photo, PhotoStatus.FAILED, stage=item.stage, round=item.round,
                         actor=work.AUTO_WORKER, reason=reason)


def _release(item: WorkItem, reason: str) -> None:
    with transaction() as session:
        moves.move_item(session, session.get(WorkItem, item.id), WorkStatus.QUEUED,
                        actor=work.AUTO_WORKER, reason=reason)


@task(name="stage-batch", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_only_retryable)
def run_stage_batch(order_id: int, stage: str, item_ids: list[int]) -> dict[str, int]:
    logger = get_run_logger()
    spec = get_line().stage(stage)
    operation = OPERATIONS[spec.operation]
    with transaction() as session:
        order = work.get_order(session, order_id)
        preset = Preset.model_validate_json(order.preset_json)
        calibration = CalibrationResult.model_validate_json(order.calibration_json).matrix \
            if order.calibration_json else None
        names = {p.id: p.source_name for p in work.photos(session, order_id)}
    counts = {"submitted": 0, "failed": 0, "skipped": 0}
    for item_id in item_ids:
        with transaction() as session:
            item = work.claim_queued(session, item_id)
        if item is None:
            counts["skipped"] += 1
            continue
        output = work_path(order_id, stage, item.photo_id, item.round)
        first = stage == get_line().stages[0].key
        proof = work_path(order_id, "proofs", item.photo_id, item.round, ".jpg") if first else None
        reference = reference_path(order_id, item.photo_id, item.round) if first else None
        started = time.perf_counter()
        try:
            operation(Path(item.input_path), output, OpContext(preset=preset, round=item.round, proof_path=proof,
                                                               calibration=calibration, reference_path=reference))
        except Retryable as exc:
            _release(item, f"will retry: {exc}")
            raise
        except Exception as exc:  # noqa: BLE001  - one bad photo must not stop the order
            card_name = names[item.photo_id]
            message = str(exc).replace(Path(item.input_path).name, card_name)
            if card_name not in message:
                message = f"{card_name}: {type(exc).__name__}: {message}"
            reason = f"{message} (stage: {spec.title})"
            logger.error("%s", reason)
            _fail(item, reason)
            counts["failed"] += 1
            continue
        _submit(item, output, time.perf_counter() - started)
        counts["submitted"] += 1
    logger.info("%s batch of %d: %s", spec.title, len(item_ids), counts)
    return counts
