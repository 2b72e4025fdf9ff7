"""Ingest: find the photos on a card folder, archive each original read-only with its SHA-256, read its metadata,
set aside duplicates (the same bytes, or the camera's JPEG of a RAW+JPEG shot) and unreadable files with a
reason, and queue the rest, each with the cull's signals (tasks/pixels/cull.py: blur where the subject is,
exposure, faces and eyes, a perceptual hash) and the photographer's own rating (tasks/ratings.py: stars, rejects,
labels from the XMP sidecar or the file) recorded in the same transaction.

Only regular files inside the card folder are read. A symbolic link (to a file or a folder, inside the card
or out), a pipe or a device is recorded as rejected with a reason that says what it is, and never opened.
A failure of the machine (full disk, permission, I/O, the record) rejects nothing: the batch stops, Prefect
retries it, and the files not yet recorded are picked up by the next run."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from prefect import task
from prefect.logging import get_run_logger
from sqlmodel import Session

from config.errors import Invalid, Refused
from tasks.runs import line_of
from record.db import ORDER_LOCK, one_at_a_time, transaction
from record.models import INGEST, CullSignals, Photo, PhotoRating, PhotoStatus
from record import cull as cull_record
from record import ratings
from record import moves, work
from tasks.runners import give_back_memory
from tasks.errors import PhotoError, as_retryable, retry_only_retryable, transient_cause
from tasks.files import (
    NotRegularFile, archive_dir, bytes_still_needed, card_entry_problem, copy_with_checksum, leftovers, naming,
    open_card_file, sha256_of, what_it_is,
)
from tasks.ratings import read_rating
from tasks.pixels import cull
from tasks.pixels.cull import hash_distance
from tasks.pixels.ratings import FrameRating
from tasks.pixels.metadata import SIDECAR_EXTENSIONS, PhotoKind, UnreadablePhoto, kind_of, read_metadata

# Perceptual hashes, on the eight real camera files of ../shared/samples/raw and a JPEG rendered from each: a RAW
# and its own JPEG 0-8 bits of 64 apart; a RAW and another file's JPEG 8-40, 24 or more for 52 of the 56 pairs.
# The hash alone cannot tell a shot: it only confirms one already told by its camera, second and file name.
SAME_SHOT_HASH_DISTANCE = 16


def scan_card(folder: Path) -> list[str]:
    """Every entry under ``folder`` that may be a photo, as POSIX paths relative to it, in a stable order.
    Hidden files and known sidecars (.xmp, .thm, ...) are skipped. Links are listed, not followed (a link to a
    folder is one entry, not its content), and so are pipes and devices: ingest reports each, reading none."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "a file, not a folder" if folder.exists() else "no such folder"
        raise NotADirectoryError(f"{folder}: {what}; give the folder that holds the card's photos")
    names = []

    def unreadable(exc: OSError) -> None:
        raise exc  # a folder of the card that cannot be listed: say so, do not skip its photos silently

    for top, dirs, files in os.walk(folder, followlinks=False, onerror=unreadable):
        here = Path(top).relative_to(folder)
        links = [d for d in dirs if os.path.islink(os.path.join(top, d))]
        dirs[:] = sorted(d for d in dirs if d not in links and not d.startswith("."))
        for name in files + links:
            if name.startswith(".") or Path(name).suffix.lower() in SIDECAR_EXTENSIONS:
                continue
            names.append((here / name).as_posix())
    return sorted(names)


