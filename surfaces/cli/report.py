"""`postline report`: the ops manager's figures over a period, as terminal tables, CSV, JSON or an HTML file.

    postline report [--since DAY] [--until DAY] [--stage KEY] [--retoucher NAME] [--shoot TYPE] [--preset NAME]
                    [--client NAME] [--compare-since DAY --compare-until DAY]
                    [--by stage|retoucher|reason|shoot|client|order|forecast] [--format table|csv|json] [--html FILE]

The figures are :func:`record.figures.report.build_report`'s, their tables :mod:`record.figures.views`'; this
module prints them: tables (and CSV) name stages by title, JSON by key.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from record.figures.report import Report
    from record.figures.views import View
from surfaces.cli import tables
from surfaces.cli.errors import CliError
from surfaces.terminal import shown, shown_lines

BY = ("stage", "retoucher", "reason", "shoot", "client", "order", "forecast")


def as_table(rep: Report, by: str | None) -> str:
    """The tables for a terminal: every cell escaped by :func:`surfaces.cli.tables.render`, the lines around them
    by :func:`surfaces.terminal.shown_lines` (a client's name cannot start a fake row or colour the screen)."""
    from record.figures.views import headline, summary_lines, views

    out = [shown_lines(headline(rep))]
    for view in views(rep, by):
        out += ["", shown_lines(view.title) + ":",
                tables.render(view.headers, view.cells()) if view.items else "  (none)"]
        if view.note:
            out.append(shown_lines(f"  ({view.note})"))
    if by is None:
        out += [""] + [shown_lines(line) for line in summary_lines(rep)]
    return "\n".join(out)


def as_csv(view: View) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(view.raw_headers)
    writer.writerows([["" if v is None else v.isoformat() if isinstance(v, date) else v for v in row]
                      for row in view.raw()])
    return buffer.getvalue()


def as_json(rep: Report, by: str | None) -> str:
    data = rep.to_dict()
    section = {"stage": "stages", "reason": "rework", "retoucher": "retouchers", "order": "orders",
               "forecast": "forecast"}
    if by in section:
        data = data[section[by]]
    elif by in ("shoot", "client"):
        data = data["groups"][by]
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


# --- the command ----------------------------------------------------------------------------------------------------

def _date(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2026-10-31") from None
    if not 1900 <= day.year <= 2999:
        raise argparse.ArgumentTypeError(f"{text}: give a day from 1900 to 2999")
    return day


def _error(message: str) -> int:
    """A usage error: said, with its exit code, where every command's are (surfaces/cli/errors.py)."""
    raise CliError(message)


def _publish(args: argparse.Namespace) -> int:
    """`postline report --publish`: the production report's flow run for these days, on the Prefect server the
    command line uses (as the scheduled deployments publish theirs), the whole studio's figures."""
    from flows.report import report_flow
    from surfaces.terminal import quiet_prefect_console

    quiet_prefect_console()
    from tasks.reporting import ReportPeriod, ReportRequest

    narrowed = [f"--{name.replace('_', '-')}" for name in ("stage", "retoucher", "shoot", "preset", "client", "by",
                                                          "html", "compare_since", "compare_until")
                if getattr(args, name)]
    if narrowed or args.format != "table":
        return _error(f"--publish reports the whole studio, as the scheduled report does: leave out "
                      f"{', '.join(narrowed + (['--format'] if args.format != 'table' else []))}")
    published = report_flow(ReportRequest(period=ReportPeriod.DAYS, since=args.since, until=args.until))
    print(f"Published the production report, {published['first_day']} to {published['last_day']}, as the Prefect "
          f"artifact {published['key']!r}")
    return 0


def _known(session, client: str | None, preset: str | None,  # noqa: ANN001 - a sqlmodel Session
           retoucher: str | None) -> tuple[str | None, str | None, str | None]:
    """The filters as the record has them: a client's name in any case, a preset and a person the record knows.
    ValueError naming what is not there (a typo gave empty figures, exit 0)."""
    from sqlmodel import select

    from record.models import Order, Person, StageEvent
    from record.work import AUTO_WORKER

    def match(flag: str, given: str | None, names: list[str], what: str,
              shown_names: list[str] | None = None) -> str | None:
        if given is None:
            return None
        found = [n for n in names if n.casefold() == given.casefold()]
        if len(found) == 1 or given in found:
            return given if given in found else found[0]
        names = sorted(shown_names if shown_names is not None else names)
        listed = ", ".join(shown(n) for n in names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        raise ValueError(f"--{flag} '{shown(given)}': {what}" + (f" ({listed})" if names else " (none yet)"))
    clients = sorted(set(session.exec(select(Order.client)).all()))
    presets = sorted(set(session.exec(select(Order.preset)).all()))
    listed = set(session.exec(select(Person.name)).all())
    actors = {a for a in session.exec(select(StageEvent.actor).where(StageEvent.actor.is_not(None)).distinct()).all()
              if a}
    # listed: the studio's people, else whoever worked (not postline's own: its worker, the order runs' ids)
    shown_people = listed or {a for a in actors if a != AUTO_WORKER and not _RUN_ID.fullmatch(a)}
    return (match("client", client, clients, "no order of a client of that name in the record"),
            match("preset", preset, presets, "no order in the record was graded with a preset of that name"),
            match("retoucher", retoucher, sorted(listed | actors),
                  "nobody of that name works on the line or did any of its work", sorted(shown_people)))


_RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def cmd_report(args: argparse.Namespace) -> int:
    from config.calendar import HolidaysFileError, get_calendar
    from record import work
    from record.db import transaction
    from record.figures.report import build_report, known_stage
    from record.figures.views import headline, merged_stage_view, views
    from record.figures.scope import Scope
    from record.models import ShootType

    if args.since and args.until and args.until < args.since:
        return _error(f"--until {args.until} is before --since {args.since}; give the first day, then the last")
    if (args.compare_since is None) != (args.compare_until is None):
        return _error("give both --compare-since and --compare-until (the earlier period to compare with)")
    if args.publish:
        return _publish(args)
    if args.format == "csv" and args.by is None and not args.html:
        return _error("CSV holds one table: choose it with --by stage|retoucher|reason|shoot|client")
    filters = {"stage": args.stage, "retoucher": args.retoucher, "preset": args.preset, "client": args.client,
               "shoot": ShootType(args.shoot) if args.shoot else None}
    try:
        Scope.days(args.since, args.until, **filters)
        with transaction() as session:
            filters["client"], filters["preset"], filters["retoucher"] = _known(session, args.client, args.preset,
                                                                               args.retoucher)
        scope = Scope.days(args.since, args.until, **filters)
        earlier = Scope.days(args.compare_since, args.compare_until, **filters) if args.compare_since else None
    except ValidationError as exc:
        problem = exc.errors()[0]
        return _error(f"--{problem['loc'][0]}: {problem['msg']}")
    except ValueError as exc:
        return _error(str(exc))
    try:
        calendar = get_calendar()
    except HolidaysFileError as exc:
        return _error(str(exc))
    with transaction() as session:
        line = work.studio_line(session)
        if args.stage and not known_stage(session, line, args.stage):
            return _error(f"--stage {args.stage}: no such stage in the line or the record; give a stage key, "
                          f"e.g. {', '.join(s.key for s in line.stages)}")
        rep = build_report(session, scope, calendar, earlier=earlier, line=line)
    if args.html:
        from surfaces.cli.report_html import write_html

        target = Path(args.html).expanduser()
        try:
            path = write_html(rep, target, headline(rep))
        except OSError as exc:
            return _error(f"{target}: cannot write the HTML report ({exc.strerror or exc}); give a file in a folder "
                          "that exists and that you may write to")
        print(f"HTML report: {shown(path)}")
        return 0
    if args.format == "json":
        print(as_json(rep, args.by))
    elif args.format == "csv":
        sys.stdout.write(as_csv(views(rep, args.by)[0] if args.by != "stage" else merged_stage_view(rep)))
    else:
        print(as_table(rep, args.by))
        if args.by is None:
            print(disk_table())
    return 0


def disk_table() -> str:
    """Disk used per order now (working files, originals, deliveries), from the file system: whatever the period,
    what the studio's disks hold today."""
    from surfaces.actions import orders

    rows, totals = [], [0, 0, 0]
    for order, use in orders.disk_per_order():
        for index, value in enumerate((use.working, use.originals, use.deliveries)):
            totals[index] += value
        rows.append([order.id, order.client, order.status.value, tables.size(use.working),
                     tables.size(use.originals), tables.size(use.deliveries)])
    if not rows:
        return ""
    rows.append(["all", "", "", *map(tables.size, totals)])
    return ("\nDisk per order, now (working files go after the revision window; originals and deliveries stay):\n"
            + tables.render(["order", "client", "status", "working", "originals", "deliveries"], rows))


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `postline report` on the `postline` command's subparsers."""
    report = sub.add_parser("report", help="the ops figures over a period: per stage, reason, retoucher, order; "
                            "tables, CSV, JSON or an HTML file with charts", description=__doc__.split("\n\n")[0])
    report.add_argument("--since", type=_date, help="first day, YYYY-MM-DD (default: the start of the record)")
    report.add_argument("--until", type=_date, help="last day, YYYY-MM-DD, included (default: today)")
    report.add_argument("--stage", help="only this stage (its key, e.g. liquify_skin)")
    report.add_argument("--retoucher", help="only this person's work (their sign-in name)")
    report.add_argument("--shoot", choices=["wedding", "portrait", "children"], help="only orders of this shoot type")
    report.add_argument("--preset", help="only orders graded with this preset")
    report.add_argument("--client", help="only this client's orders (the name as recorded)")
    report.add_argument("--compare-since", type=_date, metavar="DAY",
                        help="retouchers' trend: first day of the earlier period (default: a year before --since)")
    report.add_argument("--compare-until", type=_date, metavar="DAY", help="last day of the earlier period")
    report.add_argument("--by", choices=BY, help="one table: per stage, retoucher, reason, shoot type or client; the "
                        "orders delivered, or the forecast for open orders (default: the whole report)")
    report.add_argument("--format", choices=["table", "csv", "json"], default="table",
                        help="table (default), csv (one table: needs --by) or json (stage keys, not titles)")
    report.add_argument("--html", metavar="FILE", help="write the report with its charts to FILE (one HTML file "
                        "that opens without a network)")
    report.add_argument("--publish", action="store_true", help="run the production report's flow for these days "
                        "and publish it in the Prefect UI (artifact 'production-report'), as the scheduled ones are")
    report.set_defaults(func=cmd_report)
