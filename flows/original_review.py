"""The senior photographer's review of an order's originals, after ingest and before any stage."""

from prefect import flow

from flows.waiting import wait_for_decision
from qc.originals import ORIGINALS


@flow(name="original-review", flow_run_name="Review of originals · order {order_id}")
def original_review_flow(order_id: int) -> dict[str, int]:
    return wait_for_decision(order_id, ORIGINALS)


if __name__ == "__main__":
    import sys

    print(original_review_flow(int(sys.argv[1])))
