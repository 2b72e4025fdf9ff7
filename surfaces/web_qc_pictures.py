"""The pictures of the QC review page (surfaces/web_qc.py): which file is a photo's "before" and "after" at the
QC gate, the automatic findings over the after (a clipping overlay, the regions a check measured), and a 100%
view of any part of a working file, cropped at full resolution. Every picture is a JPEG or PNG made here from
the working files; nothing is written to disk."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image
from sqlmodel import Session, col, select

from config.errors import NotFound
from qc import findings
from record import rounds, work
from record.models import QC_GATE, WorkItem
from surfaces.web_images import PREVIEW_LONG_EDGE, _encode, _open, _to_rgb8

ZOOM_MAX = 1600        # the largest side of a 100% view, px


@dataclass(frozen=True)
class Before:
    path: Path | None
    label: str          # what it is: 'round 1 at the gate', 'the graded reference', ...


def gate_item(session: Session, order_id: int, item_id: int) -> WorkItem:
    """Item ``item_id`` if it is one of order ``order_id``'s at the QC gate, else :class:`NotFound`."""
    item = session.get(WorkItem, item_id)
    if item is None or item.order_id != order_id or item.stage != QC_GATE:
        raise NotFound(f"Order {order_id} has no photo {item_id} at the QC gate.")
    return item


def before_of(session: Session, item: WorkItem) -> Before:
    """What the photo at the gate is compared with: its previous round at the gate, else its graded reference
    (written by grading), else the first working TIFF a stage started from (not a RAW original)."""
    from tasks.operations import reference_path

    earlier = rounds.previous_item(session, item.photo_id, QC_GATE, item.round)
    if earlier is not None and earlier.input_path and Path(earlier.input_path).is_file():
        return Before(Path(earlier.input_path), f"round {earlier.round} at the QC gate")
    first = work.order_line(session, item.order_id).stages[0].key
    grader = work.final_output(session, item.photo_id, first)
    if grader is not None and (reference := reference_path(item.order_id, item.photo_id, grader.round)).is_file():
        return Before(reference, "the graded reference")
    for start in session.exec(select(WorkItem).where(WorkItem.photo_id == item.photo_id, WorkItem.stage != QC_GATE,
                                                     col(WorkItem.input_path).is_not(None))
                              .order_by(col(WorkItem.id))):
        if Path(start.input_path).suffix.lower() in (".tif", ".tiff") and Path(start.input_path).is_file():
            return Before(Path(start.input_path), f"the working file before {start.stage.replace('_', ' ')}")
    return Before(None, "no earlier version to compare with")


def _preview_display(path: Path) -> np.ndarray:
    image = _open(path)
    image.thumbnail((PREVIEW_LONG_EDGE, PREVIEW_LONG_EDGE), Image.LANCZOS)
    return np.asarray(image, np.float32) / 255.0


@lru_cache(maxsize=64)
def _findings(path: str, _size: int, _mtime_ns: int, spec_json: str, faces: bool) -> findings.Findings:
    from config.line import QcGateSpec

    return findings.find(_preview_display(Path(path)), QcGateSpec.model_validate_json(spec_json), faces=faces)


def findings_of(path: Path, spec, *, faces: bool = True) -> findings.Findings:  # noqa: ANN001 - QcGateSpec
    """The findings of the photo at ``path`` on its preview (cached by path, size and modification time).
    ``faces``: also the faces whose skin texture QC compares (a second or two a photo; the clipping overlay
    needs none)."""
    info = Path(path).stat()
    return _findings(str(path), info.st_size, info.st_mtime_ns, spec.model_dump_json(), faces)


def clipped_png(found: findings.Findings) -> bytes:
    """The clipped pixels as a see-through PNG the preview's size: blown red, crushed blue."""
    overlay = np.zeros((*found.blown.shape, 4), np.uint8)
    overlay[found.blown] = (255, 32, 32, 190)
    overlay[found.crushed] = (32, 96, 255, 190)
    out = io.BytesIO()
    Image.fromarray(overlay, "RGBA").save(out, "PNG", optimize=True)
    return out.getvalue()


@lru_cache(maxsize=2)
def _full(path: str, _size: int, _mtime_ns: int) -> np.ndarray:
    with tifffile.TiffFile(path) as tif:
        return tif.pages[0].asarray()


def zoom_jpeg(path: Path, x: float, y: float, width: int, height: int) -> bytes:
    """A ``width`` x ``height`` px piece of ``path`` at 100% (one file pixel, one JPEG pixel), centred on (x, y)
    (fractions of the frame) and kept inside it; smaller where the file is. A working TIFF is read whole, once
    (the two last are kept); a JPEG through Pillow."""
    _open(path)                                    # the same size limit as the previews, before decoding it all
    info = Path(path).stat()
    with Path(path).open("rb") as fh:
        tiff = fh.read(2) in (b"II", b"MM")
    data = _full(str(path), info.st_size, info.st_mtime_ns) if tiff else np.asarray(Image.open(path).convert("RGB"))
    full_h, full_w = data.shape[:2]
    width, height = min(width, full_w, ZOOM_MAX), min(height, full_h, ZOOM_MAX)
    left = int(min(max(0, round(x * full_w - width / 2)), full_w - width))
    top = int(min(max(0, round(y * full_h - height / 2)), full_h - height))
    return _encode(Image.fromarray(_to_rgb8(data[top:top + height, left:left + width]), "RGB"), quality=92)
