"""The QC gate for one order: automatic checks on every finished photo, pass or send back."""

from prefect import flow, unmapped

from qc.gate import qc_batch
from record.models import QC_GATE
from tasks.planning import add_counts, plan_batches


@flow(name="qc-gate", flow_run_name="QC gate · order {order_id}")
def qc_gate_flow(order_id: int) -> dict[str, int]:
    batches = plan_batches(order_id, QC_GATE)
    futures = qc_batch.map(unmapped(order_id), batches)
    return add_counts([future.result() for future in futures])


if __name__ == "__main__":
    import sys

    print(qc_gate_flow(int(sys.argv[1])))
