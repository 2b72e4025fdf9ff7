"""Where the automatic line meets people: preparing work for a person (assisted stages), noting what an
order waits on, and waking its flow run when the last photo of a stage is handed back (or a gate decided):
:func:`wake_order`, which surfaces/actions calls."""

from __future__ import annotations

import time
from enum import StrEnum
from uuid import UUID

import httpx
from prefect import task
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import SetStateStatus
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.logging import get_logger

from config.settings import get_settings
from presets.model import Preset
from record import queue, work
from record.db import transaction
from tasks.errors import Retryable, as_retryable, retry_only_retryable
from tasks.files import bytes_still_needed
from tasks.prepare import needs_preparing, prepare, prepared_path, starts_from
from tasks.runs import line_of

logger = get_logger("postline.handoff")


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
    pulls (tasks/prepare.py). A photo already prepared is not prepared again, nor one sent back to the stage (it
    starts from what its earlier round was prepared to: record.rounds.new_round), nor one a retoucher pulled
    meanwhile (the pull prepared it). A failure of the disk or the record stops the batch with a Retryable error
    (the photo stays queued, unprepared)."""
    line = line_of(order_id)
    spec = line.stage(stage)
    with transaction() as session:
        preset = Preset.model_validate_json(work.get_order(session, order_id).preset_json)
        items = [item for item in work.items_by_id(session, item_ids) if needs_preparing(session, item)]
    prepared = 0
    for item in items:
        try:
            target = prepare(item, operation=spec.operation, preset=preset, params=spec.params)
            prepared += starts_from(item.id, target, unless_held=True)
        except Exception as exc:
            stop = as_retryable(exc, order_id=order_id, folder=prepared_path(item).parent,
                                needed=lambda: bytes_still_needed(order_id, line.stages))
            if stop is None:
                raise
            raise stop from exc
    return prepared


class Wake(StrEnum):
    """What :func:`wake_order` found."""
    RESUMED = "resumed"            # the order's paused run was resumed (with the decision, if one was given)
    NOT_WAITING = "not_waiting"    # no run waits on that stage: the order waits on something else, or its run ended
    BUSY = "busy"                  # the run is alive but did not pause within the time given


class WakeError(Retryable):
    """Prefect could not be asked, or refused the resume; the message says which. Nothing was resumed."""


def _try_resume(client: SyncPrefectClient, run_id: UUID, run_input: dict | None) -> Wake | None:
    """One try at resuming the run: RESUMED, NOT_WAITING (it will never pause again), or None (not paused
    now: it is about to pause, or running between two pauses; worth another try).

    Not :func:`prefect.flow_runs.resume_flow_run`: it raises NotPausedError (a PrefectException, not a
    RuntimeError) while the run is not paused yet, and when the server turns the resume down because the run
    stopped being paused in between (ABORT: someone resumed it a moment earlier) it returns as if it had
    worked, and the decision would be lost while the lead is told it was given."""
    try:
        run = client.read_flow_run(run_id)
    except ObjectNotFound:
        return Wake.NOT_WAITING                    # gone from Prefect's history
    if run.state is None or run.state.is_final():
        return Wake.NOT_WAITING                    # completed, failed, crashed or cancelled: it will not pause
    if not run.state.is_paused():
        return None
    result = client.resume_flow_run(run_id, run_input=run_input)
    if result.status is SetStateStatus.ACCEPT:
        return Wake.RESUMED
    if result.status is SetStateStatus.REJECT:
        if result.state is not None and result.state.type is StateType.FAILED:
            return Wake.NOT_WAITING                # its pause timed out: the run failed
        reason = getattr(result.details, "reason", None) or "no reason given"
        raise WakeError(f"Prefect refused to resume flow run {run_id}: {reason}")
    return None                                    # ABORT: not paused any more by the time it was asked


LOOK_AGAIN_POLLS = 12       # a run paused for people looks at the record every 12 of its polls (a minute, by default)


def look_again_seconds() -> int:
    """How often a run paused in place for people looks at the record itself (flows.waiting): a last hand-back
    whose wake did not get through is taken up within this."""
    return LOOK_AGAIN_POLLS * get_settings().pause_poll_seconds


def wake_order(order_id: int, stage: str, *, run_input: dict | None = None, patience: float = 15.0) -> Wake:
    """Resume the order's flow run if it is waiting on ``stage`` (with ``run_input``, a gate's decision). The
    run may be a moment away from pausing (it checks, then pauses), or running between two pauses: keep
    trying for ``patience`` seconds, then answer BUSY. Raises :class:`WakeError` if the Prefect server cannot
    be reached for that long, or refuses the input."""
    with transaction() as session:
        order = work.get_order(session, order_id)
        waiting_on, run_id = order.waiting_on, order.flow_run_id
    if waiting_on != stage or not run_id:
        return Wake.NOT_WAITING
    deadline = time.monotonic() + patience
    with get_client(sync_client=True) as client:
        while True:
            try:
                woken = _try_resume(client, UUID(run_id), run_input)
            except (httpx.TransportError, PrefectHTTPStatusError) as exc:
                if time.monotonic() > deadline:
                    raise WakeError(f"the Prefect server ({client.api_url}) kept failing for {patience:.0f} s "
                                    f"({exc}); order {order_id}'s run was not woken") from exc
                woken = None
            if woken is not None:
                logger.debug("order %s, %s: %s", order_id, stage, woken.value)
                return woken
            if time.monotonic() > deadline:
                return Wake.BUSY
            time.sleep(0.25)
