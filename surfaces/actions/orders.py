"""Orders: create one from a card folder, run (or resume) it in this process, a client's revision round, move it
to the current line file, and what an order (or every order) looks like now. `postline order ...`, `postline
status` and `postline demo` call these."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from sqlmodel import func, select


from config.errors import Invalid
from config.line import Line, get_line
from presets.model import DEFAULT_FOR_SHOOT, load_preset
from presets.recipe import load_recipe
from config.links import get_link_settings
from record import black_and_white, clocks, ratings, rounds, runs, selection, stats, work
from record.db import ORDER_CREATION_LOCK, one_at_a_time, transaction
from record.models import (AS_BEFORE, QC_GATE, EventKind, Order, OrderStatus, Photo, PhotoStatus, ShootType, WorkItem, WorkStatus,
                           utcnow)
from surfaces.terminal import has_control, shown
from tasks.files import card_entry_problem
from tasks.pixels.metadata import kind_of

NOT_DELIVERED = (PhotoStatus.REJECTED, PhotoStatus.DUPLICATE, PhotoStatus.FAILED, PhotoStatus.HELD, PhotoStatus.CHART)


class CardError(Invalid):
    """The card folder (or the chart named on it) cannot be used; the message says what to give instead."""


def _same_files(session, order_id: int, card: Path, most: int = 50, read: int = 3) -> bool:  # noqa: ANN001
    """Whether the files at ``card`` are those order ``order_id`` recorded of its photos of those names: their
    sizes (up to ``most`` of them), then the checksums of ``read`` of them, first, middle and last; none recorded
    yet (the order has not run), those of the files in its card folder (:func:`_alike_folders`), unless that is
    this folder or it is gone. A camera whose numbering started again after formatting writes the same names
    on a new card, not the same files, and a camera's uncompressed RAW files all have one size."""
    from tasks.files import sha256_of

    photos = [p for p in work.photos(session, order_id) if p.size_bytes]
    if not photos:                # not run yet: compare with the files in its card folder, when that is another one
        theirs = Path(work.get_order(session, order_id).card_folder or "")
        return theirs == card or not theirs.is_dir() or \
            _alike_folders(theirs, card, sorted(work.card_listed(session, order_id)), most=most, read=read)
    try:
        if any((card / p.source_name).stat().st_size != p.size_bytes for p in photos[:most]):
            return False
        picked = _spread(photos, read)
        if any(card_entry_problem(card, p.source_name) for p in picked):
            return False                 # not a regular file now (a pipe would block the read): not those files
        return all(sha256_of(card / p.source_name) == p.sha256 for p in picked)
    except OSError:
        return False


def _alike_folders(a: Path, b: Path, names: list[str], *, most: int, read: int) -> bool:
    """Whether folders ``a`` and ``b`` hold the same files of ``names``: the same of them regular files (nothing
    else is opened), their sizes (up to ``most``), then the checksums of ``read`` of them, first, middle and last."""
    from tasks.files import sha256_of

    try:
        kept = [name for name in names if card_entry_problem(a, name) is None]   # regular files only: a pipe or a
        if [name for name in names if card_entry_problem(b, name) is None] != kept:   # link is not read (a pipe
            return False                                                              # would block the read)
        names = kept
        if any((a / name).stat().st_size != (b / name).stat().st_size for name in names[:most]):
            return False
        return all(sha256_of(a / name) == sha256_of(b / name) for name in _spread(names, read))
    except OSError:
        return False


def _spread(items: list, read: int) -> list:
    """``read`` of ``items`` (fewer if there are fewer), first, middle and last: the files whose content is read."""
    picked = sorted({round(i * (len(items) - 1) / max(1, read - 1)) for i in range(read)}) if items else []
    return [items[i] for i in picked]


def _same_card(card: Path, earlier: list[Order]) -> str:
    last = earlier[-1]
    where = "this folder" if Path(last.card_folder or "") == card else f"{shown(last.card_folder or '?')}"
    others = f" (and of order(s) {', '.join(str(o.id) for o in earlier[:-1])})" if len(earlier) > 1 else ""
    return (f"{shown(str(card))}: these are the files of order {last.id}{others}, {shown(last.client)}, made "
            f"{last.created_at:%Y-%m-%d %H:%M} from {where}: the same card. `postline status {last.id}` shows it and "
            f"`postline order run {last.id}` runs it; nothing was recorded. To make another order of the same "
            "files anyway, add --same-card")