def copied_again(order_id: int, card: Path, names: set[str] | None = None) -> set[str]:
    """The card files (of ``names``, or all) the order's ingest refused before that the card folder now holds
    another copy of, copied again from the card as the refusal asked: a regular file of another size, or
    written since the refusal with other bytes (a file of the same size and older is the copy refused: not read
    again, so a card's refused videos are not read at every run). The next ingest examines them again
    (record.work.add_photo keeps their rows)."""
    with transaction() as session:
        refused = work.refused_copies(session, order_id)
    again = set()
    for name, (size, sha, refused_at) in refused.items():
        if names is not None and name not in names:
            continue
        try:
            entry = os.lstat(Path(card) / name)
            if what_it_is(entry.st_mode) is not None or \
                    (entry.st_size == size and entry.st_mtime < refused_at.timestamp()):
                continue
            if entry.st_size == size:
                with open_card_file(card, name) as source:
                    if sha256_of(source) == sha:
                        continue
        except (OSError, NotRegularFile):
            continue        # gone, unreadable or swapped for a link: as it was, refused
        again.add(name)
    return again


def fresh_originals(order_id: int, names: list[str]) -> dict[int, tuple[Path, str, int]]:
    """Of the order's failed photos (``names``, or every one) that failed at the line's first stage, which reads the
    original (a RAW damaged on its way from the card: tasks.pixels.decode.noise_rows), those whose card file now
    holds other bytes (the card's whole file copied again over it, as the failure asked), copied again into the
    archive: photo id -> (the new copy, its sha256, size). The record is not changed here: `postline order retry`
    puts the new copy in place when it puts the photo back (record.rounds.retry_failed). A card folder gone, or a
    file that cannot be read there, leaves the archive's copy as it is. Raises :class:`CopiedWrongFile` when the
    new bytes are another photo's of the order."""
    with transaction() as session:
        order = work.get_order(session, order_id)
        first = work.order_line(session, order_id).first.key
        failed = work.photos(session, order_id, PhotoStatus.FAILED)
        if names:
            failed = [found[0] for name in names if len(found := work.named(failed, name)) == 1]
        at_first = [p for p in failed if work.failed_at(session, p.id) == first]
        known = {p.sha256: p.source_name for p in work.photos(session, order_id) if p.sha256}
    card, fresh = Path(order.card_folder), {}
    try:
        for photo in at_first:
            try:
                if card_entry_problem(card, photo.source_name):
                    continue
                with open_card_file(card, photo.source_name) as source:
                    sha = sha256_of(source)
            except (OSError, NotRegularFile):
                continue          # gone from the card folder, or unreadable there: the archive's copy is retried
            if sha == photo.sha256:
                continue
            if sha in known:
                raise CopiedWrongFile(f"{photo.source_name}: the file in the card folder now holds the same bytes as "
                                      f"{known[sha]}: copy the card's own {PurePosixPath(photo.source_name).name} "
                                      "over it. Nothing was put back.")
            try:
                with open_card_file(card, photo.source_name) as source:
                    fresh[photo.id] = copy_with_checksum(source, archive_dir(order_id), name=photo.source_name,
                                                         origin=card / photo.source_name)
            except (OSError, NotRegularFile) as exc:
                raise CopyAgainFailed(f"{photo.source_name}: cannot be copied again from {card} into the order's "
                                      f"archive ({exc}). Nothing was put back: fix that, then run "
                                      "`postline order retry` again.") from None
            known[fresh[photo.id][1]] = photo.source_name
    except BaseException:
        remove_unused_originals(order_id, [path for path, _, _ in fresh.values()])
        raise
    return fresh


def remove_unused_originals(order_id: int, paths: Iterable[str | Path]) -> None:
    """Remove those of ``paths`` (archived originals) that no photo of the order has as its original any more."""
    with transaction() as session:
        used = {p.original_path for p in work.photos(session, order_id)}
    for path in paths:
        if path and str(path) not in used:
            Path(path).unlink(missing_ok=True)


class CopiedWrongFile(Invalid):
    """The file copied again over a failed photo's card file is another photo of the order."""


class CopyAgainFailed(Refused):
    """A failed photo's card file, copied again over it, could not be copied into the archive (the disk, the card)."""


