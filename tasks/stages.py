"""Running a batch of one stage's queued work items with the stage's automatic operation.

Per photo: claim (with a lease), work, then submit and queue the next stage in one transaction. A photo
whose own file is bad is marked failed with the reason; the batch goes on. A failure of the machine (full
disk, permission, I/O, the record) is no photo's fault: the photo's work item goes back to the queue as it
was, and the batch stops with a :class:`~tasks.errors.Retryable` error that Prefect retries and, when
retrying does not help, stops the run with a message saying what to fix. A crash between claim and submit
leaves a claim that the next run (or the next attempt of the batch) releases."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from prefect import task
from prefect.logging import get_run_logger

from config.line import StageSpec
from presets.model import Preset
from record import moves, selection, work
from record.db import transaction
from record.models import Photo, PhotoStatus, WorkItem, WorkStatus
from tasks.errors import PhotoError, as_retryable, photo_reason, retry_only_retryable, transient_cause
from tasks.files import bytes_still_needed, sha256_of, work_path
from tasks.operations import OPERATIONS, OpContext, reference_path
from tasks.pixels.calibrate import CalibrationResult
from tasks.runs import line_of


def _submit(item: WorkItem, output: Path, seconds: float) -> None:
    with transaction() as session:
        item = session.get(WorkItem, item.id)
        moves.move_item(session, item, WorkStatus.SUBMITTED, actor=work.AUTO_WORKER, seconds=seconds,
                        output_path=str(output), output_sha256=sha256_of(output))
        following = selection.next_stage(session, work.order_line(session, item.order_id), item)
        if following is not None:      # None: graded, it awaits the client's selection (record/selection.py)
            moves.enqueue(session, order_id=item.order_id, photo_id=item.photo_id, stage=following,
                          round=item.round, input_path=str(output), actor=work.AUTO_WORKER)


def _fail(item: WorkItem, reason: str) -> None:
    with transaction() as session:
        item = session.get(WorkItem, item.id)
        moves.move_item(session, item, WorkStatus.FAILED, actor=work.AUTO_WORKER, reason=reason)
        photo = session.get(Photo, item.photo_id)
        moves.move_photo(session, photo, PhotoStatus.FAILED, stage=item.stage, round=item.round,
                         actor=work.AUTO_WORKER, reason=reason)


def release_held(item_ids: list[int], reason: str) -> int:
    """Put back in the queue the items of this batch the automatic worker still holds: claimed by an earlier
    attempt of the batch that stopped (or a run that died) before it could hand them back. Best effort: when
    the record itself is what failed, the next run's start releases them."""
    try:
        with transaction() as session:
            held = [item for item in work.items_by_id(session, item_ids)
                    if item.status is WorkStatus.CLAIMED and item.claimed_by == work.AUTO_WORKER]
            for item in held:
                moves.move_item(session, item, WorkStatus.QUEUED, actor=work.AUTO_WORKER, reason=reason)
            return len(held)
    except Exception as exc:  # noqa: BLE001
        if transient_cause(exc) is None:
            raise
        return 0


@dataclass(frozen=True)
class _StageWork:
    """What every photo of one stage batch is worked with."""
    order_id: int
    spec: StageSpec
    preset: Preset
    calibration: tuple[tuple[float, ...], ...] | None
    names: dict[int, str]      # photo id -> its name on the card
    proofs: bool               # the first stage also writes each photo's proof

    def run(self, item_id: int) -> str:
        """Claim, work and submit one item: "submitted", "failed" (its file is bad) or "skipped" (not queued any
        more). A failure of the machine is raised, the item still claimed: the caller puts it back."""
        with transaction() as session:
            item = work.claim_queued(session, item_id)
        if item is None:
            return "skipped"
        output = work_path(self.order_id, self.spec.key, item.photo_id, item.round)
        proof = work_path(self.order_id, "proofs", item.photo_id, item.round, ".jpg") if self.proofs else None
        reference = reference_path(self.order_id, item.photo_id, item.round) if self.proofs else None
        started = time.perf_counter()
        try:
            OPERATIONS[self.spec.operation](Path(item.input_path), output, OpContext(
                preset=self.preset, round=item.round, proof_path=proof, calibration=self.calibration,
                reference_path=reference, params=self.spec.params))
        except Exception as exc:  # noqa: BLE001  - one bad photo must not stop the order
            if transient_cause(exc) is not None:
                raise
            reason = (f"{photo_reason(exc, self.names[item.photo_id], stored_name=Path(item.input_path).name)} "
                      f"(stage: {self.spec.title})")
            get_run_logger().error("%s", reason, exc_info=not isinstance(exc, PhotoError))
            _fail(item, reason)
            return "failed"
        _submit(item, output, time.perf_counter() - started)
        return "submitted"


@task(name="stage-batch", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_only_retryable)
def run_stage_batch(order_id: int, stage: str, item_ids: list[int]) -> dict[str, int]:
    logger = get_run_logger()
    line = line_of(order_id)
    spec = line.stage(stage)
    release_held(item_ids, "an earlier attempt stopped before finishing it; queued again")
    with transaction() as session:
        order = work.get_order(session, order_id)
        batch = _StageWork(
            order_id=order_id, spec=spec, preset=Preset.model_validate_json(order.preset_json),
            calibration=CalibrationResult.model_validate_json(order.calibration_json).matrix
            if order.calibration_json else None,
            names={p.id: p.source_name for p in work.photos(session, order_id)}, proofs=stage == line.first.key)
    counts = {"submitted": 0, "failed": 0, "skipped": 0}
    for item_id in item_ids:
        try:
            counts[batch.run(item_id)] += 1
        except Exception as exc:
            stop = as_retryable(exc, order_id=order_id, folder=work_path(order_id, stage, 0, 0).parent,
                                needed=lambda: bytes_still_needed(order_id, [s.key for s in line.stages]))
            if stop is None:
                raise
            release_held([item_id], f"queued again as it was: {str(stop)[:400]}")
            logger.error("%s batch stopped: %s", spec.title, stop)
            raise stop from exc
    logger.info("%s batch of %d: %s", spec.title, len(item_ids), counts)
    return counts
