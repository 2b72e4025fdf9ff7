"""Are the eyes of a frontal face open? OpenCV's Haar eye cascades (``cascades/``) on the face's eye band.

A weak detector, so the reading says how sure it is. On the face's upper part, resized to EYE_BAND_WIDTH px,
the eye cascade runs without grouping: an open eye draws many hits (the astronaut's: 39 to 70 per eye), a
closed one almost none (0 to 3; measured in tests/test_cull_pixels.py). Each eye's evidence is the hits centred
in its expected place; the eyeglasses cascade gives a second opinion where the first finds little.

- ``open``: both eyes have at least ``open_hits``;
- ``shut``: neither has more than ``shut_hits`` *and* both eye places are about as light as the cheeks below
  them (an eyelid is skin: dark glasses or deep shadow over the eyes are not taken for closed eyes) *and* the box
  is a face's: mostly skin-coloured, its left half a mirror of its right (:func:`face_like`). The face cascade also
  fires on packaging, print and textures, where no eye is found and "lids" are as light as "cheeks": without
  this a product shot or a lace close-up read as a face with its eyes shut, and the cull suggested leaving it out;
- ``not_found``: neither eye reaches ``open_hits``, without the clear signs of ``shut``;
- ``unsure``: one eye open, the other not (a wink, hair, a hand, a turned head).

Only a face worth judging is read (:func:`judgeable`): frontal, large enough for eyes to be seen, lit. What a
reading means for the cull (closed eyes are suggested only on ``shut``, or on ``not_found`` when the same burst
shows the eyes open in another frame) is :mod:`qc.cull`'s.

Pure numpy/OpenCV: no Prefect, no record."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tasks.pixels.faces import Face
from tasks.pixels.sharpness import edge_strength
from tasks.pixels.skin import skin_mask

CASCADES = Path(__file__).with_name("cascades")
EYE = "haarcascade_eye.xml.gz"
EYE_GLASSES = "haarcascade_eye_tree_eyeglasses.xml.gz"
EYE_BAND_WIDTH = 96               # px: the face's eye band is resized to this width, so hit counts compare
EYE_BAND = (0.15, 0.60)           # the band's top and bottom, as shares of the face box's height
EYE_ROW = (0.20, 0.55)            # where an eye's centre may be, as shares of the face box's height
EYE_COLUMNS = ((0.10, 0.50), (0.50, 0.90))   # ... and across it: the left and the right eye
LID_ROWS, CHEEK_ROWS = (0.30, 0.48), (0.58, 0.75)


class EyeState(StrEnum):
    OPEN = "open"
    SHUT = "shut"
    NOT_FOUND = "not_found"
    UNSURE = "unsure"


class EyeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_face_px: int = Field(64, ge=24, le=1000, description=(
        "Smallest face width (px of the analysed picture) whose eyes are read: below it an eye is a few pixels."))
    min_face_luma: float = Field(0.12, ge=0, le=1, description="A face darker than this on average is not read.")
    min_face_edges: float = Field(0.1, ge=0, le=4, description=(
        "Texture (mean |Sobel| of luma per pixel, x and y summed) a face needs to be read: real faces measure "
        "0.2 and up even blurred by 2.5 px, a smooth face-like blob (a drawing, a synthetic scene) 0.03."))
    open_hits: int = Field(12, ge=1, le=500, description="Cascade hits an eye needs to count as found open.")
    shut_hits: int = Field(4, ge=0, le=100, description=(
        "At most this many hits on both eyes, with lids as light as the cheeks, reads as shut."))
    min_lid_ratio: float = Field(0.75, ge=0, le=2, description=(
        "Median lightness of the eye places over the cheeks' that a shut reading needs (an eyelid is skin)."))
    min_skin_share: float = Field(0.4, ge=0, le=1, description=(
        "Share of skin-coloured pixels (tasks/pixels/skin.py, skin_mask) in the face box that a shut reading "
        "needs: the astronaut's face 0.90-0.97 (eyes open or shut, dimmed, blurred), false faces the cascade "
        "found in a camera's packaging 0.05-0.16."))
    min_mirror: float = Field(0.35, ge=-1, le=1, description=(
        "How alike the face box's left half and its mirrored right half are (correlation of luma at 64 px) for a "
        "shut reading: the astronaut's face 0.46-0.55 (eyes open or shut, lit from one side), false faces in "
        "textures (wood, tissue, print) 0.01-0.28."))


@dataclass(frozen=True)
class EyeReading:
    state: EyeState
    hits: tuple[int, int]          # left eye, right eye (as seen)
    lid_ratio: float


@lru_cache(maxsize=2)
def _cascade(name: str) -> cv2.CascadeClassifier:
    path = CASCADES / name
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
        raise RuntimeError(f"{path}: the eye cascade is missing or unreadable; reinstall postline")
    return classifier


def judgeable(face: Face, grey: np.ndarray, params: EyeParams = EyeParams()) -> bool:
    """Whether ``face`` (in ``grey``'s pixels) is worth reading eyes on: frontal, large enough, lit, a face's
    texture."""
    if face.kind != "frontal" or face.w < params.min_face_px:
        return False
    box = grey[face.y:face.y + face.h, face.x:face.x + face.w]
    return (min(box.shape) >= 16 and float(box.mean()) >= params.min_face_luma
            and edge_strength(box) >= params.min_face_edges)


def _hits(band: np.ndarray, name: str, scale: float, face: Face) -> list[int]:
    width = band.shape[1]
    boxes = _cascade(name).detectMultiScale(band, scaleFactor=1.1, minNeighbors=0, minSize=(width // 8, width // 8),
                                            maxSize=(width // 2, width // 2))
    counts = [0, 0]
    for x, y, w, h in (boxes if len(boxes) else []):
        across = (x + w / 2) / width
        down = (y + h / 2) / scale / face.h + EYE_BAND[0]
        if not EYE_ROW[0] <= down <= EYE_ROW[1]:
            continue
        for side, (left, right) in enumerate(EYE_COLUMNS):
            if left <= across < right:
                counts[side] += 1
    return counts


def _lid_ratio(face_grey: np.ndarray) -> float:
    """Median lightness of the two eye places over that of the cheeks below them."""
    h, w = face_grey.shape

    def median(rows: tuple[float, float], cols: tuple[float, float]) -> float:
        part = face_grey[int(rows[0] * h):int(rows[1] * h), int(cols[0] * w):int(cols[1] * w)]
        return float(np.median(part)) if part.size else 0.0

    lids = min(median(LID_ROWS, (0.15, 0.45)), median(LID_ROWS, (0.55, 0.85)))
    cheeks = max(1e-3, (median(CHEEK_ROWS, (0.15, 0.40)) + median(CHEEK_ROWS, (0.60, 0.85))) / 2)
    return lids / cheeks


def face_like(display: np.ndarray, grey: np.ndarray, face: Face, params: EyeParams = EyeParams()) -> bool:
    """Whether ``face``'s box in ``display`` (sRGB float32 HxWx3; ``grey`` its luma) is a face's, not a false
    detection: mostly skin, and left and right alike mirrored. Closed eyes are read only on such a box."""
    box = (slice(face.y, face.y + face.h), slice(face.x, face.x + face.w))
    if float(skin_mask(np.ascontiguousarray(display[box])).mean()) < params.min_skin_share:
        return False
    small = cv2.resize(grey[box], (64, 64), interpolation=cv2.INTER_AREA)
    left, right = small[:, :32].ravel(), small[:, :31:-1].ravel()
    if left.std() == 0 or right.std() == 0:
        return False
    return float(np.corrcoef(left, right)[0, 1]) >= params.min_mirror


def read(grey: np.ndarray, face: Face, params: EyeParams = EyeParams(), *, display: np.ndarray) -> EyeReading:
    """The eyes of ``face`` in ``grey`` (display luma, float32 [0, 1], HxW) of ``display`` (the picture, sRGB
    float32 HxWx3): an :class:`EyeReading`."""
    face_grey = grey[face.y:face.y + face.h, face.x:face.x + face.w]
    top, bottom = int(EYE_BAND[0] * face.h), int(EYE_BAND[1] * face.h)
    band = face_grey[top:bottom]
    scale = EYE_BAND_WIDTH / band.shape[1]
    size = (EYE_BAND_WIDTH, max(1, round(band.shape[0] * scale)))
    band = cv2.resize(band, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    band = cv2.equalizeHist(np.rint(np.clip(band, 0, 1) * 255).astype(np.uint8))
    hits = _hits(band, EYE, scale, face)
    if min(hits) < params.open_hits:                       # a second opinion, for eyes behind glasses
        hits = [max(a, b) for a, b in zip(hits, _hits(band, EYE_GLASSES, scale, face))]
    lid_ratio = _lid_ratio(face_grey)
    found = [n >= params.open_hits for n in hits]
    if all(found):
        state = EyeState.OPEN
    elif any(found):
        state = EyeState.UNSURE
    elif (max(hits) <= params.shut_hits and lid_ratio >= params.min_lid_ratio
          and face_like(display, grey, face, params)):
        state = EyeState.SHUT
    else:
        state = EyeState.NOT_FOUND
    return EyeReading(state, (hits[0], hits[1]), round(lid_ratio, 3))
