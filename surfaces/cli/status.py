"""`postline status [N]`: every order, or one order's photos, stages, run and what was not delivered."""

from __future__ import annotations

import argparse
import re
from collections import Counter

from surfaces.cli import tables
from surfaces.terminal import shown


def print_order(order_id: int, *, brief: bool = False, every_file: bool = False) -> None:
    """One order as a lead reads it (``brief``: without the delivery's path, which the caller prints last;
    ``every_file``: each file not delivered on its own line, none folded with others of the same reason)."""
    from record import clocks, runs, work
    from record.models import OrderStatus, PhotoStatus, utcnow
    from surfaces.actions import orders
    from tasks.next_steps import next_step, waiting_title

    found = orders.view(order_id)
    order, lease = found.order, found.lease
    print(f"Order {order.id} · {shown(order.client)} · {order.shoot.value} · preset {shown(order.preset)} "
          f"v{order.preset_version} · due {_due(order, utcnow().date()).replace(' wd', ' working day(s)')} · "
          f"{order.status.value}")
    print("Photos: " + ", ".join(f"{n} {'in the line' if s is PhotoStatus.INGESTED else s.value}"
                                 for s, n in sorted(found.counts.items()))
          + (f" · client revision rounds: {order.revisions}" if order.revisions else ""))
    unread, listed = found.unread
    if unread:
        print(f"Card: {unread} of its {listed} file(s) not read yet"
              + ("" if lease is not None and not lease.expired() else
                 f" (its last run stopped first): `postline order run {order.id}` reads them"))
    frame = "delivered (--deliver-chart)" if order.deliver_chart else "set aside, not delivered"
    for cal, camera in found.calibrations:
        print(f"Session calibration: {shown(cal.source)}"
              + (f" ({shown(camera)})" if len(found.calibrations) > 1 else "")
              + f", {cal.patches_found} patches, mean dE00 {cal.uncalibrated_mean_de:.2f} -> {cal.fit_mean_de:.2f};"
              f" the chart frame is {frame}")
    calibrated = [camera for _, camera in found.calibrations]
    others = [c for c in found.cameras if c.name not in calibrated]
    if calibrated and others:
        count = sum(c.photos for c in others)
        print(f"  It applies to the {' and '.join(map(shown, calibrated))}'s photos only: {count} photo(s) of "
              f"{'another camera' if len(others) == 1 else f'{len(others)} other cameras'} "
              f"({', '.join(shown(c.name) for c in others)}) graded without it (a chart's correction fits the "
              "camera that shot it)")
    if order.calibration_note:
        print(f"  Why not the others: {shown(order.calibration_note)}" if calibrated else
              f"Session calibration: none — {shown(order.calibration_note)}")
    print("Line: " + " > ".join(f"{s.key} ({s.mode.value})" for s in found.line.stages)
          + ("" if order.line_json else " (the current line file's: recorded when the order first runs)"))
    if lease is not None:
        state = (f"holds the order until {lease.expires_at:%H:%M:%S} UTC unless renewed" if not lease.expired()
                 else "stopped without ending (or suspended, waiting for people); the next run takes over")
        print(f"Run: flow run '{lease.name}' (id {lease.flow_run_id}) on {lease.owner}, since "
              f"{lease.started_at:%Y-%m-%d %H:%M:%S} UTC; {state}")
    if found.stopped:
        print(f"Stopped: {shown(found.stopped)}")
    if runs.no_run_on(order):
        print(f"Next: no run is working on it (its process was killed, or its machine stopped): `postline order run "
              f"{order.id}` carries on.")
    elif order.status is not OrderStatus.FAILED and (order.waiting_on or order.status is OrderStatus.RUNNING):
        print(f"Waiting on: {shown(waiting_title(found.line, order.waiting_on))}")
        print(f"Next: {next_step(order, found.line)}")
    elif order.status is not OrderStatus.DELIVERED:      # created, revision asked for, stopped: what to run
        print(f"Next: {next_step(order, found.line)}")
    elif found.counts.get(PhotoStatus.INGESTED):          # delivered, photos put back since (a retry, a held one)
        print(f"Next: {found.counts[PhotoStatus.INGESTED]} photo(s) are back in the line since its delivery: "
              f"`postline order run {order.id}` works them and makes the delivery again with them.")
    elif found.counts.get(PhotoStatus.PASSED):            # delivered, photos passed since (a lead passed held ones)
        print(f"Next: {found.counts[PhotoStatus.PASSED]} photo(s) passed since its delivery are not in its package: "
              f"`postline deliver {order.id}` adds them.")
    print(disk_line(order))
    if cameras := clocks.summary(order.id, list(found.cameras)):
        print(f"Cameras: {shown(cameras)}")
    if found.ratings:
        print(f"Ratings: {shown(found.ratings)}: `postline order ratings {order.id}`")
    if found.black_and_white:
        adds = (f"`postline deliver {order.id}` adds them" if order.status is OrderStatus.DELIVERED
                else "the order's next delivery adds them")
        lacking = (f"; {len(found.not_packed)} delivered without their black-and-white files yet: {adds}"
                   if found.not_packed else "")
        print(f"Black and white: {found.black_and_white} photo(s) asked for in black and white too{lacking} "
              f"(`postline order bw {order.id}`)")
    if found.selection is not None:
        print("Client selection: " + selection_state(found.selection))
    elif found.picks:
        print("Client selection: " + ", ".join(f"{n} {what}" for what, n in found.picks.items()))
    print()
    print(tables.stage_summary(found.stages))
    if found.not_delivered:
        print("\nNot delivered:")
        listed, lines = work.folded(found.not_delivered, fold=not every_file)
        for photo in listed:
            reason = f"{photo.source_name}: {photo.reason}" if photo.status is PhotoStatus.CHART else photo.reason
            print(f"  [{photo.status.value}] {shown(reason or photo.source_name)}")
        for status, line in lines:
            print(f"  [{status.value}] {shown(line)}")
        if lines:
            print(f"  (`postline status {order_id} --all` lists each file)")
    if found.as_before:
        print("\nDelivered as before, the change asked for not made (the package has the version delivered earlier):")
        for photo in found.as_before:
            print(f"  [{photo.status.value}] {shown(photo.reason or photo.source_name)}")
    if any(p.status is PhotoStatus.FAILED for p in (*found.not_delivered, *found.as_before)):
        print(f"  (once the cause is fixed, `postline order retry {order_id}` puts the failed photos back in the "
              "line)")
    if held := sum(p.status is PhotoStatus.HELD for p in (*found.not_delivered, *found.as_before)):
        print(f"  ({held} held by QC for a lead: `postline qc held {order_id}` lists them, passes one as it is or "
              "sends it back a round)")
    if culled := found.culled:
        codes = Counter(m[1] if (m := re.match(r"\[([^\]]+)\]", p.reason or "")) else "culled" for p in culled)
        print(f"\nCulled in the review of the originals: {len(culled)} photo(s) ("
              + ", ".join(f"{shown(code)} {n}" for code, n in codes.most_common()) + ")"
              + ("" if every_file else f": `postline status {order_id} --all` lists each"))
        if every_file:
            for photo in culled:
                print(f"  {shown(photo.reason or photo.source_name)}")
    if found.flagged:
        print("\nThe cull's findings, not acted on (this line has no review of the originals): "
              + ", ".join(f"{shown(reason)} {n}" for reason, n in found.flagged.items())
              + f": `postline cull {order_id}` lists the photos")
    if order.delivery_path and not brief:
        print(f"\nDelivery: {shown(order.delivery_path)}")


