"""Housekeeping (scheduled every few minutes in prefect.yaml): claims whose lease ran out go back to their queue,
so a retoucher who walked away does not hold photos; and the working files of orders delivered longer ago than
the revision window (POSTLINE_REVISION_WINDOW_DAYS) are removed, originals and deliveries kept
(tasks/retention.py)."""

from prefect import flow, task

from record import queue
from record.db import transaction
from tasks.retention import remove_expired_working_files


@task(name="reap-expired-claims")
def reap_expired_claims() -> int:
    with transaction() as session:
        return queue.reap_expired(session)


@flow(name="housekeeping", flow_run_name="Housekeeping: expired claims, working files past the revision window")
def housekeeping_flow() -> dict[str, int]:
    return {"claims_returned": reap_expired_claims(), "orders_cleaned": remove_expired_working_files()}


if __name__ == "__main__":
    print(housekeeping_flow())
