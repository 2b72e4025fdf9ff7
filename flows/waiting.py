"""Waiting for people inside a flow run, without holding a CPU.

A run started from a deployment suspends (its worker is freed; resuming starts the flow again, and
the production record makes that a cheap catch-up). A run started by hand (`postline order run`,
the embedded default) pauses: its process sleeps and asks the server every few seconds. Either way
the Prefect UI shows the run as Paused/Suspended under the stage's name, and the record says what
it waits on."""

from __future__ import annotations

from prefect.flow_runs import pause_flow_run, suspend_flow_run
from prefect.runtime import deployment, flow_run

from config.settings import get_settings
from qc.gates import Gate, apply_task, awaiting_task
from tasks.handoff import mark_waiting, open_work
from tasks.progress import people_form, publish_progress


def wait(wait_for_input=None):  # noqa: ANN001, ANN201
    settings = get_settings()
    if deployment.id:
        return suspend_flow_run(wait_for_input=wait_for_input, timeout=settings.human_wait_seconds)
    return pause_flow_run(wait_for_input=wait_for_input, timeout=settings.human_wait_seconds,
                          poll_interval=settings.pause_poll_seconds)


def wait_for_people(order_id: int, stage: str) -> None:
    """Return once no photo of this order is queued or claimed in ``stage``. The pause's form (the Prefect UI's
    Resume) says what waits and what Resume does: it only makes the run look again."""
    while True:
        mark_waiting(order_id, stage, str(flow_run.id))
        if not (waiting := open_work(order_id, stage)):
            break
        publish_progress(order_id)
        wait(wait_for_input=people_form(order_id, stage, waiting))
    mark_waiting(order_id, None, str(flow_run.id))
    publish_progress(order_id)


def wait_for_decision(order_id: int, gate: Gate) -> dict[str, int]:
    """A gate where a person decides on a list of photos (qc/gates.py): while photos await it, pause with the
    gate's form (the Prefect UI shows it; `postline qc|review decide` and the web page give the same input)
    and apply the decision. Returns what the decisions did, added up."""
    counts: dict[str, int] = {}
    while photos := awaiting_task(gate.key, order_id):
        mark_waiting(order_id, gate.key, str(flow_run.id))
        publish_progress(order_id)
        decision = wait(wait_for_input=gate.form(order_id, photos))
        for key, value in apply_task(gate.key, order_id, decision).items():
            counts[key] = counts.get(key, 0) + value
    mark_waiting(order_id, None, str(flow_run.id))
    publish_progress(order_id)
    return counts
