"""Where the faces are: OpenCV Haar cascades (frontal, and profile both ways) on a downscaled copy,
boxes mapped back to the full image. Display space (sRGB-encoded float32 [0,1]) in, boxes out.

The cascades ship with postline (``cascades/``): nothing is downloaded at run time."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydantic import Field

from tasks.pixels.colour import luma
from tasks.pixels.contract import OpParams
from tasks.pixels.imageio import bands

CASCADES = Path(__file__).with_name("cascades")
FRONTAL = "haarcascade_frontalface_alt2.xml.gz"
PROFILE = "haarcascade_profileface.xml.gz"


class FaceParams(OpParams):
    version: int = Field(1, ge=1, le=1, description="Version of these parameters' meaning.")
    detect_long_edge: int = Field(800, ge=160, le=4000, description=(
        "Long edge, in pixels, of the copy the cascades run on; larger finds smaller faces, slower."))
    min_face_fraction: float = Field(0.05, gt=0, le=1, description=(
        "Smallest face to find, as a share of the image's short edge."))
    min_neighbours: int = Field(4, ge=1, le=20, description=(
        "Overlapping detections a face needs; higher means fewer false faces and more missed ones."))
    profiles: bool = Field(True, description="Also look for faces in profile (both directions).")


@dataclass(frozen=True)
class Face:
    """A face box in full-image pixels; ``kind`` is 'frontal' or 'profile'."""
    x: int
    y: int
    w: int
    h: int
    kind: str = "frontal"

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def grown(self, fraction: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the box grown by ``fraction`` of its size on every side, inside the image."""
        dx, dy = int(round(self.w * fraction)), int(round(self.h * fraction))
        return (max(0, self.x - dx), max(0, self.y - dy),
                min(shape[1], self.x + self.w + dx), min(shape[0], self.y + self.h + dy))


_PER_THREAD = threading.local()


def _cascade(name: str) -> cv2.CascadeClassifier:
    """This thread's own copy of the cascade: a CascadeClassifier detecting in two threads at once finds other
    faces than it finds alone (photo batches run on a thread pool: tests/test_faces_threads.py)."""
    loaded = _PER_THREAD.__dict__.setdefault("cascades", {})
    if name not in loaded:
        path = CASCADES / name
        classifier = cv2.CascadeClassifier(str(path))
        if classifier.empty():
            raise RuntimeError(f"{path}: the face cascade is missing or unreadable; reinstall postline")
        loaded[name] = classifier
    return loaded[name]


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box's area."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / max(1, min(a[2] * a[3], b[2] * b[3]))


def detect(display: np.ndarray, params: FaceParams = FaceParams()) -> list[Face]:
    """Faces in ``display`` (HxWx3 float32), largest first. A face found by two cascades counts once."""
    if display.ndim != 3 or display.shape[2] != 3:
        raise ValueError(f"expected HxWx3, got {display.shape}")
    height, width = display.shape[:2]
    scale = min(1.0, params.detect_long_edge / max(height, width))
    grey = np.empty((height, width), np.uint8)
    for rows in bands(height):      # band by band: at 24 MP, whole-frame float luma and its steps were 300 MB
        grey[rows] = np.rint(np.clip(luma(display[rows]), 0, 1) * 255)
    if scale < 1:
        grey = cv2.resize(grey, (max(1, round(width * scale)), max(1, round(height * scale))),
                          interpolation=cv2.INTER_AREA)
    grey = cv2.equalizeHist(grey)
    smallest = max(20, int(min(grey.shape) * params.min_face_fraction))
    found: list[tuple[tuple[int, int, int, int], str]] = []

    def run(name: str, image: np.ndarray, kind: str, mirrored: bool = False) -> None:
        step = 1.1 if kind == "frontal" else 1.2   # the profile cascade is slower: coarser scales
        boxes = _cascade(name).detectMultiScale(image, scaleFactor=step, minNeighbors=params.min_neighbours,
                                                minSize=(smallest, smallest))
        for x, y, w, h in (boxes if len(boxes) else []):
            box = (int(image.shape[1] - x - w) if mirrored else int(x), int(y), int(w), int(h))
            if all(_overlap(box, other) < 0.3 for other, _ in found):
                found.append((box, kind))

    run(FRONTAL, grey, "frontal")
    if params.profiles:
        run(PROFILE, grey, "profile")
        run(PROFILE, np.ascontiguousarray(grey[:, ::-1]), "profile", mirrored=True)
    faces = [Face(int(round(x / scale)), int(round(y / scale)), int(round(w / scale)), int(round(h / scale)), kind)
             for (x, y, w, h), kind in found]
    return sorted(faces, key=lambda f: -f.w * f.h)
