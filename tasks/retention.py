"""What an order keeps on disk, and for how long.

An order holds three kinds of files: its originals (the archive's read-only copies of the card), its working files
(under POSTLINE_HOME/work/order-N: stage masters, previews, proofs, the graded references, the delivery's JPEGs
before zipping) and its deliveries (the zips). After delivery the working files are kept for the revision window
(POSTLINE_REVISION_WINDOW_DAYS, counted from the order's last delivery), then housekeeping removes them
(flows/housekeeping.py); originals and deliveries stay. Kept after the window: what people made of each
photo (each people's stage's last hand-back, and the finished file when people's work went into it), since
postline could not make it again (a photo whose whole line is automatic is made again from its original, bit for
bit, if the order is ever delivered again: tasks/stages.restore_finished_files).

A client revision asked for after the removal goes back to the stage it names when people work that stage (a
manual one) or one before it: from the kept hand-back of the people's stage before it, the automatic files
between made again. Otherwise (an automatic or assisted stage with no people's stage before it, or a hand-back
not kept: an order cleaned before hand-backs were kept) it re-runs the photo from its original, through the
whole line (record.rounds.request_revision says which in the photo's reason)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from prefect import task
from prefect.logging import get_run_logger

from config.settings import get_settings
from record import work
from record.db import transaction
from record.models import AS_BEFORE, PhotoStatus, utcnow
from tasks.files import DiskUse, disk_use, folder_bytes, working_folder  # noqa: F401  (bench/scale.py's names)


def people_made(order_id: int) -> set[Path]:
    """The files of the order's delivered photos that people made, kept after the window (nothing could make them
    again): each people's stage's last hand-back (a late change to the photo goes on from them: tasks/stages.py
    makes the automatic files after them again, and the retoucher gets their own round beside the file), and the
    finished file when an automatic stage made it from people's work. A photo the client did not choose is
    delivered graded (record.work.finished_output): made again from its original if need be."""
    with transaction() as session:
        line = work.order_line(session, order_id)
        keys = [spec.key for spec in line.stages]
        delivered = {photo.id for photo in work.photos(session, order_id)
                     if photo.status is PhotoStatus.DELIVERED or photo.status in AS_BEFORE}   # held: delivered before
        every = work.finished_outputs(session, order_id, keys)
        kept = [every.get(photo_id) for photo_id in delivered]
        for spec in line.stages:
            if spec.needs_people:
                handed = work.finished_outputs(session, order_id, [spec.key])
                kept += [handed.get(photo_id) for photo_id in delivered]
    return {Path(item.output_path) for item in kept if item is not None and item.output_path
            and any(spec.needs_people for spec in line.stages[:keys.index(item.stage) + 1])}


def remove_working_files(order_id: int) -> int:
    """Remove the order's working files, but for what only people's work made (and then the graded references
    QC checks a late change with); the bytes freed. The record says they are gone first (a revision asked for
    from then on goes on from what is kept, or from the original: record.rounds.request_revision); an order that
    is not delivered any more (revised, or running again) keeps them: 0."""
    with transaction() as session:
        if not work.mark_working_files_removed(session, order_id):
            return 0
    folder, keep = working_folder(order_id), people_made(order_id)
    before = folder_bytes(folder)
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    else:       # and the graded references (small): QC's look and clipping checks of a late change read them
        references = folder / "reference"
        for path in sorted(folder.rglob("*"), reverse=True):   # files before the folders holding them
            if path.is_file() and path not in keep and path.parent != references:
                path.unlink(missing_ok=True)
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return before - folder_bytes(folder)


@task(name="remove-expired-working-files")
def remove_expired_working_files() -> int:
    """Housekeeping: the working files of every order delivered more than POSTLINE_REVISION_WINDOW_DAYS ago;
    the number of orders cleaned."""
    logger = get_run_logger()
    cutoff = utcnow() - timedelta(days=get_settings().revision_window_days)
    with transaction() as session:
        due = work.working_files_due(session, delivered_before=cutoff)
    cleaned = 0
    for order_id in due:
        freed = remove_working_files(order_id)
        if freed or not working_folder(order_id).exists():
            cleaned += 1
            logger.info("order %s: working files removed (%.1f MB), its revision window being over; originals "
                        "and deliveries kept", order_id, freed / 1e6)
    return cleaned
