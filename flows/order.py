"""The order flow: one flow run per client order, through the whole line.

ingest -> (senior review of the originals) -> each stage of the line (config/line.toml) -> QC gate
-> (rework back to the blamed stage) -> delivery. The production record decides what is left to do, so running
an order again after a crash picks up where it stopped and redoes no finished photo."""

from prefect import flow
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from config.line import get_line
from config.settings import get_settings
from flows.delivery import delivery_flow
from flows.ingest import ingest_flow
from flows.original_review import original_review_flow
from flows.qc_gate import qc_gate_flow
from flows.stage import stage_flow
from record.models import QC_GATE
from tasks.calibration import calibrate_session
from tasks.planning import mark_order_failed, next_stage, order_title, start_order


def _run_name() -> str:
    return order_title(flow_run.parameters["order_id"])


def _on_failure(flow, flow_run, state) -> None:  # noqa: ANN001  (Prefect hook signature)
    mark_order_failed(flow_run.parameters["order_id"])


@flow(name="order", flow_run_name=_run_name, on_failure=[_on_failure])
def order_flow(order_id: int) -> str:
    """Run order ``order_id`` through the line; returns the delivery zip's path."""
    order = start_order(order_id)
    if order["delivered"]:
        return order["delivery_path"]
    pool = ThreadPoolTaskRunner(max_workers=get_settings().workers)
    ingest_flow.with_options(task_runner=pool)(order_id, order["card_folder"])
    if get_line().review_gate.enabled:
        original_review_flow(order_id)
    calibrate_session(order_id)
    while (stage := next_stage(order_id)) is not None:
        if stage == QC_GATE:
            qc_gate_flow.with_options(task_runner=pool)(order_id)
        else:
            stage_flow.with_options(task_runner=pool)(order_id, stage)
    return delivery_flow(order_id)


if __name__ == "__main__":
    import sys

    print(order_flow(int(sys.argv[1])))
