"""`postline order create|run|use-line|revise|cameras|clock|ratings`: client orders, through
:mod:`surfaces.actions.orders` (and :mod:`surfaces.actions.cameras` for the cameras' clocks,
:mod:`surfaces.actions.ratings` for the photographer's ratings)."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from surfaces.cli.errors import EXIT_FAILED, order_argument
from surfaces.terminal import shown


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD, e.g. 2026-12-24") from None


def _count(text: str) -> int:
    if not text.isdigit() or int(text) > 10_000:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of photos from 0 to 10000")
    return int(text)


def said_created(order) -> None:  # noqa: ANN001 - surfaces.actions.orders.NewOrder
    files = f"{order.files} files in {order.card}"
    if order.not_read:
        files += (f" ({order.not_read} more not read: symbolic links, pipes or devices; the run reports each by "
                  "name, copy the files themselves onto the card folder)")
    print(f"Order {order.id} for {shown(order.client)}: {shown(files)}, preset {order.preset} v{order.preset_version}.")


def cmd_order_create(args: argparse.Namespace) -> int:
    from surfaces.actions import orders

    card = Path(args.from_dir).expanduser().resolve()
    order = orders.create_order(client=args.client, shoot=args.shoot, card=card, preset_name=args.preset,
                                due=args.due, chart=args.chart, deliver_chart=args.deliver_chart,
                                client_selection=not args.no_selection, package_count=args.package,
                                same_card=args.same_card, rush=args.rush)
    said_created(order)
    print(f"Run it with: postline order run {order.id}")
    if order.client_selection:
        print(f"After grading it waits for the client's selection: `postline gallery {order.id}` makes their link "
              "(--no-selection: retouch every photo, no waiting).")
    print(order.id)
    return 0


def cmd_order_rush(args: argparse.Namespace) -> int:
    from surfaces.actions import orders

    _said_priority(orders.set_priority(args.order_id, rush=not args.off))
    return 0


def cmd_order_due(args: argparse.Namespace) -> int:
    from surfaces.actions import orders

    _said_priority(orders.set_priority(args.order_id, due=args.due, no_due=args.due is None))
    return 0


def _said_priority(now) -> None:  # noqa: ANN001 - surfaces.actions.orders.Priority
    due = f"due {now.due:%Y-%m-%d}" if now.due else "no due date"
    print(f"Order {now.order_id}: {'rush' if now.rush else 'not a rush'}, {due}. Its {now.queued} photo(s) waiting "
          "in the queues are served " + ("before every order that is not a rush" if now.rush else
                                        "after the rush orders, by due date") + ".")


def run_order(order_id: int, *, wait: bool = False) -> str:
    """Run the order in this process (:func:`surfaces.actions.orders.run`), saying which Prefect server records
    it, with progress bars while stdout is a terminal (:mod:`surfaces.cli.progress`)."""
    from surfaces.actions import orders
    from surfaces.cli.progress import progress_of
    from surfaces.prefect_env import (choose_prefect_server, guard_temporary_server, on_a_named_server,
                                      start_temporary_server_alone)

    print(choose_prefect_server(), file=sys.stderr)
    guard_temporary_server()              # before the check below may start the temporary server
    if not wait:
        orders.ensure_free(order_id)      # refused before any warning about this run
    start_temporary_server_alone()
    if orders.waits_for_people(order_id) and not on_a_named_server():
        print("note: this line waits for people. Their hand-backs and decisions reach this run through Prefect's "
              "database on this machine (each command starts its own temporary server on it), not from other "
              "machines, and nobody can watch the run in the Prefect UI: for that, stop this, start `make server`, "
              "and run it again.", file=sys.stderr)
    with progress_of(order_id):
        return orders.run(order_id, wait=wait)


def cmd_order_run(args: argparse.Namespace) -> int:
    from config.errors import PostlineError, Retryable
    from config.settings import get_settings
    from surfaces.actions import orders
    from surfaces.cli.errors import fail
    from surfaces.cli.status import print_order
    from tasks.errors import as_retryable

    orders.line_of(args.order_id)      # an order that is not there: a usage error, before any run
    try:
        path = run_order(args.order_id, wait=args.wait)
    except Retryable as exc:           # the machine's failure, put in words: what to fix, and to run it again
        print(f"error: order {args.order_id} stopped: {shown(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except PostlineError as exc:       # another run holds the order; nothing was delivered: the message says why
        fail(exc)
        return EXIT_FAILED
    except KeyboardInterrupt:          # Ctrl-C, as the run-lease message offers: nothing finished is lost
        from tasks.runs import cancelled_in_the_ui

        why = "cancelled in the Prefect UI" if cancelled_in_the_ui() else "interrupted"
        print(f"\norder {args.order_id} stopped ({why}): run `postline order run {args.order_id}` again to go "
              "on; finished photos are kept and not redone.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001
        # the machine's failure (disk, permission, the record): the message says what to fix and to run it again
        stop = as_retryable(exc, order_id=args.order_id, folder=get_settings().home)
        print(f"error: order {args.order_id} stopped: {shown(stop)}" if stop is not None else
              f"error: order {args.order_id} stopped: {shown(exc)}\n"
              f"Fix the cause and run `postline order run {args.order_id}` again: finished photos are kept.",
              file=sys.stderr)
        return EXIT_FAILED
    print_order(args.order_id, brief=True)
    print(shown(path))
    return 0


def _revision_request(text: str) -> tuple[str, str, str]:
    parts = text.split(":", 2)
    if len(parts) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: write PHOTO:STAGE[:NOTE], e.g. 'DSC_0003.dng:fine_retouch:less warm'")
    return parts[0], parts[1], parts[2] if len(parts) > 2 else ""


def cmd_order_revise(args: argparse.Namespace) -> int:
    from surfaces.actions import orders

    number = orders.revise(order_id=args.order_id, requests=args.photo, actor=args.actor)
    print(f"Order {args.order_id}: client revision round {number}, {len(args.photo)} photo(s) back in the line.")
    for name, stage in orders.unread_notes(args.order_id, args.photo):
        print(f"Note: {shown(name)} goes back to {shown(stage)}, and people work no stage from there on: its note "
              "reaches nobody, and the automatic stages make the photo as before unless their preset or parameters "
              "changed since.")
    print(f"Run it with: postline order run {args.order_id}")
    return 0


def cmd_order_retry(args: argparse.Namespace) -> int:
    from surfaces.actions import orders

    put_back = orders.retry(order_id=args.order_id, names=args.photos, actor=args.actor)
    print(f"Order {args.order_id}: {len(put_back)} failed photo(s) back in the line, each at the stage it failed in:")
    for name, stage, copied in put_back:
        print(f"  {shown(name)} ({shown(stage)}" + ("; copied again from the card: its bytes differ from the copy "
                                                   "that failed)" if copied else ")"))
    print(f"Run it with: postline order run {args.order_id}")
    return 0


def cmd_order_use_line(args: argparse.Namespace) -> int:
    from config.line import line_path
    from surfaces.actions import orders

    changes = orders.use_current_line(args.order_id)
    if not changes:
        print(f"Order {args.order_id} runs with the line in {line_path()} already: nothing changes.")
        return 0
    print(f"Order {args.order_id} now runs with the line in {line_path()}:")
    for change in changes:
        print(f"  {change}")
    return 0


def _shift(text: str):  # noqa: ANN202 - a timedelta
    from surfaces.actions.cameras import parse_shift

    try:
        return parse_shift(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_order_cameras(args: argparse.Namespace) -> int:
    from record.clocks import NO_CAMERA, describe
    from surfaces.actions import cameras

    found = cameras.cameras(args.order_id)
    if not found:
        print(f"Order {args.order_id}: no photo in the line yet (`postline order run {args.order_id}` takes the card in).")
        return 0
    print(f"Order {args.order_id}: {len(found)} camera(s), the first to shoot first")
    for camera in found:
        span = (f"{camera.first:%Y-%m-%d %H:%M:%S} to {camera.last:%Y-%m-%d %H:%M:%S} on its clock" if camera.first
                else "no capture time in its files")
        print(f"  {shown(camera.name)}: {camera.photos} photo(s), {span}")
        if camera.how:
            print(f"      clock set right by {describe(camera.shift)}: {shown(camera.how)}")
        elif camera.name != NO_CAMERA and not camera.serial:
            print("      its files give no serial number: every body of this model is counted here")
    named = [c for c in found if c.name != NO_CAMERA]
    if len(named) > 1 and not any(c.how for c in named):
        print("Their clocks are taken as they were: if they were not in step, the delivery's numbers, the gallery and "
              "the bursts mix the day up. Set one right with two photos of the same moment:\n"
              f"  postline order clock {args.order_id} --match PHOTO_OF_THAT_CAMERA PHOTO_OF_ANOTHER\n"
              f"or by how far it was off: postline order clock {args.order_id} --camera NAME --by +3m12s")
    return 0


def cmd_order_clock(args: argparse.Namespace) -> int:
    from record.clocks import describe
    from surfaces.actions import cameras
    from surfaces.cli.errors import CliError

    if args.camera and args.by is None:
        raise CliError(f"--camera needs --by: how far its clock was behind, e.g. `postline order clock "
                       f"{args.order_id} --camera {args.camera!r} --by +3m12s` (- if it was ahead)")
    if args.match and args.by is not None:
        raise CliError("--match sets the shift from the two photos' times: leave --by out")
    done = cameras.set_clock(args.order_id, actor=args.actor, camera=args.camera, shift=args.by,
                             match=tuple(args.match) if args.match else None)
    print(f"Order {args.order_id}: {shown(done.camera)}'s clock set right by {describe(done.shift)} "
          f"({shown(done.how)}): its {done.photos} photo(s) are now placed by that time.")
    if done.delivered:
        print(f"The order was delivered before this: its package keeps the old numbers and times. "
              f"`postline deliver {args.order_id}` packs it again in the new order.")
    return 0


def cmd_order_ratings(args: argparse.Namespace) -> int:
    from surfaces.actions.ratings import order_ratings

    found = order_ratings(args.order_id, read_again=args.read_again)
    if found.read_again is not None:
        print(f"Order {args.order_id}: read again for the {found.read_again} original(s) waiting for review: "
              f"{found.changed} changed.")
    print(f"Order {args.order_id}: {shown(found.line)}.")
    if found.summary.rated and not found.review:
        print("The order's line has no review of the originals ([review_gate] enabled = false): the ratings are "
              "shown (`postline cull`), and cull nothing. Turn the review on in the line file for the next orders.")
    elif found.summary.rated and not found.used:
        print("The order's line does not use them ([cull] ratings = false): only the cull's suggestion pre-fills "
              "the review of the originals.")
    elif found.summary.rated and not found.waiting:
        print("No original waits for review now: the ratings pre-filled the review when they did.")
    elif found.summary.rated:
        others = ("culled as not picked ([cull] unpicked = \"cull\")" if found.unpicked_culled
                  else "as the cull suggests (`postline review decide --accept-suggestions --only-picks` culls them)")
        print("They pre-fill the review of the originals (the grid, the Prefect UI's form, `postline review decide "
              f"--accept-suggestions`): rejected frames culled, picked frames kept, the others {others}.")
    if found.read_again:
        print("A form the Prefect UI shows keeps what it was pre-filled with; the grid and the command line use "
              "what was read now.")
    if found.notes:
        print(f"Ratings that could not be read ({len(found.notes)}; each changes nothing):")
        for photo, note in found.notes:
            print(f"  {shown(photo)}: {shown(note)}")
        print(f"Save them again from the cataloguing program, then `postline order ratings {args.order_id} "
              "--read-again`.")
    return 0


def cmd_order_bw(args: argparse.Namespace) -> int:
    from surfaces.actions.black_and_white import asked

    found = asked(args.order_id, add=tuple(args.photos), remove=tuple(args.remove or ()), actor=args.actor)
    for name in found.added:
        print(f"asked for in black and white: {shown(name)}")
    for name in found.removed:
        print(f"no longer in black and white: {shown(name)}")
    for name in found.not_asked:
        print(f"not asked for in black and white, nothing to remove: {shown(name)}")
    twins = ", ".join(found.twins) or "none: its [black_and_white] names no rendition"
    print(f"Order {args.order_id}: {len(found.photos)} photo(s) asked for in black and white too (recipe "
          f"{found.recipe}, black-and-white renditions: {twins}).")
    for name, who in found.photos:
        print(f"  {shown(name)}  (asked by {shown(who)})")
    if found.delivered and (found.not_packed or found.removed):
        lacking = (f" ({len(found.not_packed)} photo(s) without their black-and-white files)" if found.not_packed
                   else "")
        print(f"The order's delivery package does not have the change yet{lacking}: `postline deliver "
              f"{args.order_id}` packs it again (only the photos whose files change are made again).")
    elif found.added or found.removed:
        print(f"Its next delivery has the change (`postline status {args.order_id}` says where the order is).")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    order = sub.add_parser("order", help="create and run client orders").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    create = order.add_parser("create", help="create an order from a card folder; prints the order id last")
    create.add_argument("--client", required=True, help="client name, e.g. 'Anna & Ben'")
    create.add_argument("--shoot", required=True, choices=["wedding", "portrait", "children"], help="kind of shoot")
    create.add_argument("--from", dest="from_dir", required=True, metavar="DIR", help="folder holding the card's photos")
    create.add_argument("--preset", help="grading preset (default: the shoot's; see presets/*.toml)")
    create.add_argument("--due", type=parse_date, help="due date, YYYY-MM-DD")
    create.add_argument("--chart", metavar="FILE", help="the card's ColorChecker shot, for session calibration "
                        "(default: postline looks for a chart among the first frames)")
    create.add_argument("--deliver-chart", action="store_true", help="deliver the frame used as the colour chart "
                        "too (by default it is set aside once the session is calibrated on it)")
    create.add_argument("--no-selection", action="store_true", help="no client selection: every photo is retouched "
                        "and delivered, without waiting for the client's favourites (portraits delivered whole)")
    create.add_argument("--same-card", action="store_true", help="make the order even though its card's files are "
                        "those of an order made before (refused by default: the same card made an order twice)")
    create.add_argument("--package", type=_count, metavar="N", help="album photos in the client's package: the most "
                        "they pick in the gallery (default: no album picks)")
    create.add_argument("--rush", action="store_true", help="a rush order: its photos go first in every queue "
                        "(`postline order rush` changes it later)")
    create.set_defaults(func=cmd_order_create)
    rush = order.add_parser("rush", help="make an order a rush (its photos go first in every queue), or not")
    order_argument(rush)
    rush.add_argument("--off", action="store_true", help="not a rush any more")
    rush.set_defaults(func=cmd_order_rush)
    due = order.add_parser("due", help="give an order another due date (the queues and the report go by it)")
    order_argument(due)
    due.add_argument("due", type=lambda text: None if text == "none" else parse_date(text), metavar="DATE",
                     help="YYYY-MM-DD, or none")
    due.set_defaults(func=cmd_order_due)
    run = order.add_parser("run", help="run (or resume) an order through the line; prints the delivery package last",
                           description="Run (or resume) an order through the line; prints the delivery package last. "
                           "Card files not yet in the order, and files its ingest refused that were copied again "
                           "into its card folder since, are taken in first. A delivered order runs again only for "
                           "such refused files copied again: its delivery is then made again, in place, with them (a file that "
                           "was not on the card when the order was made is not taken once it is delivered: make an "
                           "order of it).")
    order_argument(run)
    run.add_argument("--wait", action="store_true",
                     help="if another run of the order is live, wait for it to end, then carry on (default: refuse)")
    run.set_defaults(func=cmd_order_run)
    use_line = order.add_parser("use-line", help="move an order to the current line file (POSTLINE_LINE_FILE or "
                                "config/line.toml); prints what changes")
    order_argument(use_line)
    use_line.set_defaults(func=cmd_order_use_line)
    revise = order.add_parser("revise", help="the client's change requests: delivered photos go back to a stage")
    order_argument(revise)
    revise.add_argument("--photo", type=_revision_request, action="append", required=True,
                        metavar="PHOTO:STAGE[:NOTE]", help="a photo to redo, the stage to redo it in, what to change")
    revise.add_argument("--as", dest="actor", default="client", help="who asked (default: client)")
    revise.set_defaults(func=cmd_order_revise)
    retry = order.add_parser("retry", help="failed photos back in the line at the stage they failed in, once the "
                             "cause is fixed (a LUT, a file, postline itself)")
    order_argument(retry)
    retry.add_argument("photos", nargs="*", metavar="PHOTO", help="the photos (default: every failed one)")
    retry.add_argument("--as", dest="actor", default="lead", help="who puts them back (default: lead)")
    retry.set_defaults(func=cmd_order_retry)
    cameras = order.add_parser("cameras", help="the order's camera bodies: photos, when each shot on its own clock, "
                               "and the shift a lead set")
    order_argument(cameras)
    cameras.set_defaults(func=cmd_order_cameras)
    clock = order.add_parser(
        "clock", help="set a camera body's clock right for the order, so its photos fall in place among the others'",
        description="Set a camera body's clock right for the order. The delivery's sequence numbers and its files' "
        "capture times, the client's gallery, the cull's order and its bursts then place that body's photos by the "
        "time set right. The originals keep the time the camera wrote. Setting a body again replaces its shift.")
    order_argument(clock)
    how = clock.add_mutually_exclusive_group(required=True)
    how.add_argument("--match", nargs=2, metavar=("PHOTO", "REFERENCE"),
                     help="PHOTO (of the body to set) was taken at the same moment as REFERENCE (of another body): "
                     "names on the card, or file names alone")
    how.add_argument("--camera", metavar="NAME", help="the body, as `postline order cameras` names it (or a part only "
                     "it has, such as its serial '#1234'); with --by")
    clock.add_argument("--by", type=_shift, metavar="SHIFT", help="how far its clock was behind: +3m12s, -1h, +0:03:12 "
                       "(-: it was ahead)")
    clock.add_argument("--as", dest="actor", default="lead", help="who sets it (recorded; default: lead)")
    clock.set_defaults(func=cmd_order_clock)
    ratings = order.add_parser(
        "ratings", help="the photographer's own ratings (stars, rejects, colour labels, tags, from the card's XMP "
        "sidecars or the files): how many, and which could not be read",
        description="The photographer's own ratings of the order's originals: stars, the reject flag, colour labels "
        "and Photo Mechanic's tag, read at ingest from each photo's XMP sidecar on the card (Lightroom, Photo "
        "Mechanic, Capture One, Bridge, darktable) or from the file itself (the camera's rating). With the review of "
        "the originals on, they pre-fill it: rejected frames culled, picked frames kept.")
    order_argument(ratings)
    ratings.add_argument("--read-again", action="store_true", help="first read them again from the card folder for "
                         "the originals still waiting for review (the photographer rated them after the card was "
                         "taken in)")
    ratings.set_defaults(func=cmd_order_ratings)
    bw = order.add_parser(
        "bw", help="the photos asked for in black and white too: list them, ask for more, or withdraw some",
        description="The photos of an order asked for in black and white as well as in colour: by the client, "
        "ticking them in the gallery's selection, or by the studio here (a client who writes in later). Each gets "
        "the black-and-white twins of the renditions its delivery recipe names in [black_and_white] (wedding: "
        "full-bw and web-bw, in client.zip). Without PHOTO or --remove: the list. An order not delivered yet has "
        "the change in its delivery; a delivered one once `postline deliver N` packs it again (only the photos whose "
        "files change are made again).")
    bw.add_argument("order_id", type=int, help="the order's id (`postline status` lists them)")
    bw.add_argument("photos", nargs="*", metavar="PHOTO", help="photos to ask for in black and white: names on the "
                    "card, or file names alone")
    bw.add_argument("--remove", nargs="+", metavar="PHOTO", help="photos no longer wanted in black and white")
    bw.add_argument("--as", dest="actor", default="studio", help="who asks (recorded; default: studio)")
    bw.set_defaults(func=cmd_order_bw)
