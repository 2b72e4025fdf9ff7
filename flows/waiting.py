"""Waiting for people inside a flow run, without holding a CPU.

A run started from a deployment suspends while people work its photos: its process ends and its worker is
free; once resumed, a worker runs the order flow again from the start and the production record makes that
a cheap catch-up. Prefect suspends only a top-level flow run ("Cannot suspend subflows") while people are
waited for inside a stage's sub-run, so it is the order's run that is suspended. A wait for a decision (the
QC lead's, the senior photographer's: a run input, kept by Prefect with the run that asks for it) pauses in
place, as every wait of a run started by hand (`postline order run`, the embedded default) does: the process
sleeps and asks the server every few seconds. Either way the Prefect UI shows the run as Paused/Suspended,
and the record says what the order waits on and which run a hand-back or a decision resumes."""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID, uuid4

from prefect._flow_run_suspension import raise_if_flow_run_suspension_requested
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run, suspend_flow_run
from prefect.runtime import deployment, flow_run

from config.errors import Refused
from config.settings import get_settings
from qc.gates import Gate, apply_task, awaiting_task
from tasks.handoff import look_again_seconds, mark_waiting, open_work, wake_order
from tasks.progress import people_form, publish_progress
from tasks.runs import line_of


logger = logging.getLogger("postline.waiting")


class WaitedTooLong(Refused):
    """The run waited for people longer than POSTLINE_HUMAN_WAIT_SECONDS, and stopped; what they hand back or
    decide meanwhile is kept, and the next run carries on from it."""


def wait(order_id: int, waited_on: str, wait_for_input=None):  # noqa: ANN001, ANN201
    """Wait until resumed. From a deployment, a wait for people's work suspends the order's run (and does not
    return); a wait for a decision (a run input: QC lead, senior photographer) pauses in place, as every wait
    of a run started by hand does: Prefect keeps a run's input with the run that asked for it, and a sub-run
    cannot be suspended. Waited longer than POSTLINE_HUMAN_WAIT_SECONDS for ``waited_on``: :class:`WaitedTooLong`
    (Prefect's own words were "Flow run was paused and never resumed")."""
    settings = get_settings()
    if deployment.id and wait_for_input is None:
        _suspend_order_run()
    try:
        # A key of its own: Prefect's default counts the pauses of this process, and a run resumed after a
        # suspension is given the sub-runs of its first part again (round 2's QC gate gets round 1's): that count's
        # key is taken, its input form saved, and the pause failed (409 Conflict: "a flow run input with this key
        # already exists").
        return pause_flow_run(wait_for_input=wait_for_input, timeout=settings.human_wait_seconds,
                              poll_interval=settings.pause_poll_seconds, key=uuid4().hex)
    except FlowPauseTimeout as exc:
        raise WaitedTooLong(
            f"the run waited {_said(settings.human_wait_seconds)} for {waited_on} (POSTLINE_HUMAN_WAIT_SECONDS) and "
            f"stopped waiting; what is handed back or decided meanwhile is kept: `postline order run {order_id}` "
            "carries on from it") from exc


def _said(seconds: int) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.3g} day(s)"
    return f"{seconds / 3600:.3g} hour(s)" if seconds >= 3600 else f"{seconds} seconds"


def waiting_run() -> str:
    """The flow run a hand-back resumes: the order's run when it is suspended (from a deployment), else the
    stage's run, paused in place."""
    return str(flow_run.root_flow_run_id if deployment.id else flow_run.id)


def _suspend_order_run() -> None:
    """Suspend the order's (top-level) run from inside its stage's sub-run, and stop here: the process ends
    and the worker is free; once resumed, a worker runs the order flow again from the start."""
    suspend_flow_run(flow_run_id=UUID(flow_run.root_flow_run_id), timeout=get_settings().human_wait_seconds)
    raise_if_flow_run_suspension_requested()   # Prefect's Pause, which ends the run's process, as a run
    raise RuntimeError(                        # suspending itself raises it
        f"flow run {flow_run.root_flow_run_id} was suspended but Prefect did not stop it; cancel it in the UI")


def wait_for_people(order_id: int, stage: str) -> None:
    """Return once no photo of this order is queued or claimed in ``stage``. The pause's form (the Prefect UI's
    Resume) says what waits and what Resume does: it only makes the run look again. Paused in place, the run
    also looks at the record itself every minute (:func:`_looking_again`)."""
    while True:
        mark_waiting(order_id, stage, waiting_run())
        if not (waiting := open_work(order_id, stage)):
            break
        publish_progress(order_id)
        # Paused in place, the form says what Resume does; a suspended order run (a deployment's) takes no form.
        with _looking_again(order_id, stage):
            wait(order_id, f"the retouchers of {line_of(order_id).stage(stage).title}",
                 None if deployment.id else people_form(order_id, stage, waiting))
    mark_waiting(order_id, None, waiting_run())
    publish_progress(order_id)


@contextmanager
def _looking_again(order_id: int, stage: str) -> Iterator[None]:
    """While the run is paused in place for ``stage``'s people: every :func:`tasks.handoff.look_again_seconds`,
    when nothing is left in the stage, resume the run as the last hand-back does. That hand-back is recorded
    first and wakes the run after: when the wake did not get through (the Prefect server restarting, unreachable
    a moment, the command stopped in between), the run waited the whole POSTLINE_HUMAN_WAIT_SECONDS (two weeks)
    on an empty stage. A suspended run (a deployment's) has no process to look: the hand-back's own message says
    what to do there."""
    if deployment.id:
        yield
        return
    stop = threading.Event()
    every = look_again_seconds()

    def look() -> None:
        while not stop.wait(every):
            try:
                if not open_work.fn(order_id, stage):    # not a task run a minute for two weeks
                    wake_order(order_id, stage)
            except Exception as exc:  # noqa: BLE001 - the record or Prefect unreachable now: look again later
                logger.debug("order %s, %s: looked again, %s", order_id, stage, exc)

    looker = threading.Thread(target=contextvars.copy_context().run, args=(look,), daemon=True,
                              name=f"postline-look-again-{order_id}")
    looker.start()
    try:
        yield
    finally:
        stop.set()
        looker.join(timeout=5)


def wait_for_decision(order_id: int, gate: Gate) -> dict[str, int]:
    """A gate where a person decides on a list of photos (qc/gates.py): while photos await it, pause with the
    gate's form (the Prefect UI shows it; `postline qc|review decide` and the web page give the same input)
    and apply the decision. Returns what the decisions did, added up."""
    counts: dict[str, int] = {}
    refused = None          # why the decision given last was not applied: the next form says it
    while photos := awaiting_task(gate.key, order_id):
        mark_waiting(order_id, gate.key, str(flow_run.id))
        publish_progress(order_id)
        title = gate.title if gate.title[:2].isupper() else gate.title[0].lower() + gate.title[1:]    # "the QC review"
        decision = wait(order_id, f"the {title}", gate.form(order_id, photos, refused=refused))
        applied, refused = apply_task(gate.key, order_id, decision)
        for key, value in applied.items():
            counts[key] = counts.get(key, 0) + value
    mark_waiting(order_id, None, str(flow_run.id))
    publish_progress(order_id)
    return counts
