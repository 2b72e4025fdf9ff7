"""Ingest sub-flow, the first of every run of an order: what an interrupted run left half-written is removed,
then the card folder's files, in batches, go into the order's archive and the record."""

from prefect import flow, unmapped

from tasks.ingest import ingest_batch, remove_leftovers
from tasks.planning import add_counts, plan_ingest


@flow(name="ingest", flow_run_name="Ingest · order {order_id}")
def ingest_flow(order_id: int, card_folder: str) -> dict[str, int]:
    remove_leftovers(order_id)
    batches = plan_ingest(order_id, card_folder)
    futures = ingest_batch.map(unmapped(order_id), unmapped(card_folder), batches)
    return add_counts([future.result() for future in futures])


if __name__ == "__main__":
    import sys

    print(ingest_flow(int(sys.argv[1]), sys.argv[2]))