@dataclass(frozen=True)
class NewOrder:
    """An order just recorded, and what was found on its card."""
    id: int
    client: str
    card: Path
    files: int          # regular files on the card, read by the run
    not_read: int       # links, pipes, devices: never followed, reported by the run
    preset: str
    preset_version: int | None
    client_selection: bool = False


CLIENT_NAME_MAX = 120          # record.models.Order.client


def create_order(*, client: str, shoot: str, card: Path, preset_name: str | None, due: date | None,
                 chart: str | None = None, deliver_chart: bool = False, client_selection: bool = False,
                 package_count: int | None = None, same_card: bool = False, rush: bool = False) -> NewOrder:
    """Check the client's name, the card folder and the preset, then record the order. ``client_selection``: after
    grading, wait for the client's favourites (`postline order create` asks for it unless --no-selection; the demo
    and scripts that run an order through unattended do not); ``package_count``: album photos the client picks.
    A card whose files are those of an order made before (the same names) is refused unless ``same_card``: the
    same command run twice made two orders of one shoot, and both were delivered."""
    if has_control(client):
        raise CardError(f"--client '{shown(client)}': a client name is one line of visible text, without control "
                        "characters (newline, tab, escape codes, bidi overrides); give the name as it should read")
    client = client.strip()
    if not client or len(client) > CLIENT_NAME_MAX:     # a blank name named every delivered file "-0001.jpg"
        raise CardError(f"--client '{shown(client[:60])}{'...' if len(client) > 60 else ''}': give the client's name, "
                        f"1 to {CLIENT_NAME_MAX} characters (it names their folder and every file they get)")
    try:
        from tasks.ingest import scan_card    # the line's tasks load Prefect: only when a card is read

        found = scan_card(card)
    except NotADirectoryError as exc:
        raise CardError(str(exc)) from None
    except OSError as exc:
        raise CardError(f"{exc.filename or card}: cannot be read ({exc.strerror}); let the user running postline "
                        "read the card folder") from None
    if not found:
        raise CardError(f"{card}: no files in this folder; give the folder that holds the card's photos")
    not_read = {name for name in found if card_entry_problem(card, name)}  # links, pipes, devices: never followed
    if not any(kind_of(name) for name in found if name not in not_read):
        some = ", ".join(shown(name) for name in sorted(found)[:3]) + (", ..." if len(found) > 3 else "")
        raise CardError(f"{card}: no photo in this folder ({len(found)} file(s), none a camera RAW, JPEG or TIFF: "
                        f"{some}); give the folder that holds the card's photos")
    if chart is not None and (chart not in found or chart in not_read):
        where = "is not on the card" if Path(chart).is_absolute() or ".." in Path(chart).parts else "no such file"
        raise CardError(f"--chart {shown(chart)}: {where} in {card} (give the path, relative to the folder, of a "
                        "file on the card, not of a link)")
    preset = load_preset(preset_name or DEFAULT_FOR_SHOOT[shoot])
    from tasks.inputs import check_inputs

    check_inputs(preset, line=get_line, recipe=lambda: load_recipe(shoot))
    with transaction() as session:
        one_at_a_time(session, ORDER_CREATION_LOCK)     # two creates of one card at once: one order, one refusal
        if not same_card and (earlier := [o for o in work.orders_of_the_same_files(session, found)
                                          if _same_files(session, o.id, card)]):
            raise CardError(_same_card(card, earlier))
        order = work.create_order(session, client=client, shoot=ShootType(shoot), preset_name=preset.name,
                                  preset_version=preset.version, preset_hash=preset.resolved_hash(),
                                  preset_json=preset.model_dump_json(), due=due, card_folder=str(card))
        order.chart_photo = chart
        order.deliver_chart = deliver_chart
        order.client_selection, order.package_count, order.rush = client_selection, package_count, rush
        work.list_card(session, order.id, found)
    return NewOrder(id=order.id, client=client, card=card, files=len(found) - len(not_read), not_read=len(not_read),
                    preset=preset.name, preset_version=preset.version, client_selection=client_selection)


@dataclass(frozen=True)
class Priority:
    """An order's rush flag and due date after a change, and its photos in the queues (served in that order)."""
    order_id: int
    rush: bool
    due: date | None
    queued: int


