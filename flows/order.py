"""The order flow: one flow run per client order, through the whole line.

ingest -> (senior review of the originals) -> each stage of the order's line (config/line.toml as it was when
the order first started; automatic stages in a row run as one sub-run, one pass per photo, and each photo moves
on to people's queues as soon as its pass is done; after grading, the client's selection when the order has one:
their favourites are retouched, the rest go to QC as graded) -> QC gate -> (rework back to the blamed stage) ->
delivery. The production record decides what is left to do, so running an order again after a crash picks up
where it stopped and redoes no finished photo; one run at a time (tasks/runs.py)."""

from prefect import flow
from prefect.runtime import flow_run
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from flows.client_selection import client_selection_flow
from flows.delivery import delivery_flow
from flows.ingest import ingest_flow
from flows.original_review import original_review_flow
from flows.qc_gate import qc_gate_flow
from flows.stage import stage_flow
from record.models import CLIENT_SELECTION, QC_GATE
from tasks.calibration import calibrate_session
from tasks.inputs import check_order
from tasks.order_report import published_report
from tasks.planning import next_stage, order_title
from tasks.progress import publish_progress
from tasks.runners import photo_runner
from tasks.runs import order_run, stop_if_interrupted
from tasks.stages import restore_finished_files


def _sub_runs_without_heartbeats():  # noqa: ANN202
    """The sub-runs send no heartbeats of their own: the order's run sends them (Prefect's sign that the process
    lives) and holds the order (tasks/runs.py). Each sub-run's heartbeat thread, which sleeps in steps of a second
    and is waited for when the sub-run ends, kept every sub-run about a second longer: 4 s of a 100-photo order
    (bench/scale.py)."""
    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})


def _run_name() -> str:
    return order_title(flow_run.parameters["order_id"])


@flow(name="order", flow_run_name=_run_name)
def order_flow(order_id: int, wait: bool = False) -> str:
    """Run order ``order_id`` through the line it started with; returns the delivery package's path. One live run
    per order: while another run holds it, this one is refused, or with ``wait`` waits for it to end."""
    with order_run(order_id, wait=wait) as order, published_report(order_id):  # artifacts when it ends
        if order["delivered"]:
            return order["delivery_path"]
        check_order(order_id)     # the line, the recipe, the preset's LUT: before any photo is worked
        pool = photo_runner()     # a thread pool here, or the Dask cluster of POSTLINE_DASK_ADDRESS
        with _sub_runs_without_heartbeats():
            ingest_flow.with_options(task_runner=pool)(order_id, order["card_folder"])
            stop_if_interrupted()                      # a Ctrl-C Prefect dropped as the sub-run ended
            publish_progress(order_id)                 # the order run's progress artifact, after every step
            if order["review_gate"]:
                original_review_flow(order_id)
                stop_if_interrupted()
            calibrate_session(order_id)
            while (stage := next_stage(order_id, order["run_id"])) is not None:
                if stage == CLIENT_SELECTION:
                    client_selection_flow(order_id)
                elif stage == QC_GATE:
                    qc_gate_flow.with_options(task_runner=pool)(order_id)
                else:
                    stage_flow.with_options(task_runner=pool)(order_id, stage)
                stop_if_interrupted()
                publish_progress(order_id)
            restore_finished_files(order_id)
            return delivery_flow.with_options(task_runner=pool)(order_id)


if __name__ == "__main__":
    import sys

    print(order_flow(int(sys.argv[1])))
