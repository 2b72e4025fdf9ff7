"""The QC gate for one order: automatic checks on every finished photo, pass or send back; then, if the
line asks for it, the QC lead's decision, given in the Prefect UI (the paused run's form) or with
`postline qc decide`."""

from prefect import flow, unmapped
from prefect.runtime import flow_run

from flows.waiting import wait
from qc.gate import apply_review, awaiting_review_task, qc_batch, review_form
from record.models import QC_GATE
from tasks.handoff import mark_waiting
from tasks.planning import add_counts, plan_batches


@flow(name="qc-gate", flow_run_name="QC gate · order {order_id}")
def qc_gate_flow(order_id: int) -> dict[str, int]:
    batches = plan_batches(order_id, QC_GATE)
    futures = qc_batch.map(unmapped(order_id), batches)
    counts = add_counts([future.result() for future in futures])
    while photos := awaiting_review_task(order_id):
        mark_waiting(order_id, QC_GATE, str(flow_run.id))
        decision = wait(wait_for_input=review_form(order_id, photos))
        counts = add_counts([counts, apply_review(order_id, decision)])
    mark_waiting(order_id, None, str(flow_run.id))
    return counts


if __name__ == "__main__":
    import sys

    print(qc_gate_flow(int(sys.argv[1])))
