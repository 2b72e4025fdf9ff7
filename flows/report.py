"""The production report: per-stage throughput and rework over a period, from the production record,
published as a Prefect artifact (scheduled monthly in prefect.yaml)."""

from datetime import date

from prefect import flow

from tasks.reporting import publish_report


@flow(name="production-report", flow_run_name="Production report")
def report_flow(since: date | None = None, until: date | None = None) -> str:
    return publish_report(since, until)


if __name__ == "__main__":
    print(report_flow())
