"""Delivery: one zip per order with full-size and web-size JPEGs of every photo that passed QC,
and a manifest.json that lists each file with its size and SHA-256, the original's SHA-256,
and the preset that graded it. Photos that were not delivered are listed with the reason."""

from __future__ import annotations

import errno
import json
import os
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
from prefect import task
from prefect.logging import get_run_logger

from tasks.runs import current_run, line_of
from config.settings import get_settings
from record import moves, work
from record.db import transaction
from record.models import DELIVERY, Order, OrderStatus, Photo, PhotoStatus, WorkItem, utcnow
from tasks.errors import Permanent, as_retryable, retry_only_retryable
from tasks.files import bytes_still_needed, safe_name, sha256_of, work_path
from tasks.pixels import imageio, layout

MANIFEST_VERSION = 1


def delivery_path(order: Order) -> Path:
    """One zip per delivery: the first, then one per client revision round (…-rev1.zip)."""
    revision = f"-rev{order.revisions}" if order.revisions else ""
    return get_settings().delivery_dir / f"order-{order.id}-{safe_name(order.client)}{revision}.zip"


def _renditions(order_id: int, photo: Photo, source: Path) -> tuple[Path, Path]:
    """Full-size and web-size JPEGs of a finished photo, made once (content-keyed by the photo and round file)."""
    settings = get_settings()
    key = source.stem
    full = work_path(order_id, "delivery", photo.id, 0, f"-{key}-full.jpg")
    web = work_path(order_id, "delivery", photo.id, 0, f"-{key}-web.jpg")
    if not (full.exists() and web.exists()):
        display = imageio.read_working_tiff(source)
        imageio.write_jpeg(full, display, quality=settings.jpeg_quality)
        imageio.write_jpeg(web, display, quality=settings.jpeg_quality, long_edge=settings.web_long_edge)
    return full, web


def _album_proofs(order_id: int, webs: list[Path]) -> list[Path]:
    """Proof spreads of the delivered photos, in order, laid out from the web renditions at screen resolution."""
    from PIL import Image

    photos = []
    for path in webs:
        with Image.open(path) as image:
            photos.append(np.asarray(image.convert("RGB"), np.float32) / 255.0)
    params = layout.SpreadParams(dpi=96)
    out = []
    for index, spread in enumerate(layout.lay_out(photos, params), start=1):
        out.append(imageio.write_jpeg(work_path(order_id, "delivery", 0, 0, f"-album-{index:02d}.jpg"), spread,
                                      quality=get_settings().jpeg_quality))
    return out


def _unique(name: str, taken: set[str], photo_id: int) -> str:
    if name in taken:
        stem, _, ext = name.rpartition(".")
        name = f"{stem}-{photo_id}.{ext}"
    taken.add(name)
    return name


class NothingDelivered(Permanent):
    """No photo of the order passed: there is nothing to deliver, and no zip is written."""


def _manifest(order: Order, entries: list[dict], not_delivered: list[dict]) -> dict:
    return {
        "manifest_version": MANIFEST_VERSION,
        "order": {"id": order.id, "client": order.client, "shoot": order.shoot.value,
                  "due": order.due.isoformat() if order.due else None},
        "revision": order.revisions,
        "preset": {"name": order.preset, "version": order.preset_version, "sha256": order.preset_hash},
        "created_at": utcnow().isoformat(),
        "files": entries,
        "not_delivered": not_delivered,
    }


def _render_all(order_id: int, ready: list[tuple[Photo, WorkItem]]) -> list[tuple[Photo, str, tuple[Path, Path]]]:
    """(photo, its name in the zip, its full and web JPEGs) for each photo to deliver, the JPEGs made if needed."""
    taken: set[str] = set()
    out = []
    for photo, final in ready:
        source = Path(final.output_path)
        if sha256_of(source) != final.output_sha256:
            raise RuntimeError(f"{photo.source_name}: the finished file {source} changed after its stage "
                               "recorded it; re-run that stage before delivery")
        name = _unique(safe_name(Path(photo.source_name).stem) + ".jpg", taken, photo.id)
        out.append((photo, name, _renditions(order_id, photo, source)))
    return out