def set_priority(order_id: int, *, rush: bool | None = None, due: date | None = None,
                 no_due: bool = False) -> Priority:
    """Make an order a rush (or not), give it another due date (or none): the queues serve rush orders first,
    then by due date (record.models.queue_rank: its photos in the queues are ranked again at once), and the
    report's forecast and turnaround go by them."""
    with transaction() as session:
        order = work.get_order(session, order_id)
        if (due is not None or no_due) and order.status is OrderStatus.DELIVERED and due != order.due:
            raise Invalid(f"order {order_id} is delivered: its due date"
                          + (f" ({order.due:%Y-%m-%d})" if order.due else "")
                          + " is what the report measured its turnaround against, and stays; nothing was changed. "
                          f"A client's change (`postline order revise {order_id} ...`) reopens it, and its due "
                          "date can be changed then")
        if rush is not None:
            order.rush = rush
        if due is not None or no_due:
            order.due = due
        session.add(order)
        session.flush()
        queued = session.exec(select(func.count()).select_from(WorkItem).where(
            WorkItem.order_id == order_id, WorkItem.status == WorkStatus.QUEUED)).one()
        return Priority(order_id=order_id, rush=bool(order.rush), due=order.due, queued=queued)


def line_of(order_id: int) -> Line:
    """The line the order runs with. :class:`record.work.NotFound` for an order that is not there."""
    with transaction() as session:
        work.get_order(session, order_id)
        return work.order_line(session, order_id)


def waits_for_people(order_id: int) -> bool:
    """Whether a run of this order pauses for people: a people's stage of its line, a gate (the QC lead, the
    review of originals) that the line turns on, or the client's selection the order asks for."""
    from qc.gates import gates

    with transaction() as session:
        selects = work.get_order(session, order_id).client_selection
        line = work.order_line(session, order_id)
    return (selects or any(s.needs_people for s in line.stages)
            or any(gate.enabled(line) for gate in gates().values()))


def ensure_free(order_id: int) -> None:
    """:class:`record.runs.OrderRunLive` while a live run holds the order (a suspended one included)."""
    from tasks.runs import ensure_free as check

    check(order_id)


def run(order_id: int, *, wait: bool = False) -> str:
    """Run the order in this process through its line; returns the delivery package's path. Refused with
    :class:`record.runs.OrderRunLive` if another run holds it (checked here first, so the refusal starts no flow
    run; the flow checks again, for a run started at the same moment); ``wait``: wait for that run to end."""
    from flows.order import order_flow
    from surfaces.terminal import quiet_prefect_console

    quiet_prefect_console()
    if not wait:
        ensure_free(order_id)
    return order_flow(order_id, wait=wait)


def revise(*, order_id: int, requests: list[tuple[str, str, str]], actor: str = "client") -> int:
    """The client's change requests on a delivery, (photo, stage to redo, note) each: the photos go back into
    the line as a new round. A photo is named by its name on the card, or by its name in the delivery (what the
    client has: ``Anna_&_Ben-0007``). Returns the order's revision round number."""
    from tasks.deliver import named

    with transaction() as session:
        order, photos = work.get_order(session, order_id), work.photos(session, order_id)
        on_card = [(found[0].source_name if len(found := named(order, photos, name)) == 1 else name, stage, note)
                   for name, stage, note in requests]
        return rounds.request_revision(session, order_id=order_id, requests=on_card,
                                     stages=[s.key for s in work.order_line(session, order_id).stages], actor=actor)


