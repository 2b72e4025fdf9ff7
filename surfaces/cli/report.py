"""`postline report`: per-stage throughput and rework rate over a period, from the production record."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta

from surfaces.cli import tables
from surfaces.cli.orders import parse_date


def cmd_report(args: argparse.Namespace) -> int:
    from record import stats
    from record.db import transaction

    def midnight(day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), tzinfo=UTC)

    since = midnight(args.since) if args.since else None
    until = midnight(args.until) + timedelta(days=1) if args.until else None
    with transaction() as session:
        rows = stats.stage_table(session, since=since, until=until)
        reasons = stats.rejection_reasons(session, since=since, until=until)
        rounds = stats.revision_rounds(session, since=since, until=until)
    period = f"{args.since or 'the start'} to {args.until or 'today'}"
    print(f"Throughput and rework, {period} (UTC). Photos/hour is per hour of touch time.")
    print(tables.throughput([r for r in rows if r.stage not in ("ingest", "delivery")]))
    if rounds:
        print(f"\nClient revision rounds: {sum(rounds.values()) / len(rounds):.2f} per delivered order "
              f"({len(rounds)} orders; studio target <= 1.5)")
    if reasons:
        print("\nQC rejections by stage blamed and reason:")
        print(tables.render(["stage blamed", "reason", "count"],
                            [[stage, reason, n] for (stage, reason), n in reasons.most_common()]))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="per-stage throughput and rework rate over a period")
    report.add_argument("--since", type=parse_date, help="first day, YYYY-MM-DD (default: the start of the record)")
    report.add_argument("--until", type=parse_date, help="last day, YYYY-MM-DD (default: today)")
    report.set_defaults(func=cmd_report)
