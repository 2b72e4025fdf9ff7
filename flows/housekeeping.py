"""Housekeeping: claims whose lease ran out go back to their queue (scheduled every few minutes in
prefect.yaml), so a retoucher who walked away does not hold photos."""

from prefect import flow, task

from record import queue
from record.db import transaction


@task(name="reap-expired-claims")
def reap_expired_claims() -> int:
    with transaction() as session:
        return queue.reap_expired(session)


@flow(name="housekeeping", flow_run_name="Return expired claims")
def housekeeping_flow() -> int:
    return reap_expired_claims()


if __name__ == "__main__":
    print(housekeeping_flow())
