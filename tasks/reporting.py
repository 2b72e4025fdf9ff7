"""The production report as a Prefect artifact, for the period a run covers.

A run reports last month (the monthly schedule), yesterday (the daily one) or the days it is given, counted
from the day it was scheduled for (a late run still reports its own period). Each kind of period publishes
under one stable key, so the artifact's history in the Prefect UI is the report month after month:
``production-report-monthly``, ``production-report-daily``, ``production-report`` (days given).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.calendar import get_calendar
from record.db import transaction
from record.figures.report import Report, build_report
from record.figures.scope import Scope
from record.figures.views import View, headline, summary_lines, views


class ReportPeriod(StrEnum):
    LAST_MONTH = "last_month"   # the calendar month before the day of the run
    YESTERDAY = "yesterday"     # the day before the day of the run
    DAYS = "days"               # ``since`` to ``until`` as given


ARTIFACT_KEYS = {ReportPeriod.LAST_MONTH: "production-report-monthly",
                 ReportPeriod.YESTERDAY: "production-report-daily", ReportPeriod.DAYS: "production-report"}


class ReportRequest(BaseModel):
    """Which period a run of the production report covers."""
    model_config = ConfigDict(frozen=True)
    period: ReportPeriod = Field(ReportPeriod.LAST_MONTH, description=(
        "last_month: the calendar month before the run's day; yesterday: the day before it; days: since to until."))
    day: date | None = Field(None, description=(
        "The run's day, which the period is counted back from (default: the day the run was scheduled for, "
        "else today, UTC)."))
    since: date | None = Field(None, description="period days: the first day (default: the start of the record).")
    until: date | None = Field(None, description="period days: the last day, included (default: today).")

    @model_validator(mode="after")
    def _days_in_order(self) -> "ReportRequest":
        if self.since and self.until and self.until < self.since:
            raise ValueError(f"until {self.until} is before since {self.since}: give the first day, then the last")
        if self.period is not ReportPeriod.DAYS and (self.since or self.until):
            raise ValueError(f"since/until are for period 'days'; period {self.period.value!r} counts its own days")
        return self

    def days(self, today: date) -> tuple[date | None, date | None]:
        """The first and last day (both included) the run reports."""
        day = self.day or today
        if self.period is ReportPeriod.YESTERDAY:
            return day - timedelta(days=1), day - timedelta(days=1)
        if self.period is ReportPeriod.LAST_MONTH:
            last = day.replace(day=1) - timedelta(days=1)
            return last.replace(day=1), last
        return self.since, self.until

    @property
    def artifact_key(self) -> str:
        return ARTIFACT_KEYS[self.period]


def run_day() -> date:
    """The day this run was scheduled for (UTC), else today."""
    scheduled = flow_run.scheduled_start_time
    return scheduled.astimezone(UTC).date() if scheduled else datetime.now(UTC).date()


def run_title() -> str:
    """The run's name in the Prefect UI: the days it reports (``Production report 2026-10-01 to 2026-10-31``)."""
    request = flow_run.parameters.get("request") or ReportRequest()
    request = request if isinstance(request, ReportRequest) else ReportRequest.model_validate(request)
    first, last = request.days(run_day())
    return f"Production report {first or 'from the start'} to {last or 'today'}"


_CELL = re.compile(r"[\x00-\x1f\x7f|]")


def cell(text: object) -> str:
    """A table cell in Markdown: a pipe or a control character in a client's name cannot break the table."""
    return _CELL.sub(lambda m: "\\|" if m.group() == "|" else " ", str(text))


def markdown_table(view: View) -> str:
    if not view.items:
        return "_none_"
    lines = ["| " + " | ".join(cell(h) for h in view.headers) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(view.headers))) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in view.cells()]
    return "\n".join(lines) + (f"\n\n_{cell(view.note)}_" if view.note else "")


def report_markdown(rep: Report) -> str:
    parts = [f"## {cell(headline(rep))}", "", *(f"- {cell(line)}" for line in summary_lines(rep))]
    for view in views(rep, None):
        parts += ["", f"### {cell(view.title)}", "", markdown_table(view)]
    return "\n".join(parts)


@task(name="production-report")
def publish_report(request: ReportRequest) -> dict[str, str | None]:
    """Publish the report of the request's period as the artifact of its key; returns the key and the days."""
    first, last = request.days(run_day())
    with transaction() as session:
        rep = build_report(session, Scope.days(first, last), get_calendar())
    create_markdown_artifact(key=request.artifact_key, markdown=report_markdown(rep),
                             description=f"Production report, {rep.first_day} to {rep.last_day}")
    return {"key": request.artifact_key, "first_day": rep.first_day.isoformat(), "last_day": rep.last_day.isoformat()}
