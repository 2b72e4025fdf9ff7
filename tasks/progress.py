"""What an order waits on, said for the lead: on the order's flow run in the Prefect UI (the progress artifact,
``order-N-progress``, updated as photos move) and by `postline status N` (:func:`next_step`).

The artifact is one Markdown table, a row per stage of the order's line and the QC gate: photos waiting (how
many are rework), being worked and by whom, done; above it what the run waits on and how to act: the command to
run, or the review page. It is written on the order's own flow run (the run holding the order, record/runs.py),
whoever moves the photos: the run's stages and gates, a retoucher pulling or handing back (surfaces/actions),
a lead's decision. Publishing is best effort: a failure is logged and changes nothing else.
"""

from __future__ import annotations

import json
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactCreate, ArtifactUpdate
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
from prefect.context import FlowRunContext
from prefect.input import RunInput
from prefect.logging import get_logger
from prefect.settings import PREFECT_API_URL

from record import progress, runs, work
from record.db import transaction
from record.models import CLIENT_SELECTION, ORIGINAL_REVIEW, QC_GATE, OrderStatus, PhotoStatus, utcnow
from tasks.next_steps import _title, next_step, review_url, waiting_title, web_url  # noqa: F401
from tasks.reporting import cell

logger = get_logger("postline.progress")

class PeopleWait(RunInput):
    """Nothing to fill in: the form of a run waiting for people at a stage carries what waits, and what Resume does."""


def people_form(order_id: int, stage: str, waiting: int) -> type[PeopleWait]:
    """The pause's form while the order waits for people at ``stage``: what waits, what Resume does, how to act."""
    with transaction() as session:
        order = work.get_order(session, order_id)
        line = work.order_line(session, order_id)
    title = _title(line, stage)[0]
    return PeopleWait.with_initial_data(description=(
        f"## {title}, order {order_id}: waiting for retouchers\n\n{waiting} photo(s) of this order are waiting "
        f"or being worked at {title}.\n\n**Resume** does not hand anything back or skip the stage: the run only "
        f"looks again. If photos of {title} are still waiting or being worked, it pauses here again at once; "
        "when none is left, it goes on to the next stage. You need not press it: the run resumes by itself when "
        f"the last photo is handed back. Press it if a hand-back could not wake the run (the Prefect server was "
        f"down).\n\n**How to act:** {next_step(order, line, waiting)}"))


def progress_markdown(order_id: int) -> str:
    """The progress artifact's text for ``order_id``, from the record as it is now."""
    with transaction() as session:
        order = work.get_order(session, order_id)
        line = work.order_line(session, order_id)
        now = progress.stages_now(session, order_id, [s.key for s in line.stages] + [QC_GATE])
        counts = work.photo_counts(session, order_id)
    waiting_here = next((s for s in now if s.stage == order.waiting_on), None)
    if order.status is OrderStatus.FAILED:        # stopped where it waited or worked: nobody waits for it
        waiting, state = None, "stopped"
    elif order.waiting_on == ORIGINAL_REVIEW:      # right after ingest: every photo in the line waits for it
        waiting = counts.get(PhotoStatus.INGESTED, 0)
        state = "waiting for the senior photographer's review of the originals"
    elif order.waiting_on == CLIENT_SELECTION:
        waiting, state = None, "waiting for the client's selection"
    elif order.waiting_on:
        waiting = (waiting_here.waiting + waiting_here.worked) if waiting_here else None
        state = (f"waiting for {'the QC lead' if order.waiting_on == QC_GATE else 'retouchers'} at "
                 f"{_title(line, order.waiting_on)[0]}")
    else:
        waiting, state = None, {OrderStatus.DELIVERED: "delivered", OrderStatus.FAILED: "stopped"}.get(
            order.status, "working")
    lines = [f"## {cell(order.client)} · order {order_id}: {state}", "",
             f"**How to act:** {next_step(order, line, waiting)}", "",
             "Photos: " + (", ".join(f"{n} {s.value}" for s, n in sorted(counts.items())) or "none yet")
             + f" · as of {utcnow():%Y-%m-%d %H:%M:%S} UTC", "",
             "| step | who | waiting | rework | being worked | held by | done |",
             "|---|---|---:|---:|---:|---|---:|"]
    for stage in now:
        title, who = _title(line, stage.stage)
        holders = ", ".join(f"{cell(p)} ({n})" for p, n in sorted(stage.holders.items())) or "–"
        mark = "**" if stage.stage == order.waiting_on else ""
        lines.append(f"| {mark}{cell(title)}{mark} | {who} | {stage.waiting} | {stage.rework} | {stage.worked} | "
                     f"{holders} | {stage.done} |")
    return "\n".join(lines)


def order_run_id(order_id: int) -> str | None:
    """The flow run holding the order now (its order run), or None."""
    with transaction() as session:
        lease = runs.holder(session, order_id)
    return lease.flow_run_id if lease else None


def put_artifact(key: str, kind: str, data: str, description: str, flow_run_id: str) -> None:
    """Write the artifact ``key`` on the flow run ``flow_run_id``: in place if that run has it already (the UI
    shows the newest), else as a new one."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run_id)])), limit=1)
        if found:
            client.update_artifact(found[0].id, ArtifactUpdate(data=data, description=description))
        else:
            client.create_artifact(ArtifactCreate(key=key, type=kind, data=data, description=description,
                                                  flow_run_id=UUID(flow_run_id)))


def publish_progress(order_id: int) -> bool:
    """Write the order's progress artifact on its order run, if a run holds the order and a Prefect server is
    known; False when there was nowhere to write it or writing failed (logged)."""
    try:
        run_id = order_run_id(order_id)
        if run_id is None or not (FlowRunContext.get() or PREFECT_API_URL.value()):
            return False     # no run holds the order, or no server to write to (a command without `make server`)
        put_artifact(f"order-{order_id}-progress", "markdown", progress_markdown(order_id),
                     f"Order {order_id}: where its photos are, what it waits on, how to act", run_id)
        return True
    except Exception as exc:  # noqa: BLE001 - progress is for people to read; it never stops the line
        logger.warning("order %s: progress not published: %s", order_id, exc)
        return False


def table_data(rows: list[dict]) -> str:
    """A table artifact's data as Prefect stores it."""
    return json.dumps(rows)