def selection_state(wait) -> str:  # noqa: ANN001 - record.selection.Waiting
    """An order's wait for its client's selection, in a few words: whether it is overdue and by how long."""
    from record import links
    from record.models import utcnow

    now = utcnow()
    if wait.link is None and wait.expired is not None:
        return (f"{wait.photos} photo(s) wait for the client; their gallery link {wait.expired.id} EXPIRED "
                f"{links.expiry(wait.expired):%Y-%m-%d} unanswered (`postline gallery {wait.order_id}` makes a new one)")
    if wait.link is None:
        return (f"{wait.photos} photo(s) wait for the client; no gallery link yet "
                f"(`postline gallery {wait.order_id}` makes one)")
    when = f"due {wait.due:%Y-%m-%d}"
    if wait.overdue(now):
        late = wait.days_late(now)
        when = f"OVERDUE since {wait.due:%Y-%m-%d}" + (f" ({late} d)" if late else "")
    sent = f", reminded {wait.link.reminders}x" if wait.link.reminders else ""
    return (f"{wait.photos} photo(s) wait for the client; gallery link {wait.link.id} made "
            f"{links.created(wait.link):%Y-%m-%d}, {when}{sent}")


def disk_line(order) -> str:  # noqa: ANN001 - record.models.Order
    """What the order holds on disk, and how long its working files stay (tasks/retention.py)."""
    from datetime import timedelta

    from config.settings import get_settings
    from record import history, links
    from record.db import transaction
    from record.models import OrderStatus
    from surfaces.actions import orders

    use = orders.disk(order.id)
    days = get_settings().revision_window_days
    with transaction() as session:
        last = history.last_delivered(session, order.id).get(order.id)
    last, removed = links.utc(last), links.utc(order.work_removed_at)
    if order.status is not OrderStatus.DELIVERED or last is None:
        kept = f"kept {days} days after delivery"
    elif removed is not None and removed >= last:     # removed since the last delivery (not before a revision's)
        kept = f"removed {removed:%Y-%m-%d}, after the revision window"
    else:
        kept = f"kept until {last + timedelta(days=days):%Y-%m-%d}, {days} days after its last delivery"
    return (f"Disk: {tables.size(use.working)} working files ({kept}), {tables.size(use.originals)} originals, "
            f"{tables.size(use.deliveries)} deliveries")


