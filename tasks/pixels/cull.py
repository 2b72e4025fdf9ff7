"""The cull's signals of one photo, measured at ingest on a small picture of it (``tasks.pixels.preview``):

- **blur** where the subject is: on the largest frontal face found, else on the sharpest textured region
  (``tasks.pixels.sharpness``: 0 sharp, towards 1 blurred), never the whole-frame average (a portrait's
  soft background is wanted); the worst of four directions, so a smear along one direction counts;
- **motion**: how directional that blur is (the spread of the four directions' blur) and along which;
- **exposure**: the shares of clipped highlights (a channel at the top) and blocked shadows (luma at the
  bottom), and the median luma;
- **faces** found (frontal) and, on each face worth reading (at most ``max_faces``), its eyes
  (``tasks.pixels.eyes``);
- a **perceptual hash** (pHash, 64 bits, ImageHash): near-identical frames have near hashes.

What the signals suggest (thresholds in the line file) is :mod:`qc.cull`'s. Pure: a file in, numbers out; no
Prefect, no record."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import imagehash
import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from tasks.pixels import eyes, faces, sharpness
from tasks.pixels.colour import luma
from tasks.pixels.eyes import EyeParams
from tasks.pixels.preview import Preview, analysis_image, reduce

SUBJECT_FACE, SUBJECT_REGION, SUBJECT_FRAME = "face", "region", "frame"


class CullParams(BaseModel):
    """How the signals are measured. What they suggest is the line file's ``[cull]`` (config/line.py)."""
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = Field(1, ge=1, le=1, description="Version of these parameters' meaning.")
    long_edge: int = Field(1500, ge=256, le=4096, description=(
        "Longest edge, px, of the picture measured: blur finer than a pixel of it does not show (at 1500 px, a "
        "24 MP frame's blur shows from about 4 px of the full frame). 1500 is a whole fraction of the common "
        "sensor and preview sizes (6000 px), the quickest to reduce to."))
    face_long_edge: int = Field(640, ge=160, le=4000, description="Long edge the face cascade runs on.")
    tiles_across: int = Field(8, ge=2, le=32, description="Tiles along the long edge when looking for the sharpest region.")
    min_edges: float = Field(0.02, ge=0, le=4, description=(
        "Edge strength (mean |Sobel| of luma per pixel, x and y summed) a region needs to be measured."))
    highlight_level: float = Field(0.98, gt=0, le=1, description="A channel at or above this is clipped.")
    shadow_level: float = Field(0.02, ge=0, lt=1, description="Luma at or below this is a blocked shadow.")
    max_faces: int = Field(3, ge=0, le=20, description="Eyes are read on at most this many faces, the largest.")
    eye: EyeParams = Field(EyeParams(), description="How the eyes of a face are read (tasks/pixels/eyes.py).")


@dataclass(frozen=True)
class Signals:
    """What the cull measured on one photo."""
    source: str                   # tasks.pixels.preview.PreviewSource: where the picture came from
    width: int                    # the measured picture's size
    height: int
    subject: str                  # face | region | frame: where blur was measured
    blur: float                   # 0 sharp .. 1 blurred, the worst direction
    motion: float                 # spread of the four directions' blur: 0 even, higher = along one direction
    motion_angle: int             # the direction blurred most: 0 horizontal, 45, 90 vertical, 135
    highlights: float             # share of pixels with a clipped channel
    shadows: float                # share of pixels with blocked luma
    median_luma: float
    faces: int                    # frontal faces found
    eyes: tuple[str, ...]         # eyes.EyeState of each face read, largest face first
    phash: str                    # 16 hex digits
    seconds: float                # time taken, decode included


