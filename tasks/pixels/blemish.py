"""Liquify & skin: small blemish removal. Display space (sRGB-encoded float32 [0,1]) in and out.

A blemish is a small spot on skin darker or redder than its surroundings: the difference between
the image and a median-filtered copy of it, kept only where the spot is small (an area limit) and
lies on skin. Each spot, grown by a pixel or two, is filled by ``cv2.inpaint`` from its surroundings.
Only the spots' pixels change; everything else is returned bit-identical. The skin is that of
detected faces (scope ``faces``, as ``tasks.pixels.skin``) or every skin-coloured area
(``skin_tones``); with no face found, the faces scope changes nothing."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from tasks.pixels import faces as face_finder
from tasks.pixels import skin as skin_ops
from tasks.pixels.skin import SkinParams, SkinScope
from tasks.pixels.colour import luma
from tasks.pixels.contract import OpParams


class BlemishParams(OpParams):
    version: int = Field(1, ge=1, le=1, description=(
        "Version of these parameters' meaning (bump it, with an upgrade, when ``skin``'s version changes too)."))
    scope: SkinScope = Field(SkinScope.FACES, description=(
        "faces: only on detected faces' skin; skin_tones: on every skin-coloured area."))
    max_spot_face_fraction: float = Field(0.04, gt=0, le=0.2, description=(
        "faces scope: largest spot diameter to remove, as a share of the face's width."))
    max_spot_fraction: float = Field(0.006, gt=0, le=0.05, description=(
        "skin_tones scope: largest spot diameter to remove, as a share of the image's long edge."))
    darkness: float = Field(0.06, gt=0, le=0.5, description="How much darker (luma, 0..1) than around a spot must be.")
    redness: float = Field(12.0, gt=0, le=60, description="How much redder (Cr, 0..255) than around a spot must be.")
    skin_around: float = Field(0.75, gt=0, le=1, description=(
        "Share of skin a spot's surroundings need (keeps hair strands, nostrils, eye corners out)."))
    grow_px: int = Field(2, ge=0, le=10, description="Pixels added around each spot before filling it.")
    skin: SkinParams = Field(SkinParams(scope=SkinScope.FACES), description=(
        "faces scope: how a face's skin is found (the skin operation's face_grow, tone_tolerance, faces, ...)."))


def spots(display: np.ndarray, region: np.ndarray, diameter: int, params: BlemishParams) -> np.ndarray:
    """Boolean HxW: pixels of small dark or red spots inside ``region`` (boolean skin, holes and all), where
    skin is all around them (not a strand of hair, a nostril or the corner of an eye at the skin's edge)."""
    kernel = max(3, (2 * diameter + 1) | 1)
    y = luma(display)
    if kernel <= 5:
        around = cv2.medianBlur(y, kernel)
    else:   # float median is limited to 5 px: 8-bit above that (well within the darkness threshold)
        around = cv2.medianBlur(np.rint(y * 255).astype(np.uint8), kernel).astype(np.float32) / 255
    cr = cv2.cvtColor(display, cv2.COLOR_RGB2YCrCb)[..., 1] * 255.0
    cr_around = cv2.medianBlur(np.clip(cr, 0, 255).astype(np.uint8), kernel).astype(np.float32)
    # Away from the skin's edge, where the median would see the background and call skin a spot.
    area = _closed(region, diameter)
    interior = cv2.erode(area.astype(np.uint8), np.ones((kernel, kernel), np.uint8)).astype(bool)
    around_skin = cv2.blur(region.astype(np.float32), (2 * kernel + 1, 2 * kernel + 1))
    candidate = (((around - y) > params.darkness) | ((cr - cr_around) > params.redness))
    candidate &= interior & (around_skin >= params.skin_around)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate.astype(np.uint8), connectivity=8)
    largest = np.pi * (diameter / 2) ** 2 * 1.5
    small = np.zeros(count, bool)
    area, w, h = (stats[1:, k].astype(float) for k in (cv2.CC_STAT_AREA, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    small[1:] = ((area <= largest) & (w <= diameter * 1.5) & (h <= diameter * 1.5)
                 & (np.maximum(w, h) <= 2 * np.minimum(w, h) + 1))   # round-ish: a line or crease is no spot
    return small[labels]


def _closed(skin: np.ndarray, diameter: int) -> np.ndarray:
    """Skin as a closed area: a spot, not skin-coloured itself, is a hole in the skin mask; fill it."""
    size = max(3, (2 * diameter + 1) | 1)
    shape = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.morphologyEx(skin.astype(np.uint8), cv2.MORPH_CLOSE, shape).astype(bool)


def _remove(display: np.ndarray, out: np.ndarray, area: np.ndarray, diameter: int, params: BlemishParams,
            box: tuple[int, int, int, int]) -> int:
    """Fill the spots found in ``box`` (x0, y0, x1, y1); ``area`` is the skin inside that box."""
    x0, y0, x1, y1 = box
    crop = display[y0:y1, x0:x1]
    found = spots(crop, area, diameter, params)
    if not found.any():
        return 0
    if params.grow_px:
        size = 2 * params.grow_px + 1
        grown = cv2.dilate(found.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)
        found = grown & _closed(area, diameter)    # never beyond the skin
    mask8 = found.astype(np.uint8)
    radius = max(3, diameter)
    # Float inpainting one channel at a time; Telea's method expects the 0..255 range, so scale there and back.
    filled = np.stack([cv2.inpaint(np.ascontiguousarray(crop[..., c]) * 255.0, mask8, radius, cv2.INPAINT_TELEA)
                       for c in range(3)], axis=-1) / 255.0
    target = out[y0:y1, x0:x1]
    target[found] = np.clip(filled[found], 0.0, 1.0)
    return int(cv2.connectedComponents(mask8)[0] - 1)


def apply(display: np.ndarray, params: BlemishParams = BlemishParams(), *,
          found: list[face_finder.Face] | None = None) -> np.ndarray:
    if display.dtype != np.float32 or display.ndim != 3:
        raise ValueError(f"expected float32 HxWx3, got {display.dtype} {display.shape}")
    out = display.copy()
    height, width = display.shape[:2]
    if params.scope is SkinScope.SKIN_TONES:
        diameter = max(2, round(max(height, width) * params.max_spot_fraction))
        area = skin_ops.skin_mask(display) > 0.25
        _remove(display, out, area, diameter, params, (0, 0, width, height))
        return out
    for face in face_finder.detect(display, params.skin.faces) if found is None else found:
        diameter = max(2, round(face.w * params.max_spot_face_fraction))
        (x0, y0, x1, y1), weight = skin_ops.face_weight(display, face, params.skin)
        pad = 2 * diameter + params.grow_px + 2      # room for the median and the fill around the box edge
        box = (max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad))
        area = np.zeros((box[3] - box[1], box[2] - box[0]), bool)
        area[y0 - box[1]:y1 - box[1], x0 - box[0]:x1 - box[0]] = weight > 0.25
        _remove(display, out, area, diameter, params, box)
    return out