def by_shot(names: list[str]) -> list[list[str]]:
    """``names`` (as :func:`scan_card` lists them) grouped by shot name (record.work.shot_name: a RAW and the
    camera's JPEG of it), RAW first, each group where its first file was: an ingest batch takes a shot's files
    together and in that order, so the JPEG finds its RAW already recorded."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(work.shot_name(name), []).append(name)
    return [sorted(group, key=lambda name: (kind_of(name) is not PhotoKind.RAW, name)) for group in groups.values()]


def _rejected(order_id: int, name: str, reason: str, *, sha256: str = "", size: int = 0) -> Photo:
    return Photo(order_id=order_id, source_name=name, sha256=sha256, size_bytes=size, status=PhotoStatus.REJECTED,
                 reason=reason)


def gone_reason(order_id: int, card: Path, name: str) -> str:
    """Why a file listed on the card when the order was created is not recorded: it is not there now."""
    return (f"{name}: on the card folder when order {order_id} was created, not there now. Put it back in {card} "
            "(copy it from the card again), then run the order again: the run takes it then.")


def _examine(order_id: int, card: Path, name: str) -> Photo:
    """Archive one card file and build its Photo row (not yet added). Raises OSError for a failure of the
    machine (and FileNotFoundError when the file has gone since the card was scanned)."""
    source = None
    try:
        problem = card_entry_problem(card, name)  # without opening it: opening a device can have effects
        source = None if problem else open_card_file(card, name)
    except NotRegularFile as exc:  # it changed since: a link or a pipe swapped in
        problem = str(exc)
    except PermissionError:  # this file's own permission, as the card's folders were listed: the rest goes on
        problem = (f"cannot be read: permission denied to {getpass.getuser()}, the user running postline. Let that "
                   "user read the file (`chmod a+r` on it), then run the order again: the run takes it then")
    if source is None:
        return _rejected(order_id, name, f"{name}: {problem}.")
    with source:
        size = os.fstat(source.fileno()).st_size
        kind = kind_of(name)
        if size == 0 or kind is None:
            with naming(card / name):
                sha = sha256_of(source)
            return _rejected(order_id, name, sha256=sha, size=size, reason=(
                f"{name}: empty file (0 bytes). The copy from the card failed: copy it again; the order's next run "
                "takes the new copy." if size == 0 else
                f"{name}: not a photo type postline reads (camera RAW, JPEG or TIFF). "
                "Remove it from the card folder, or convert it."))
        original, sha, size = copy_with_checksum(source, archive_dir(order_id), name=name, origin=card / name)
    photo = Photo(order_id=order_id, source_name=name, original_path=str(original), sha256=sha,
                  size_bytes=size, kind=kind.value, status=PhotoStatus.INGESTED)
    try:
        meta = read_metadata(original)
    except UnreadablePhoto as exc:
        if transient_cause(exc) is not None:
            raise
        photo.status = PhotoStatus.REJECTED
        photo.reason = str(exc).replace(original.name, name)
        return photo
    photo.width, photo.height, photo.orientation = meta.width, meta.height, meta.orientation
    photo.camera_make, photo.camera_model, photo.lens = meta.camera_make, meta.camera_model, meta.lens
    photo.camera_serial = meta.camera_serial
    photo.capture_time, photo.iso = meta.capture_time, meta.iso
    photo.exposure_time, photo.f_number, photo.focal_length = meta.exposure_time, meta.f_number, meta.focal_length
    return photo


def _cull_signals(photo: Photo) -> CullSignals:
    """The cull's signals of an ingested photo (tasks.pixels.cull), not yet added. A photo that cannot be
    measured keeps its place in the line: its row says why, and the cull suggests nothing for it. A failure of
    the machine is raised."""
    original = Path(photo.original_path)
    try:
        s = cull.measure(original)
    except Exception as exc:  # noqa: BLE001 - advisory: only the machine's failure stops the ingest
        if transient_cause(exc) is not None:
            raise
        why = str(exc).replace(original.name, photo.source_name) if isinstance(exc, PhotoError) else \
            f"{photo.source_name}: could not be measured ({type(exc).__name__})"
        return CullSignals(order_id=photo.order_id, note=f"no cull signals: {why}"[:500])
    return CullSignals(order_id=photo.order_id, source=s.source, width=s.width, height=s.height, subject=s.subject,
                       blur=s.blur, motion=s.motion, motion_angle=s.motion_angle, highlights=s.highlights,
                       shadows=s.shadows, median_luma=s.median_luma, faces=s.faces, eyes=",".join(s.eyes),
                       phash=s.phash, seconds=s.seconds)


def _record(order_id: int, photo: Photo, first_stage: str, signals: CullSignals | None = None, *,
            again: bool = False, rating: FrameRating | None = None) -> Photo:
    """The photo, its first work item, its cull signals and the photographer's rating, in one transaction. A photo
    already in the line (the same bytes, or the RAW of the shot this is the camera's JPEG of) is recorded as a
    duplicate of it. ``again``: the card file was refused before and copied again since (:func:`copied_again`):
    its row is kept."""
    with transaction() as session:
        one_at_a_time(session, ORDER_LOCK, order_id)   # copies in parallel batches: each sees the one before
        if photo.status is PhotoStatus.INGESTED:
            first = work.find_by_checksum(session, order_id, photo.sha256)
            if first is not None:
                photo.status, photo.duplicate_of = PhotoStatus.DUPLICATE, first.id
                photo.reason = f"{photo.source_name}: same bytes as {first.source_name}; not processed twice."
                if session.get(PhotoRating, first.id) is None and (kept := ratings.row(order_id, first.id, rating)):
                    session.add(kept)     # the copy's sidecar rates the same picture: the pick is not lost
            elif (raw := _raw_of_the_same_shot(session, photo, signals)) is not None:
                photo.status, photo.duplicate_of = PhotoStatus.DUPLICATE, raw.id
                photo.reason = work.camera_jpeg_reason(photo.source_name, raw.source_name)
        photo = work.add_photo(session, photo, first_stage=first_stage, again=again)
        if signals is not None and photo.status is PhotoStatus.INGESTED:
            signals.photo_id = photo.id
            cull_record.add_signals(session, signals)
            if again:
                _give_way(session, photo, signals)
        if photo.status is PhotoStatus.INGESTED and (row := ratings.row(order_id, photo.id, rating)):
            session.add(row)
    return photo


def _give_way(session: Session, raw: Photo, signals: CullSignals) -> None:
    """``raw`` is in the line now, copied again after it could not be read: the camera's JPEG of it, which went
    through the line in its place (to QC's pass or the delivery), is set aside as its duplicate, so the next
    package holds the RAW's photo, not both. A JPEG still being worked is left as it is: both go on."""
    if raw.kind != PhotoKind.RAW.value or not signals.phash:
        return
    for jpeg in work.stand_ins_of(session, raw):
        measured = cull_record.signals_for(session, jpeg.id)
        if measured is None or not measured.phash or hash_distance(measured.phash, signals.phash) > SAME_SHOT_HASH_DISTANCE:
            continue
        reason = work.camera_jpeg_reason(jpeg.source_name, raw.source_name) + \
            " It stood in for the RAW while the RAW could not be read."
        moves.move_photo(session, jpeg, PhotoStatus.DUPLICATE, stage=INGEST, actor=work.AUTO_WORKER, reason=reason)
        jpeg.duplicate_of = raw.id
        session.add(jpeg)
        get_run_logger().warning("%s", reason)


def _raw_of_the_same_shot(session: Session, photo: Photo, signals: CullSignals | None) -> Photo | None:
    """The RAW already in the line that ``photo``, a JPEG, is the camera's own copy of (RAW+JPEG shooting), or
    None. Cameras name both files alike and stamp both with the same second (record.work.raws_of_the_same_shot);
    the pictures must also look alike (perceptual hashes within ``SAME_SHOT_HASH_DISTANCE``), so a second body
    of the same model numbering its frames alike is not taken for it; of several, the RAW in the JPEG's own
    folder, then the likest. When in doubt, None: both are worked."""
    if photo.kind != PhotoKind.JPEG.value or signals is None or not signals.phash:
        return None
    folder = photo.source_name.rpartition("/")[0]
    likely = []
    for raw in work.raws_of_the_same_shot(session, photo):
        measured = cull_record.signals_for(session, raw.id)
        if measured is None or not measured.phash:
            continue
        distance = hash_distance(measured.phash, signals.phash)
        if distance <= SAME_SHOT_HASH_DISTANCE:
            likely.append((raw.source_name.rpartition("/")[0] != folder, distance, raw.source_name, raw))
    return min(likely, key=lambda found: found[:3])[3] if likely else None


def _ingest_one(order_id: int, card: Path, name: str, first_stage: str, *, again: bool = False) -> Photo | None:
    """Examine and record one card file; None when it has gone from the card folder since the scan.
    A failure of the machine is raised; a file that cannot be read for a reason of its own is rejected."""
    try:
        photo = _examine(order_id, card, name)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if transient_cause(exc) is not None:
            raise
        photo = _rejected(order_id, name, f"{name}: cannot be read ({exc.strerror or type(exc).__name__}). "
                                          "Copy it onto the card folder again; the rest of the order goes on.")
    signals = rating = None
    if photo.status is PhotoStatus.INGESTED:
        signals = _cull_signals(photo)
        rating = read_rating(card, photo.source_name, Path(photo.original_path))
    return _record(order_id, photo, first_stage, signals, again=again, rating=rating)


@task(name="ingest-batch", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_only_retryable)
def ingest_batch(order_id: int, card_folder: str, names: list[str]) -> dict[str, int]:
    """Archive and record a batch of card files; files already recorded for this order are skipped."""
    logger = get_run_logger()
    specs = line_of(order_id).stages
    stages = [s.key for s in specs]
    card = Path(card_folder)
    counts = {"ingested": 0, "rejected": 0, "duplicate": 0, "skipped": 0}
    with transaction() as session:
        known = work.known_sources(session, order_id)
        listed = work.card_listed(session, order_id)
    again = copied_again(order_id, card, set(names) & known)
    known -= again
    todo = [name for name in names if name not in known]
    counts["skipped"] = len(names) - len(todo)
    for index, name in enumerate(todo):
        try:
            photo = _ingest_one(order_id, card, name, stages[0], again=name in again)
        except Exception as exc:
            stop = as_retryable(exc, order_id=order_id, folder=archive_dir(order_id),
                                needed=lambda: bytes_still_needed(order_id, specs, [(card, n) for n in todo[index:]]))
            if stop is None:
                raise
            logger.error("%s (while ingesting %s)", stop, name)
            raise stop from exc
        if photo is None and name in listed:     # on the card when the order was made: said, and asked for
            photo = _record(order_id, _rejected(order_id, name, gone_reason(order_id, card, name)), stages[0])
        if photo is None:
            logger.warning("%s: no longer in the card folder; not recorded (a later run takes it if it is back)", name)
            counts["skipped"] += 1
            continue
        counts[photo.status.value] += 1
        if photo.reason:
            logger.warning("%s", photo.reason)
    logger.info("ingest batch: %s", counts)
    give_back_memory()
    return counts


@task(name="remove-leftovers")
def remove_leftovers(order_id: int) -> int:
    """Remove the temporary files an interrupted run of this order left behind (tasks.files.leftovers); the
    order's run calls this first, before anything of the order is being written."""
    removed = 0
    for path in leftovers(order_id):
        path.unlink(missing_ok=True)
        removed += 1
    if removed:
        get_run_logger().info("removed %d unfinished file(s) an interrupted run left behind", removed)
    return removed
