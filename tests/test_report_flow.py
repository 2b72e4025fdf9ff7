"""The production report on a real Prefect server: the deployment's flow reports the period it covers under its
stable artifact key (read back through the Prefect client), and an order's run leaves its summary and stage
table on the run."""

from __future__ import annotations

from datetime import date

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterName
from pydantic import ValidationError

from tests.eventlog import record_october


def artifacts(key: str) -> list:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return sorted(found, key=lambda a: a.created)


@pytest.fixture
def october_record(prefect_api, home, tmp_path, monkeypatch):
    from config.line import get_line

    record_october(tmp_path, monkeypatch)
    yield
    get_line.cache_clear()


def test_the_monthly_run_reports_last_month_under_its_stable_key(october_record):
    from flows.report import report_flow
    from tasks.reporting import ReportPeriod, ReportRequest

    before = len(artifacts("production-report-monthly"))
    # Scheduled on 1 November 2026: it reports October.
    result = report_flow(ReportRequest(period=ReportPeriod.LAST_MONTH, day=date(2026, 11, 1)))
    assert result == {"key": "production-report-monthly", "first_day": "2026-10-01", "last_day": "2026-10-31"}
    # Another month's run adds to the same key's history.
    report_flow(ReportRequest(period=ReportPeriod.LAST_MONTH, day=date(2026, 10, 1)))
    history = artifacts("production-report-monthly")
    assert len(history) == before + 2
    october_report, september_report = history[-2], history[-1]
    assert "Production report, 2026-10-01 to 2026-10-31 (31 days, 21 working days; UTC)" in october_report.data
    # Skin in October: 9 photos in (11 passes), 5 finished (7 passes); 4 rejections carry 5 reasons.
    assert "| Liquify & skin | 9 | 11 | 5 | 7 | 1 | 2 | 1 | 0 | 4 |" in october_report.data
    assert "4 rejections carry 5 reasons" in october_report.data
    assert "order 3 (Eve, 30 working days)" in october_report.data
    assert "Production report, 2026-09-01 to 2026-09-30 (30 days, 22 working days; UTC)" in september_report.data
    assert october_report.description == "Production report, 2026-10-01 to 2026-10-31"
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(any_=["Production report 2026-10-01 to 2026-10-31"])))
    assert runs


def test_the_daily_run_reports_yesterday(october_record):
    from flows.report import report_flow
    from tasks.reporting import ReportPeriod, ReportRequest

    result = report_flow(ReportRequest(period=ReportPeriod.YESTERDAY, day=date(2026, 10, 10)))
    assert result["key"] == "production-report-daily" and result["first_day"] == result["last_day"] == "2026-10-09"
    latest = artifacts("production-report-daily")[-1].data
    # On 9 October: rita handed back b2 (skin), QC passed b1 and sent b2 back to grading, whose file then failed.
    assert "| Liquify & skin | 0 | 0 | 1 | 1 |" in latest
    assert "| Cull & grade | 1 | 1 | 0 | 0 | 1 | 1 | 0 | 1 |" in latest


def test_periods_are_counted_back_from_the_run_day_and_bad_ones_refused():
    from tasks.reporting import ReportPeriod, ReportRequest

    assert ReportRequest(day=date(2027, 1, 1)).days(date(2000, 1, 1)) == (date(2026, 12, 1), date(2026, 12, 31))
    assert ReportRequest(period=ReportPeriod.YESTERDAY).days(date(2026, 3, 1)) == (date(2026, 2, 28),) * 2
    with pytest.raises(ValidationError, match="until 2026-01-01 is before since 2026-02-01"):
        ReportRequest(period=ReportPeriod.DAYS, since=date(2026, 2, 1), until=date(2026, 1, 1))
    with pytest.raises(ValidationError, match="since/until are for period 'days'"):
        ReportRequest(since=date(2026, 2, 1))


def test_an_order_run_publishes_its_summary_and_stage_table(prefect_api, home, tmp_path):
    from tasks.synthetic import DngMeta, render_scene, write_dng
    from tests.flowkit import run_order

    card = tmp_path / "card"
    card.mkdir()
    for i in range(2):
        write_dng(card / f"DSC_{i + 1:04d}.dng", render_scene("portrait", 320, 240, seed=i), DngMeta())
    (card / "broken.dng").write_bytes(b"not a raw file")
    order_id, _ = run_order(card, client="Ada | Bo")
    summary = artifacts(f"order-{order_id}-delivery")[-1].data
    assert summary.startswith(f"### Ada | Bo · order {order_id}")
    assert "**Turnaround:** 0 working days to the first delivery" in summary
    assert "| Cull & grade | 2 | 2 | 0 | 2 | 0 |" in summary and "`broken.dng` (rejected)" in summary
    table = artifacts(f"order-{order_id}-stages")[-1]
    assert table.type == "table"
    assert "Liquify & skin" in table.data and "photos in" in table.data


def test_an_order_summary_says_a_delivery_on_a_day_off_after_the_due_date_is_late_by_less_than_a_working_day(home):
    """Due Friday 9 October, first delivered on Saturday the 10th: the summary said '0 working days late'."""
    from datetime import datetime
    from types import SimpleNamespace

    from config.calendar import WorkCalendar
    from tasks.order_report import _turnaround

    order = SimpleNamespace(created_at=datetime(2026, 10, 7, 8), due=date(2026, 10, 9))
    said = _turnaround(order, date(2026, 10, 10), WorkCalendar(), "")
    assert said.endswith(", due 2026-10-09: **late on a day off**"), said
    assert _turnaround(order, date(2026, 10, 12), WorkCalendar(), "").endswith("**1 working day late**")


def test_a_bad_holidays_file_leaves_the_order_summary_published_and_says_so(prefect_api, home, tmp_path, monkeypatch):
    """A holidays file with a line that is not a date failed the order run's summary task (a traceback on the
    terminal, no summary): the summary is published, its turnaround counted without holidays, and says why."""
    from config.settings import get_settings
    from tasks.synthetic import write_card
    from tests.flowkit import run_order

    (tmp_path / "holidays.txt").write_text("2026-12-25\nxmas\n")
    monkeypatch.setenv("POSTLINE_HOLIDAYS_FILE", str(tmp_path / "holidays.txt"))
    get_settings.cache_clear()
    try:
        order_id, _ = run_order(write_card(tmp_path / "card", 1, size=(240, 160)), client="Hol")
    finally:
        get_settings.cache_clear()
    summary = artifacts(f"order-{order_id}-delivery")[-1].data
    assert "**Turnaround:** 0 working days to the first delivery" in summary
    assert "(holidays not counted: " in summary and "line 2: 'xmas' is not a date" in summary


def test_postline_report_publish_runs_the_report_for_the_days_given(october_record, capsys):
    """The by-hand run, from the command line (on its Prefect server, with postline's settings): the days' report
    under the key 'production-report'; narrowing it is refused (the published report is the whole studio's)."""
    from surfaces.cli import main

    before = len(artifacts("production-report"))
    assert main(["report", "--publish", "--since", "2026-10-01", "--until", "2026-10-31"]) == 0
    said = capsys.readouterr().out
    assert "Published the production report, 2026-10-01 to 2026-10-31, as the Prefect artifact " \
           "'production-report'" in said
    history = artifacts("production-report")
    assert len(history) == before + 1
    assert "| Liquify & skin | 9 | 11 | 5 | 7 | 1 | 2 | 1 | 0 | 4 |" in history[-1].data
    assert main(["report", "--publish", "--stage", "liquify_skin"]) == 2
    assert "--publish reports the whole studio" in capsys.readouterr().err
