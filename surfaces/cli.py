"""`postline`: the command line of the studio's post-production line."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from surfaces import preset_cli, qc_cli
from surfaces.terminal import has_control, shown

EXIT_USAGE = 2
EXIT_FAILED = 1


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2026-12-24") from None


# --- commands -------------------------------------------------------------------------------------

def create_order(*, client: str, shoot: str, card: Path, preset_name: str | None, due: date | None,
                 chart: str | None = None, deliver_chart: bool = False):
    """Check the card folder and the preset, then record the order. Raises CliError on bad input."""
    from presets.model import DEFAULT_FOR_SHOOT, PresetError, load_preset
    from record import work
    from record.db import transaction
    from record.models import ShootType
    from tasks.files import card_entry_problem
    from tasks.ingest import scan_card

    if has_control(client):
        raise CliError(f"--client '{shown(client)}': a client name is one line of visible text, without control "
                       "characters (newline, tab, escape codes, bidi overrides); give the name as it should read")
    try:
        found = scan_card(card)
    except NotADirectoryError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{exc.filename or card}: cannot be read ({exc.strerror}); let the user running postline read "
                       "the card folder") from None
    if not found:
        raise CliError(f"{card}: no files in this folder; give the folder that holds the card's photos")
    not_read = {name for name in found if card_entry_problem(card, name)}  # links, pipes, devices: never followed
    if chart is not None and (chart not in found or chart in not_read):
        raise CliError(f"--chart {chart}: no such file in {card} (give the path, relative to the folder, of a "
                       "file on the card, not of a link)")
    try:
        preset = load_preset(preset_name or DEFAULT_FOR_SHOOT[shoot])
    except PresetError as exc:
        raise CliError(str(exc)) from None
    with transaction() as session:
        order = work.create_order(session, client=client, shoot=ShootType(shoot), preset_name=preset.name,
                                  preset_version=preset.version, preset_hash=preset.resolved_hash(),
                                  preset_json=preset.model_dump_json(), due=due, card_folder=str(card))
        order.chart_photo = chart
        order.deliver_chart = deliver_chart
    files = f"{len(found) - len(not_read)} files in {card}"
    if not_read:
        files += (f" ({len(not_read)} more not read: symbolic links, pipes or devices; the run reports each by name, "
                  "copy the files themselves onto the card folder)")
    print(f"Order {order.id} for {shown(client)}: {shown(files)}, preset {preset.name} v{preset.version}.")
    return order


def cmd_order_create(args: argparse.Namespace) -> int:
    card = Path(args.from_dir).expanduser().resolve()
    order = create_order(client=args.client, shoot=args.shoot, card=card, preset_name=args.preset, due=args.due,
                         chart=args.chart, deliver_chart=args.deliver_chart)
    print(f"Run it with: postline order run {order.id}")
    print(order.id)
    return 0


def run_order(order_id: int, *, wait: bool = False) -> str:
    """Run the order in this process; :class:`record.runs.OrderRunLive` if another run holds it (checked here
    first, so the refusal starts no flow run; the flow checks again, for a run started at the same moment)."""
    from flows.order import order_flow
    from surfaces.prefect_env import choose_prefect_server
    from tasks.runs import ensure_free, line_of

    where = choose_prefect_server()
    print(where, file=sys.stderr)
    if not wait:
        ensure_free(order_id)
    line = line_of(order_id)
    people = any(s.needs_people for s in line.stages) or line.qc_gate.human_review or line.review_gate.enabled
    if people and not os.environ.get("PREFECT_API_URL"):
        print("warning: this line waits for people, and their hand-backs and decisions can only wake this run "
              "through a Prefect server they reach too: stop this, start `make server`, and run it again.",
              file=sys.stderr)
    return order_flow(order_id, wait=wait)


def _connect_prefect() -> None:
    """Every command that may wake a waiting run (queue submit, qc/review decide, web) must reach the same
    Prefect server as the run: the one in PREFECT_API_URL, else the local one if it is up."""
    from surfaces.prefect_env import choose_prefect_server

    choose_prefect_server()


def cmd_order_run(args: argparse.Namespace) -> int:
    from record import work
    from record.db import transaction

    with transaction() as session:
        try:
            work.get_order(session, args.order_id)
        except work.NotFound as exc:
            raise CliError(str(exc)) from None
    from config.settings import get_settings
    from record.runs import OrderRunLive
    from tasks.errors import Permanent, as_retryable

    try:
        path = run_order(args.order_id, wait=args.wait)
    except (OrderRunLive, Permanent) as exc:  # another run holds the order; nothing was delivered: the message says why
        print(f"error: {shown(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001
        # the machine's failure (disk, permission, the record): the message says what to fix and to run it again
        stop = as_retryable(exc, order_id=args.order_id, folder=get_settings().home)
        print(f"error: order {args.order_id} stopped: {shown(stop)}" if stop is not None else
              f"error: order {args.order_id} stopped: {shown(exc)}\n"
              f"Fix the cause and run `postline order run {args.order_id}` again: finished photos are kept.",
              file=sys.stderr)
        return EXIT_FAILED
    _print_order(args.order_id, brief=True)
    print(shown(path))
    return 0


def _revision_request(text: str) -> tuple[str, str, str]:
    parts = text.split(":", 2)
    if len(parts) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: write PHOTO:STAGE[:NOTE], e.g. 'DSC_0003.dng:fine_retouch:less warm'")
    return parts[0], parts[1], parts[2] if len(parts) > 2 else ""


def cmd_order_revise(args: argparse.Namespace) -> int:
    from record import work
    from record.db import transaction
    from record.moves import StaleMove

    try:
        with transaction() as session:
            number = work.request_revision(session, order_id=args.order_id, requests=args.photo,
                                           stages=[s.key for s in work.order_line(session, args.order_id).stages],
                                           actor=args.actor)
    except (work.NotFound, work.RevisionError, StaleMove) as exc:
        raise CliError(str(exc)) from None
    print(f"Order {args.order_id}: client revision round {number}, {len(args.photo)} photo(s) back in the line.")
    print(f"Run it with: postline order run {args.order_id}")
    return 0


def cmd_order_use_line(args: argparse.Namespace) -> int:
    from config.line import LineFileError, line_path
    from record import work
    from record.runs import OrderRunLive
    from tasks.runs import LineChangeRefused, use_current_line

    try:
        changes = use_current_line(args.order_id)
    except (work.NotFound, LineFileError) as exc:
        raise CliError(str(exc)) from None
    except (OrderRunLive, LineChangeRefused) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if not changes:
        print(f"Order {args.order_id} runs with the line in {line_path()} already: nothing changes.")
        return 0
    print(f"Order {args.order_id} now runs with the line in {line_path()}:")
    for change in changes:
        print(f"  {change}")
    return 0


def _print_order(order_id: int, *, brief: bool = False) -> None:
    from record import runs, stats, work
    from record.db import transaction
    from record.models import PhotoStatus
    from surfaces import tables

    with transaction() as session:
        order = work.get_order(session, order_id)
        line = work.order_line(session, order_id)
        lease = runs.holder(session, order_id)
        counts = work.photo_counts(session, order_id)
        rows = stats.stage_table(session, order_id=order_id)
        trouble = [p for p in work.photos(session, order_id)
                   if p.status in (PhotoStatus.REJECTED, PhotoStatus.DUPLICATE, PhotoStatus.FAILED, PhotoStatus.HELD,
                                   PhotoStatus.CHART)]
    print(f"Order {order.id} · {shown(order.client)} · {order.shoot.value} · preset {shown(order.preset)} v{order.preset_version}"
          f" · due {order.due or '-'} · {order.status.value}")
    print("Photos: " + ", ".join(f"{n} {s.value}" for s, n in sorted(counts.items()))
          + (f" · client revision rounds: {order.revisions}" if order.revisions else ""))
    if order.calibration_json:
        from tasks.pixels.calibrate import CalibrationResult

        cal = CalibrationResult.model_validate_json(order.calibration_json)
        frame = "delivered (--deliver-chart)" if order.deliver_chart else "set aside, not delivered"
        print(f"Session calibration: {shown(cal.source)}, {cal.patches_found} patches, "
              f"mean dE00 {cal.uncalibrated_mean_de:.2f} -> {cal.fit_mean_de:.2f}; the chart frame is {frame}")
    elif order.calibration_note:
        print(f"Session calibration: none — {shown(order.calibration_note)}")
    print("Line: " + " > ".join(f"{s.key} ({s.mode.value})" for s in line.stages)
          + ("" if order.line_json else " (the current line file's: recorded when the order first runs)"))
    if lease is not None:
        state = (f"holds the order until {lease.expires_at:%H:%M:%S} UTC unless renewed" if not lease.expired()
                 else "stopped without ending (or suspended, waiting for people); the next run takes over")
        print(f"Run: flow run '{lease.name}' (id {lease.flow_run_id}) on {lease.owner}, since "
              f"{lease.started_at:%Y-%m-%d %H:%M:%S} UTC; {state}")
    if order.waiting_on:
        print(f"Waiting on: {shown(order.waiting_on)} (people's work; see `postline queue stages` / `postline qc pending {order.id}`)")
    print(_disk_line(order))
    print()
    print(tables.stage_summary(rows))
    if trouble:
        print("\nNot delivered:")
        for photo in trouble:
            reason = f"{photo.source_name}: {photo.reason}" if photo.status is PhotoStatus.CHART else photo.reason
            print(f"  [{photo.status.value}] {shown(reason or photo.source_name)}")
    if order.delivery_path and not brief:
        print(f"\nDelivery: {shown(order.delivery_path)}")


def _disk_line(order) -> str:  # noqa: ANN001
    """What the order holds on disk, and how long its working files stay (tasks/retention.py)."""
    from config.settings import get_settings
    from surfaces import tables
    from tasks.retention import disk_use

    use = disk_use(order.id)
    if order.work_removed_at is not None and order.status.value == "delivered":
        kept = f"removed {order.work_removed_at:%Y-%m-%d}, after the revision window"
    else:
        kept = f"kept {get_settings().revision_window_days} days after delivery"
    return (f"Disk: {tables.size(use.working)} working files ({kept}), {tables.size(use.originals)} originals, "
            f"{tables.size(use.deliveries)} deliveries")


def cmd_status(args: argparse.Namespace) -> int:
    from record import work
    from record.db import transaction
    from surfaces import tables

    if args.order_id is not None:
        try:
            _print_order(args.order_id)
        except work.NotFound as exc:
            raise CliError(str(exc)) from None
        return 0
    with transaction() as session:
        rows = [[o.id, o.client, o.shoot.value, o.status.value, o.due or "-",
                 sum(work.photo_counts(session, o.id).values()), o.created_at.strftime("%Y-%m-%d %H:%M")]
                for o in work.orders(session)]
    if not rows:
        print("No orders yet. Create one with `postline order create`, or try `postline demo`.")
        return 0
    print(tables.render(["order", "client", "shoot", "status", "due", "photos", "created (UTC)"], rows))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from record import stats
    from record.db import transaction
    from surfaces import tables

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
    _print_disk()
    return 0


def _print_disk() -> None:
    """Disk used per order now (working files, originals, deliveries), from the file system."""
    from record import work
    from record.db import transaction
    from surfaces import tables
    from tasks.retention import disk_use

    with transaction() as session:
        orders = [(o.id, o.client, o.status.value) for o in work.orders(session)]
    if not orders:
        return
    rows, totals = [], [0, 0, 0]
    for order_id, client, status in orders:
        use = disk_use(order_id)
        for index, value in enumerate((use.working, use.originals, use.deliveries)):
            totals[index] += value
        rows.append([order_id, shown(client), status, tables.size(use.working), tables.size(use.originals),
                     tables.size(use.deliveries)])
    rows.append(["all", "", "", *map(tables.size, totals)])
    print("\nDisk per order, now (working files go after the revision window; originals and deliveries stay):")
    print(tables.render(["order", "client", "status", "working", "originals", "deliveries"], rows))


def cmd_demo(args: argparse.Namespace) -> int:
    from config.settings import get_settings
    from tasks.pixels.synth_dng import make_demo_shoot

    folder = Path(args.folder or get_settings().home / "demo-card").expanduser().resolve()
    paths = make_demo_shoot(folder)
    print(f"Wrote a demo shoot of {len(paths)} DNG files to {shown(folder)}")
    order = create_order(client=args.client, shoot="wedding", card=folder, preset_name=None, due=None)
    print("Running it through the line...")
    path = run_order(order.id)
    print()
    _print_order(order.id, brief=True)
    print(f"\nDelivery zip: {shown(path)}")
    return 0


# --- parser ---------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postline",
        description="The post-production line of a photo studio: ingest, RAW grading, retouch stages, "
                    "QC gate and delivery, recorded in the production record and run on Prefect.",
        epilog="Settings come from POSTLINE_* environment variables (POSTLINE_HOME, POSTLINE_DATABASE_URL, ...).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    order = sub.add_parser("order", help="create and run client orders").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    create = order.add_parser("create", help="create an order from a card folder; prints the order id last")
    create.add_argument("--client", required=True, help="client name, e.g. 'Anna & Ben'")
    create.add_argument("--shoot", required=True, choices=["wedding", "portrait", "children"], help="kind of shoot")
    create.add_argument("--from", dest="from_dir", required=True, metavar="DIR", help="folder holding the card's photos")
    create.add_argument("--preset", help="grading preset (default: the shoot's; see presets/*.toml)")
    create.add_argument("--due", type=_date, help="due date, YYYY-MM-DD")
    create.add_argument("--chart", metavar="FILE", help="the card's ColorChecker shot, for session calibration "
                        "(default: postline looks for a chart among the first frames)")
    create.add_argument("--deliver-chart", action="store_true", help="deliver the frame used as the colour chart "
                        "too (by default it is set aside once the session is calibrated on it)")
    create.set_defaults(func=cmd_order_create)
    run = order.add_parser("run", help="run (or resume) an order through the line; prints the delivery zip last")
    run.add_argument("order_id", type=int)
    run.add_argument("--wait", action="store_true",
                     help="if another run of the order is live, wait for it to end, then carry on (default: refuse)")
    run.set_defaults(func=cmd_order_run)
    use_line = order.add_parser("use-line", help="move an order to the current line file (POSTLINE_LINE_FILE or "
                                "config/line.toml); prints what changes")
    use_line.add_argument("order_id", type=int)
    use_line.set_defaults(func=cmd_order_use_line)
    revise = order.add_parser("revise", help="the client's change requests: delivered photos go back to a stage")
    revise.add_argument("order_id", type=int)
    revise.add_argument("--photo", type=_revision_request, action="append", required=True,
                        metavar="PHOTO:STAGE[:NOTE]", help="a photo to redo, the stage to redo it in, what to change")
    revise.add_argument("--as", dest="actor", default="client", help="who asked (default: client)")
    revise.set_defaults(func=cmd_order_revise)

    status = sub.add_parser("status", help="all orders, or one order's photos and stages")
    status.add_argument("order_id", type=int, nargs="?")
    status.set_defaults(func=cmd_status)

    report = sub.add_parser("report", help="per-stage throughput and rework rate over a period")
    report.add_argument("--since", type=_date, help="first day, YYYY-MM-DD (default: the start of the record)")
    report.add_argument("--until", type=_date, help="last day, YYYY-MM-DD (default: today)")
    report.set_defaults(func=cmd_report)

    demo = sub.add_parser("demo", help="make a small shoot of DNG files and run it end to end")
    demo.add_argument("--folder", help="where to write the demo card (default: $POSTLINE_HOME/demo-card)")
    demo.add_argument("--client", default="Demo Wedding", help="client name for the demo order")
    demo.set_defaults(func=cmd_demo)

    preset_cli.add_parser(sub)

    from surfaces import queue_cli

    queue_cli.add_parsers(sub)  # `postline queue ...` and `postline people ...`
    qc_cli.add_parsers(sub)     # `postline qc pending|decide`
    from surfaces import web

    web.add_parser(sub)         # `postline web`: the retoucher web page
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _connect_prefect()
    try:
        return args.func(args)
    except CliError as exc:
        print(f"error: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `postline ... | head`: the reader has gone, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
