"""Ingest: find the photos on a card folder, archive each original read-only with its SHA-256,
read its metadata, set aside duplicates and unreadable files with a reason, and queue the rest."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.logging import get_run_logger

from tasks.runs import line_of
from record.db import transaction
from record.models import Photo, PhotoStatus
from record import work
from tasks.errors import retry_only_retryable
from tasks.files import archive_dir, copy_with_checksum, sha256_of
from tasks.pixels.metadata import SIDECAR_EXTENSIONS, UnreadablePhoto, kind_of, read_metadata


def scan_card(folder: Path) -> list[str]:
    """Every file under ``folder`` that may be a photo, as POSIX paths relative to it, in a stable order.
    Hidden files and known sidecars (.xmp, .thm, ...) are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: no such folder; give the folder that holds the card's photos")
    names = []
    for path in folder.rglob("*"):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix.lower() in SIDECAR_EXTENSIONS:
            continue
        names.append(rel.as_posix())
    return sorted(names)


def _examine(order_id: int, card: Path, name: str) -> Photo:
    """Archive one file and build its Photo row (not yet added)."""
    source = card / name
    size = source.stat().st_size
    if size == 0:
        return Photo(order_id=order_id, source_name=name, sha256=sha256_of(source), size_bytes=0,
                     status=PhotoStatus.REJECTED,
                     reason=f"{name}: empty file (0 bytes). The copy from the card failed: copy it again.")
    kind = kind_of(source)
    if kind is None:
        return Photo(order_id=order_id, source_name=name, sha256=sha256_of(source), size_bytes=size,
                     status=PhotoStatus.REJECTED,
                     reason=f"{name}: not a photo type postline reads (camera RAW, JPEG or TIFF). "
                            "Remove it from the card folder, or convert it.")
    original, sha, size = copy_with_checksum(source, archive_dir(order_id))
    photo = Photo(order_id=order_id, source_name=name, original_path=str(original), sha256=sha,
                  size_bytes=size, kind=kind.value, status=PhotoStatus.INGESTED)
    try:
        meta = read_metadata(original)
    except UnreadablePhoto as exc:
        photo.status = PhotoStatus.REJECTED
        photo.reason = str(exc).replace(original.name, name)
        return photo
    photo.width, photo.height, photo.orientation = meta.width, meta.height, meta.orientation
    photo.camera_make, photo.camera_model, photo.lens = meta.camera_make, meta.camera_model, meta.lens
    photo.capture_time, photo.iso = meta.capture_time, meta.iso
    photo.exposure_time, photo.f_number, photo.focal_length = meta.exposure_time, meta.f_number, meta.focal_length
    return photo


@task(name="ingest-batch", retries=2, retry_condition_fn=retry_only_retryable)
def ingest_batch(order_id: int, card_folder: str, names: list[str]) -> dict[str, int]:
    """Archive and record a batch of card files; files already recorded for this order are skipped."""
    logger = get_run_logger()
    first_stage = line_of(order_id).first.key
    counts = {"ingested": 0, "rejected": 0, "duplicate": 0, "skipped": 0}
    with transaction() as session:
        known = work.known_sources(session, order_id)
    for name in names:
        if name in known:
            counts["skipped"] += 1
            continue
        try:
            photo = _examine(order_id, Path(card_folder), name)
        except OSError as exc:
            photo = Photo(order_id=order_id, source_name=name, sha256="", size_bytes=0,
                          status=PhotoStatus.REJECTED,
                          reason=f"{name}: cannot read the file ({exc.strerror or exc}). Check the card copy.")
        with transaction() as session:
            if photo.status is PhotoStatus.INGESTED:
                first = work.find_by_checksum(session, order_id, photo.sha256)
                if first is not None:
                    photo.status, photo.duplicate_of = PhotoStatus.DUPLICATE, first.id
                    photo.reason = f"{name}: same bytes as {first.source_name}; not processed twice."
            work.add_photo(session, photo, first_stage=first_stage)
        counts[photo.status.value] += 1
        if photo.reason:
            logger.warning("%s", photo.reason)
    logger.info("ingest batch: %s", counts)
    return counts
