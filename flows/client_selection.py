"""The client's selection of an order's graded photos (qc/selection.py): the run waits, paused in place (from a
deployment too: flows/waiting.py), until the client submits their favourites in the gallery, or the studio decides
for them in the paused run's form."""

from prefect import flow

from flows.waiting import wait_for_decision
from qc.selection import CLIENT


@flow(name="client-selection", flow_run_name="Client selection · order {order_id}")
def client_selection_flow(order_id: int) -> dict[str, int]:
    return wait_for_decision(order_id, CLIENT)


if __name__ == "__main__":
    import sys

    print(client_selection_flow(int(sys.argv[1])))
