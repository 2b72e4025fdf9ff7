"""The mask of the regions a QC lead marked on a photo: white (255) inside, black (0) outside, one 8-bit
channel the size of the working file, so an editor loads it as a selection over the photo. Pure: boxes in
fractions of the frame (x, y, w, h from the top left) and freehand outlines (points in fractions) in, pixels
out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def pixel_box(box: tuple[float, float, float, float], width: int, height: int) -> tuple[int, int, int, int]:
    """``box`` (fractions) as pixel edges (left, top, right, bottom; right and bottom excluded), at least 1 px."""
    x, y, w, h = box
    left, top = min(width - 1, max(0, round(x * width))), min(height - 1, max(0, round(y * height)))
    right = min(width, max(left + 1, round((x + w) * width)))
    bottom = min(height, max(top + 1, round((y + h) * height)))
    return left, top, right, bottom


def apply(width: int, height: int, boxes: Iterable[tuple[float, float, float, float]],
          outlines: Iterable[Sequence[tuple[float, float]]] = ()) -> np.ndarray:
    """A ``height`` x ``width`` uint8 mask: 255 inside any of ``boxes`` and freehand ``outlines`` (closed
    polygons of (x, y) fractions), 0 elsewhere."""
    if width < 1 or height < 1:
        raise ValueError(f"a mask needs a size of at least 1x1 px, not {width}x{height}")
    mask = np.zeros((height, width), np.uint8)
    for box in boxes:
        left, top, right, bottom = pixel_box(box, width, height)
        mask[top:bottom, left:right] = 255
    for outline in outlines:
        points = np.rint(np.asarray(outline, np.float64) * (width, height)).astype(np.int32)
        cv2.fillPoly(mask, [points], 255)
    return mask


def write_png(path: Path, mask: np.ndarray) -> Path:
    """Write ``mask`` as a greyscale PNG."""
    Image.fromarray(mask, "L").save(path, "PNG")
    return Path(path)