def cmd_status(args: argparse.Namespace) -> int:
    from record.models import utcnow
    from surfaces.actions import orders

    if args.order_id is not None:
        print_order(args.order_id, every_file=args.all)
        return 0
    now = utcnow()
    rows = [[o.id, o.client, o.shoot.value, o.status.value + _client(wait, now) + _unpacked(o) + _no_run(o, now),
             _due(o, now.date()), photos, o.created_at.strftime("%Y-%m-%d %H:%M")]
            for o, photos, wait in orders.every_order()]
    if not rows:
        print("No orders yet. Create one with `postline order create`, or try `postline demo`.")
        return 0
    print(tables.render(["order", "client", "shoot", "status", "due", "photos", "created (UTC)"], rows))
    return 0


def _due(order, today) -> str:  # noqa: ANN001 - record.models.Order, a date
    """The order's due date, and LATE with the working days since it passed while it is not delivered."""
    from record.models import OrderStatus

    if order.due is None:
        return "-"
    if order.status is OrderStatus.DELIVERED or order.due >= today:
        return f"{order.due}"
    from config.calendar import HolidaysFileError, get_calendar

    try:
        late = get_calendar().working_days(order.due, today)
    except HolidaysFileError:
        late = (today - order.due).days
    return f"{order.due} LATE" + (f" {late} wd" if late else "")


def _unpacked(order) -> str:  # noqa: ANN001 - record.models.Order
    """A delivered order whose package lacks black-and-white files asked for since it was made."""
    from record.models import OrderStatus
    from surfaces.actions.black_and_white import not_packed

    if order.status is not OrderStatus.DELIVERED or not not_packed(order.id):
        return ""
    return " · black and white to pack"


def _no_run(order, now) -> str:  # noqa: ANN001 - record.models.Order, datetime
    """A running order nobody's run works on (killed, its machine stopped): said, or it looks busy for good."""
    from record.runs import no_run_on

    return f" · NO RUN: `postline order run {order.id}`" if no_run_on(order, now) else ""


def _client(wait, now) -> str:  # noqa: ANN001 - record.selection.Waiting, datetime
    if wait is None:
        return ""
    if wait.overdue(now):
        return " · selection OVERDUE"
    if wait.link is None and wait.expired is not None:
        return " · gallery link EXPIRED unanswered"
    return " · awaits the client" if wait.link is not None else " · awaits a gallery link"


def add_parser(sub: argparse._SubParsersAction) -> None:
    status = sub.add_parser("status", help="all orders, or one order's photos and stages")
    status.add_argument("order_id", type=int, nargs="?")
    status.add_argument("--all", action="store_true", help="with an order: every file not delivered on its own line "
                        "(by default, ten or more refused for one reason are one line)")
    status.set_defaults(func=cmd_status)
