"""The QC gate for one order: automatic checks on every finished photo, pass or send back; then, if the
line asks for it, the QC lead's decision, given in the Prefect UI (the paused run's form), with
`postline qc decide` or on the web page."""

from prefect import flow, unmapped

from flows.waiting import wait_for_decision
from qc.gate import qc_batch
from qc.review import QC
from record.models import QC_GATE
from tasks.planning import add_counts, plan_batches
from tasks.runs import line_of


@flow(name="qc-gate", flow_run_name="QC gate · order {order_id}")
def qc_gate_flow(order_id: int) -> dict[str, int]:
    batches = plan_batches(order_id, QC_GATE)
    futures = qc_batch.map(unmapped(order_id), batches)
    counts = add_counts([future.result() for future in futures])
    if QC.enabled(line_of(order_id)):
        counts = add_counts([counts, wait_for_decision(order_id, QC)])
    return counts


if __name__ == "__main__":
    import sys

    print(qc_gate_flow(int(sys.argv[1])))