def _subject_box(grey: np.ndarray, found: list[faces.Face], params: CullParams) -> tuple[str, tuple[int, int, int, int]]:
    """Where the subject is, as (x0, y0, x1, y1) in ``grey``: the largest face with texture enough to measure,
    else the sharpest textured region (looked for on a half-size copy), else the whole frame."""
    for face in found[:1]:
        box = face.grown(0.1, grey.shape)
        region = grey[box[1]:box[3], box[0]:box[2]]
        if min(region.shape) >= 16 and sharpness.edge_strength(region) >= params.min_edges:
            return SUBJECT_FACE, box
    half = cv2.resize(grey, (max(1, grey.shape[1] // 2), max(1, grey.shape[0] // 2)), interpolation=cv2.INTER_AREA)
    size = max(16, max(half.shape) // params.tiles_across)
    if min(half.shape) >= size:
        grid = sharpness.tiles(half, size)
        best = sharpness.sharpest_tile(grid, params.min_edges)
        if best is not None:
            return SUBJECT_REGION, tuple(2 * v for v in grid.box(*best, half.shape))
    return SUBJECT_FRAME, (0, 0, grey.shape[1], grey.shape[0])


def _faces(display: np.ndarray, params: CullParams) -> list[faces.Face]:
    """Frontal faces, found on a copy of ``face_long_edge`` px, in ``display``'s pixels, largest first."""
    small = reduce(display, params.face_long_edge)
    scale = display.shape[1] / small.shape[1]
    found = faces.detect(small, faces.FaceParams(detect_long_edge=params.face_long_edge, profiles=False))
    return [faces.Face(round(f.x * scale), round(f.y * scale), round(f.w * scale), round(f.h * scale), f.kind)
            for f in found]


def measure_picture(picture: Preview, params: CullParams = CullParams(), *, started: float | None = None) -> Signals:
    """The signals of an analysis picture (display sRGB float32 HxWx3)."""
    started = time.perf_counter() if started is None else started
    display = picture.image
    grey = np.ascontiguousarray(luma(display), np.float32)
    found = _faces(display, params)
    subject, (x0, y0, x1, y1) = _subject_box(grey, found, params)
    blur = sharpness.directional(grey[y0:y1, x0:x1])
    readings = [eyes.read(grey, face, params.eye, display=display) for face in found[:params.max_faces]
                if eyes.judgeable(face, grey, params.eye)]
    small = reduce(display, 512)                       # exposure shares and the hash need no detail
    small_grey = luma(small)
    thumb = cv2.resize(small_grey, (64, 64), interpolation=cv2.INTER_AREA)     # pHash works on 32x32 of this
    phash = imagehash.phash(Image.fromarray(np.rint(np.clip(thumb, 0, 1) * 255).astype(np.uint8)))
    return Signals(
        source=picture.source.value, width=display.shape[1], height=display.shape[0], subject=subject,
        blur=round(float(blur.max()), 4), motion=round(float(blur.max() - blur.min()), 4),
        motion_angle=sharpness.DIRECTIONS[int(blur.argmax())],
        highlights=round(float((small.max(axis=2) >= params.highlight_level).mean()), 4),
        shadows=round(float((small_grey <= params.shadow_level).mean()), 4),
        median_luma=round(float(np.median(small_grey)), 4),
        faces=len(found), eyes=tuple(r.state.value for r in readings), phash=str(phash),
        seconds=round(time.perf_counter() - started, 4))


def measure(path: Path, params: CullParams = CullParams()) -> Signals:
    """The signals of the photo at ``path`` (RAW, JPEG or TIFF). Raises :class:`tasks.errors.PhotoError` when
    it cannot be decoded; a failure of the machine (OSError) as is."""
    started = time.perf_counter()
    return measure_picture(analysis_image(Path(path), params.long_edge), params, started=started)


def hash_distance(a: str, b: str) -> int:
    """Bits that differ between two pHashes, 16 hex digits each (0 = the same picture, 64 = opposite; unrelated
    ~32)."""
    return int(np.bitwise_count(np.uint64(int(a, 16)) ^ np.uint64(int(b, 16))))
