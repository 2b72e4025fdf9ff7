"""The production report: the ops figures of a period from the production record, published as a Prefect
artifact under a stable key per kind of period (prefect.yaml: monthly for last month, daily for yesterday)."""

from prefect import flow

from tasks.reporting import ReportRequest, publish_report, run_title


@flow(name="production-report", flow_run_name=run_title)
def report_flow(request: ReportRequest = ReportRequest()) -> dict[str, str | None]:
    return publish_report(request)


if __name__ == "__main__":
    print(report_flow())