def _write_zip(target: Path, order: Order, rendered: list, not_delivered: list[dict]) -> list[dict]:
    """Write the delivery zip under a temporary name, read it back (every member's CRC, every listed file
    there), then rename it into place; an interrupted or failed write leaves no zip and no temporary file.
    Returns the manifest's file entries."""
    entries = []
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for photo, name, renditions in rendered:
                for folder, rendition in zip(("full", "web"), renditions):
                    arcname = f"{folder}/{name}"
                    archive.write(rendition, arcname)
                    entries.append({"path": arcname, "size": rendition.stat().st_size,
                                    "sha256": sha256_of(rendition), "source_sha256": photo.sha256,
                                    "source_name": photo.source_name, "photo_id": photo.id, "rendition": folder})
            webs = [renditions[1] for _, _, renditions in rendered]
            if line_of(order.id).makes_album or get_settings().album_proofs:
                for index, spread in enumerate(_album_proofs(order.id, webs), start=1):
                    arcname = f"album/spread-{index:02d}.jpg"
                    archive.write(spread, arcname)
                    entries.append({"path": arcname, "size": spread.stat().st_size, "sha256": sha256_of(spread),
                                    "source_sha256": None, "rendition": "album"})
            archive.writestr("manifest.json", json.dumps(_manifest(order, entries, not_delivered), indent=2,
                                                         ensure_ascii=False), compress_type=zipfile.ZIP_DEFLATED)
        with zipfile.ZipFile(tmp) as written:
            missing = {e["path"] for e in entries} - set(written.namelist())
            damaged = written.testzip()
        if missing or damaged:
            raise OSError(errno.EIO, f"the delivery zip did not read back whole ({damaged or sorted(missing)[0]})",
                          str(tmp))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return entries


@task(name="package-delivery", retries=2, retry_delay_seconds=5, retry_condition_fn=retry_only_retryable)
def package_order(order_id: int) -> str:
    """The order's delivery zip; its path. Raises :class:`NothingDelivered` (and writes no zip) when no photo
    passed, and a :class:`~tasks.errors.Retryable` error when the disk or the record failed (nothing is marked
    delivered then)."""
    logger = get_run_logger()
    line = line_of(order_id)
    with transaction() as session:
        order = work.get_order(session, order_id)
        everything = work.photos(session, order_id)
        ready = [(p, work.final_output(session, p.id, line.last.key)) for p in everything
                 if p.status in (PhotoStatus.PASSED, PhotoStatus.DELIVERED)]
    not_delivered = [{"source_name": p.source_name, "source_sha256": p.sha256 or None, "status": p.status.value,
                      "reason": p.reason}
                     for p in everything if p.status not in (PhotoStatus.PASSED, PhotoStatus.DELIVERED)]
    if not ready:
        with transaction() as session:
            work.set_order_status(session, work.get_order(session, order_id), OrderStatus.FAILED,
                                  run=current_run())
        raise NothingDelivered(
            f"Order {order_id}: nothing was delivered: no photo passed ({len(not_delivered)} not delivered; "
            f"`postline status {order_id}` gives each one's reason). No zip was written.")
    target = delivery_path(order)
    needed = lambda: bytes_still_needed(order_id, [s.key for s in line.stages])  # noqa: E731
    try:
        rendered = _render_all(order_id, ready)
    except Exception as exc:
        if (stop := as_retryable(exc, order_id=order_id, folder=work_path(order_id, "delivery", 0, 0).parent,
                                 needed=needed)) is None:
            raise
        raise stop from exc
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        entries = _write_zip(target, order, rendered, not_delivered)
        in_zip = Counter(e["photo_id"] for e in entries if e.get("photo_id") is not None)
        with transaction() as session:
            for photo, _ in ready:
                photo = session.get(Photo, photo.id)
                if photo.status is PhotoStatus.PASSED and in_zip[photo.id] == 2:
                    moves.move_photo(session, photo, PhotoStatus.DELIVERED, stage=DELIVERY, actor=work.AUTO_WORKER,
                                     reason=f"in {target.name}")
            work.set_order_status(session, work.get_order(session, order_id), OrderStatus.DELIVERED,
                                  delivery_path=str(target), run=current_run())
    except Exception as exc:
        if (stop := as_retryable(exc, order_id=order_id, folder=target.parent, needed=needed)) is None:
            raise
        raise stop from exc
    logger.info("delivered %d photos in %s; %d not delivered", len(ready), target, len(not_delivered))
    return str(target)