def unread_notes(order_id: int, requests: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    """Of change requests (photo, stage, note), (photo, stage) of those whose note reaches no person: no stage people
    work is at or after their stage (the automatic stages make the photo again as they did, unless their preset,
    recipe or parameters changed since)."""
    with transaction() as session:
        line = work.order_line(session, order_id)
    keys = {s.key for s in line.stages}
    return [(name, stage) for name, stage, note in requests if note and stage in keys and not line.reaches_people(stage)]


def retry(*, order_id: int, names: list[str], actor: str = "lead") -> list[tuple[str, str, bool]]:
    """Failed photos (``names``, or all) back in the line at the stage they failed in, once their cause is fixed;
    refused while a run holds the order. A photo that failed reading its original (a RAW damaged on its way from the
    card), whose card file now holds other bytes (the card's whole file copied again over it), is put back with a
    new copy of it (tasks.ingest.fresh_originals), the damaged one removed. Returns (photo, stage title, whether
    its original was copied again) for each."""
    from tasks.ingest import fresh_originals, remove_unused_originals

    ensure_free(order_id)
    fresh = fresh_originals(order_id, names)
    try:
        with transaction() as session:
            line = work.order_line(session, order_id)
            replaced = [p.original_path for p in work.photos(session, order_id, PhotoStatus.FAILED) if p.id in fresh]
            put_back = rounds.retry_failed(session, order_id=order_id, names=names, actor=actor, originals=fresh)
            said = [(photo.source_name, line.stage(stage).title, photo.id in fresh) for photo, stage in put_back]
    except BaseException:
        remove_unused_originals(order_id, [path for path, _, _ in fresh.values()])
        raise
    remove_unused_originals(order_id, replaced)
    return said


def use_current_line(order_id: int) -> list[str]:
    """Move the order to the current line file; what changes (empty: nothing)."""
    from tasks.runs import use_current_line as move

    with transaction() as session:
        work.get_order(session, order_id)
    return move(order_id)


# --- looking ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OrderView:
    """One order as `postline status N` shows it."""
    order: Order
    line: Line
    lease: runs.RunLease | None
    counts: dict[PhotoStatus, int]
    stages: list[stats.StageRow]
    not_delivered: list[Photo]
    calibrations: tuple = ()         # (tasks.pixels.calibrate.CalibrationResult, the body that shot its chart)
    selection: selection.Waiting | None = None     # the order waits for its client's selection
    picks: dict[str, int] | None = None            # once chosen: favourites, graded only, album, notes
    cameras: tuple[clocks.Camera, ...] = ()        # its camera bodies and their clocks (record.clocks)
    ratings: str | None = None                     # the photographer's ratings in a line, when it has any
    black_and_white: int = 0                       # photos asked for in black and white too
    not_packed: tuple[str, ...] = ()               # ... delivered, whose package lacks their black-and-white files
    as_before: tuple[Photo, ...] = ()              # failed or held in a revision: the package has them as before
    stopped: str | None = None                     # why its last run stopped, when it did (the order is failed)
    culled: tuple[Photo, ...] = ()                 # left out in the review of the originals
    unread: tuple[int, int] = (0, 0)               # files on its card not read yet (a run stopped first), of all
    flagged: dict[str, int] | None = None          # no review of the originals: the cull's own findings, by reason


def _flagged(session, order_id: int) -> dict[str, int] | None:  # noqa: ANN001 - sqlmodel.Session
    """On a line without the review of the originals (nothing acts on the cull there): how many of the order's
    photos the cull finds blurred, badly exposed or with eyes closed, by reason; None with the review on."""
    from qc import cull

    if work.order_line(session, order_id).review_gate.enabled:
        return None
    own = {cull.Reason.BLURRED, cull.Reason.EYES_CLOSED, cull.Reason.OVEREXPOSED, cull.Reason.UNDEREXPOSED}
    counts = Counter(reason.value for suggestion in cull.suggest(session, order_id)
                     for reason in suggestion.reasons if reason in own)
    return dict(counts.most_common())


def client_wait(session, order_id: int) -> selection.Waiting | None:  # noqa: ANN001 - sqlmodel.Session
    """The order's wait for its client's selection, if it waits for it (overdue from the gallery link's day plus
    POSTLINE_SELECTION_DAYS)."""
    return selection.waiting(session, order_id, now=utcnow(), selection_days=get_link_settings().selection_days)


def view(order_id: int) -> OrderView:
    with transaction() as session:
        order = work.get_order(session, order_id)
        picked = list(selection.picks(session, order_id).values())
        photos = work.photos(session, order_id)
        found = OrderView(order=order, line=work.order_line(session, order_id), lease=runs.holder(session, order_id),
                          counts=work.photo_counts(session, order_id),
                          stages=stats.stage_table(session, order_id=order_id),
                          not_delivered=[p for p in photos if p.status in NOT_DELIVERED],
                          culled=tuple(p for p in photos if p.status is PhotoStatus.CULLED),
                          selection=client_wait(session, order_id),
                          picks={"favourites": sum(p.favourite for p in picked),
                                 "graded only": sum(not p.favourite for p in picked),
                                 "album": sum(p.album for p in picked), "notes": sum(bool(p.note) for p in picked)}
                          if picked else None, cameras=tuple(clocks.cameras(session, order_id)),
                          ratings=ratings.in_a_line(session, order_id),
                          black_and_white=len(black_and_white.requested(session, order_id)),
                          unread=(len(listed - {p.source_name for p in photos}), len(listed))
                          if photos and (listed := work.card_listed(session, order_id)) else (0, 0),
                          flagged=_flagged(session, order_id))
    if order.status is OrderStatus.FAILED:
        with transaction() as session:
            found = replace(found, stopped=work.last_order_reason(session, order_id, EventKind.ORDER_FAILED))

    if order.delivery_path and any(p.status in AS_BEFORE for p in found.not_delivered):
        from tasks.deliver import in_package_as_before       # loads Prefect: only for an order that may need it

        packed = in_package_as_before(order, found.not_delivered)
    else:
        packed = set()
    if packed:
        found = replace(found, not_delivered=[p for p in found.not_delivered if p.id not in packed],
                        as_before=tuple(p for p in found.not_delivered if p.id in packed))
    if found.black_and_white and order.delivery_path:
        from surfaces.actions.black_and_white import not_packed

        found = replace(found, not_packed=not_packed(order_id))
    if order.calibration_json:
        from tasks.calibration import chart_photos

        with transaction() as session:
            charts = chart_photos(session, order)
        found = replace(found, calibrations=tuple(
            (fit, (clocks.camera_of(chart) if chart else None) or clocks.NO_CAMERA) for fit, chart in charts))
    return found


@dataclass(frozen=True)
class Step:
    """How far an order's run has come in one step of its line."""
    label: str
    done: int
    total: int


OUT_OF_LINE = (PhotoStatus.REJECTED, PhotoStatus.DUPLICATE, PhotoStatus.CULLED, PhotoStatus.CHART)


def progress(order_id: int, *, on_card: int) -> list[Step]:
    """The order's photos through ingest (of the ``on_card`` files), each stage of its line (after grading, of the
    client's favourites when the client chose), the QC gate and delivery, from the record (a few small queries:
    cheap enough to ask twice a second while it runs)."""
    with transaction() as session:
        line = work.order_line(session, order_id)
        counts = work.photo_counts(session, order_id)
        done = work.photos_done_per_stage(session, order_id)
        graded_only = sum(not pick.favourite for pick in selection.picks(session, order_id).values())
    in_line = sum(n for status, n in counts.items() if status not in OUT_OF_LINE)
    steps = [Step("Ingest", sum(counts.values()), max(on_card, sum(counts.values())))]
    steps += [Step(s.title, done.get(s.key, 0), in_line - (graded_only if n else 0))   # the client's favourites only
              for n, s in enumerate(line.stages)]
    steps += [Step("QC gate", done.get(QC_GATE, 0), in_line),
              Step("Delivery", counts.get(PhotoStatus.DELIVERED, 0), in_line)]
    return steps


def files_on_card(order_id: int) -> int:
    with transaction() as session:
        card = Path(work.get_order(session, order_id).card_folder)
    try:
        from tasks.ingest import scan_card

        return len(scan_card(card))
    except OSError:
        return 0


def every_order() -> list[tuple[Order, int, selection.Waiting | None]]:
    """Every order, newest first, with its number of photos (the card's files that are photos: not those refused,
    nor copies) and its wait for the client's selection (if any)."""
    with transaction() as session:
        return [(o, sum(n for status, n in work.photo_counts(session, o.id).items()
                        if status not in (PhotoStatus.REJECTED, PhotoStatus.DUPLICATE)),
                 client_wait(session, o.id) if o.client_selection else None) for o in work.orders(session)]


def disk(order_id: int):  # noqa: ANN201 - tasks.files.DiskUse
    """What order ``order_id`` holds on disk now (working files, originals, deliveries), from the file system."""
    from tasks.files import disk_use

    return disk_use(order_id)


def disk_per_order() -> list[tuple[Order, object]]:
    """Every order, oldest first, with what it holds on disk now (tasks.files.DiskUse)."""
    with transaction() as session:
        found = sorted(work.orders(session), key=lambda o: o.id)
    return [(order, disk(order.id)) for order in found]
