"""The production report as a Prefect artifact: per-stage throughput and rework, and QC reasons."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from prefect import task
from prefect.artifacts import create_markdown_artifact

from record import stats
from record.db import transaction


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


@task(name="production-report")
def publish_report(since: date | None, until: date | None) -> str:
    """Markdown of the period's per-stage figures, published as the artifact `production-report`."""
    start = _midnight(since) if since else None
    end = _midnight(until) + timedelta(days=1) if until else None
    with transaction() as session:
        rows = stats.stage_table(session, since=start, until=end)
        reasons = stats.rejection_reasons(session, since=start, until=end)
    lines = [f"## Production report, {since or 'start'} to {until or 'today'} (UTC)", "",
             "| stage | finished | touch hours | photos/hour | sent back | rework rate |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        if not r.work_stage:
            continue
        per_hour = "-" if r.photos_per_hour is None else f"{r.photos_per_hour:.0f}"
        rate = "-" if r.rework_rate is None else f"{r.rework_rate:.1%}"
        lines.append(f"| {r.title} | {r.passed} | {r.touch_seconds / 3600:.3f} | {per_hour} | {r.reworked} | {rate} |")
    if reasons:
        lines += ["", "| stage blamed | reason | count |", "|---|---|---:|"]
        lines += [f"| {stage} | {reason} | {n} |" for (stage, reason), n in reasons.most_common()]
    markdown = "\n".join(lines)
    create_markdown_artifact(key="production-report", markdown=markdown, description="Throughput and rework")
    return markdown
