"""Liquify & skin: skin smoothing. Display space (sRGB-encoded float32 [0,1]) in and out.

Two scopes (``SkinParams.scope``):

- ``faces`` (the line's ``skin`` operation): only the skin of detected faces changes. Each face box,
  grown a little, gets a soft elliptical mask, multiplied by a skin-tone mask centred on that face's
  own median colour (so a pale and a dark face are both found, and lips, eyes, brows and hair are
  not). Inside it, frequency separation: the low-frequency layer (tone, blotches) is smoothed with an
  edge-preserving bilateral filter, the high-frequency layer (pores, fine texture) is put back at
  ``texture``. Every pixel outside the mask is returned bit-identical; a photo with no face found is
  returned unchanged (bit-identical), so a landscape or a product shot is never softened.
- ``skin_tones`` (version 1's pass, kept for parameters written then): a bilateral filter over every
  skin-coloured pixel of the frame, faces or not.
"""

from __future__ import annotations

from enum import StrEnum

import cv2
import numpy as np
from pydantic import Field

from tasks.pixels import faces as face_finder
from tasks.pixels.contract import OpParams


class SkinScope(StrEnum):
    FACES = "faces"            # skin of detected faces only
    SKIN_TONES = "skin_tones"  # every skin-coloured pixel (version 1)


class SkinParams(OpParams):
    version: int = Field(2, ge=2, le=2, description=(
        "Version of these parameters' meaning; version 1 (whole-frame smoothing) is upgraded by ``upgrade``."))
    strength: float = Field(0.5, ge=0, le=1, description="Blend of the smoothed skin over the original.")
    radius_fraction: float = Field(0.004, gt=0, le=0.05, description=(
        "skin_tones scope: filter diameter as a share of the long edge."))
    scope: SkinScope = Field(SkinScope.FACES, description=(
        "faces: only detected faces' skin; skin_tones: every skin-coloured pixel (version 1's meaning)."))
    texture: float = Field(0.8, ge=0, le=1, description=(
        "faces scope: share of the fine texture (pores) kept; 1 keeps all of it, 0 is plastic skin."))
    smoothing: float = Field(0.04, gt=0, le=0.2, description=(
        "faces scope: reach of the tone smoothing as a share of the face's width."))
    face_grow: float = Field(0.2, ge=0, le=1, description=(
        "faces scope: how far beyond the detected face box to look for skin, as a share of the box."))
    tone_tolerance: float = Field(14.0, gt=0, le=60, description=(
        "faces scope: distance in Cr/Cb (0..255 units) from the face's median skin colour at which "
        "a pixel stops counting as skin."))
    level_tolerance: float = Field(0.35, gt=0, le=1, description=(
        "faces scope: difference in luma (0..1) from the face's median skin level at which a pixel "
        "stops counting as skin (keeps hair and brows out)."))
    min_skin_share: float = Field(0.25, ge=0, le=1, description=(
        "faces scope: share of skin-coloured pixels the middle of a face box needs; a box with less is a "
        "false detection (a knot in wood, a pattern) and is left alone."))
    faces: face_finder.FaceParams = face_finder.FaceParams()


def upgrade(data: dict) -> dict:
    """Parameters of an older version -> the current one. Version 1 had strength and radius_fraction
    with the whole-frame meaning, which is scope skin_tones."""
    data = dict(data)
    if data.get("version", 1) == 1:
        data.update(version=2, scope=SkinScope.SKIN_TONES.value)
    return data


# --- masks ---------------------------------------------------------------------------------------

def skin_mask(display: np.ndarray) -> np.ndarray:
    """Soft 0..1 mask of skin-coloured pixels (YCrCb box from the skin-detection literature)."""
    ycrcb = cv2.cvtColor(display, cv2.COLOR_RGB2YCrCb)  # float input: Cr/Cb centred on 0.5
    cr = ycrcb[..., 1] * 255.0
    cb = ycrcb[..., 2] * 255.0
    inside = ((cr >= 135) & (cr <= 180) & (cb >= 85) & (cb <= 135)).astype(np.float32)
    return cv2.GaussianBlur(inside, (0, 0), 2.0)


def face_weight(display: np.ndarray, face: face_finder.Face, params: SkinParams
                 ) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """The grown box (x0, y0, x1, y1) of a face and the 0..1 skin mask inside it."""
    x0, y0, x1, y1 = face.grown(params.face_grow, display.shape)
    crop = display[y0:y1, x0:x1]
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    r2 = ((xx + 0.5 - cx) / ((x1 - x0) / 2)) ** 2 + ((yy + 0.5 - cy) / ((y1 - y0) / 2)) ** 2
    ellipse = np.clip((1.0 - r2) / 0.35, 0.0, 1.0)
    ellipse = ellipse * ellipse * (3 - 2 * ellipse)          # smoothstep: a soft edge, zero outside

    ycrcb = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)
    cr, cb = ycrcb[..., 1] * 255.0, ycrcb[..., 2] * 255.0
    # The face's own skin colour: the median of the centre of the detected box, skin-like pixels first.
    ix0, iy0 = face.x - x0 + face.w // 5, face.y - y0 + face.h // 4
    centre = (slice(iy0, iy0 + face.h * 3 // 5), slice(ix0, ix0 + face.w * 3 // 5))
    ccr, ccb = cr[centre].ravel(), cb[centre].ravel()
    likely = (ccr >= 135) & (ccr <= 185) & (ccb >= 75) & (ccb <= 135)   # skin, not grey (Cr, Cb near 128)
    if likely.mean() < params.min_skin_share:                # no skin in the middle of the box: not a face
        return (x0, y0, x1, y1), np.zeros(crop.shape[:2], np.float32)
    ccr, ccb = ccr[likely], ccb[likely]
    distance2 = (cr - np.median(ccr)) ** 2 + (cb - np.median(ccb)) ** 2
    tone = np.clip(1.0 - distance2 / params.tone_tolerance ** 2, 0.0, 1.0) ** 2
    y = ycrcb[..., 0]
    # Near the face's own skin level too: hair and brows share skin's hue but are darker.
    level = np.median(y[centre])
    tone *= np.clip(1.0 - ((y - level) / params.level_tolerance) ** 2, 0.0, 1.0)
    tone *= ((y > 0.08) & (y < 0.98))                        # not the pupils, not specular highlights
    return (x0, y0, x1, y1), (ellipse * tone).astype(np.float32)


def face_skin_mask(display: np.ndarray, found: list[face_finder.Face], params: SkinParams = SkinParams()
                   ) -> np.ndarray:
    """HxW float32, 0..1: the skin of the given faces (zero outside their grown boxes)."""
    mask = np.zeros(display.shape[:2], np.float32)
    for face in found:
        (x0, y0, x1, y1), weight = face_weight(display, face, params)
        np.maximum(mask[y0:y1, x0:x1], weight, out=mask[y0:y1, x0:x1])
    return mask


# --- smoothing -----------------------------------------------------------------------------------

def _smooth_face(display: np.ndarray, out: np.ndarray, face: face_finder.Face, params: SkinParams) -> None:
    (x0, y0, x1, y1), weight = face_weight(display, face, params)
    weight *= params.strength
    inside = weight > 0
    if not inside.any():
        return
    separation = max(0.8, face.w * 0.008)                   # pores are below this scale, blotches above
    reach = max(2.0, face.w * params.smoothing)
    pad = int(3 * separation + 2 * reach) + 2
    px0, py0 = max(0, x0 - pad), max(0, y0 - pad)
    px1, py1 = min(display.shape[1], x1 + pad), min(display.shape[0], y1 + pad)
    region = display[py0:py1, px0:px1]
    low = cv2.GaussianBlur(region, (0, 0), separation)
    high = region - low
    # The low layer has no fine detail: filter a smaller copy of it, upsample the change.
    factor = max(1.0, separation / 1.5)
    size = (max(8, round(region.shape[1] / factor)), max(8, round(region.shape[0] / factor)))
    small = cv2.resize(low, size, interpolation=cv2.INTER_AREA)
    smoothed = cv2.bilateralFilter(small, -1, 0.05, reach / factor)
    change = cv2.resize(smoothed - small, (region.shape[1], region.shape[0]), interpolation=cv2.INTER_LINEAR)
    # low + change + high * texture, summed in that order, in the arrays already made (a large face's region at
    # 24 MP is 75 MB an array)
    result = np.add(low, change, out=low)
    del change
    high *= params.texture
    result += high
    del high
    sl = (slice(y0 - py0, y1 - py0), slice(x0 - px0, x1 - px0))
    original = display[y0:y1, x0:x1]
    blended = np.subtract(result[sl], original)        # original + (result - original) * weight, in one array
    blended *= weight[..., None]
    blended += original
    target = out[y0:y1, x0:x1]
    target[inside] = np.clip(blended[inside], 0.0, 1.0)


def apply(display: np.ndarray, params: SkinParams = SkinParams(), *,
          found: list[face_finder.Face] | None = None) -> np.ndarray:
    """Smoothed skin; ``found`` gives the faces (else they are detected) for the faces scope."""
    if display.dtype != np.float32 or display.ndim != 3:
        raise ValueError(f"expected float32 HxWx3, got {display.dtype} {display.shape}")
    if params.strength == 0:
        return display.copy()
    if params.scope is SkinScope.FACES:
        out = display.copy()
        for face in face_finder.detect(display, params.faces) if found is None else found:
            _smooth_face(display, out, face, params)
        return out
    mask = skin_mask(display)
    if not mask.any():
        return display.copy()
    diameter = max(3, int(round(max(display.shape[:2]) * params.radius_fraction)) | 1)
    smooth = cv2.bilateralFilter(display, diameter, 0.08, diameter)
    weight = (mask * params.strength)[..., None]
    return (display + (smooth - display) * weight).astype(np.float32)


SKIN_TONES = SkinParams(scope=SkinScope.SKIN_TONES)


class SkinTonesParams(OpParams):
    """The ``skin_tones`` operation's parameters: the whole-frame pass has only these two."""
    version: int = Field(1, ge=1, le=1, description="Version of these parameters' meaning.")
    strength: float = SkinParams.model_fields["strength"]
    radius_fraction: float = SkinParams.model_fields["radius_fraction"]


def apply_skin_tones(display: np.ndarray, params: SkinTonesParams = SkinTonesParams()) -> np.ndarray:
    """Version 1's whole-frame smoothing of every skin-coloured pixel (the ``skin_tones`` operation)."""
    return apply(display, SKIN_TONES.model_copy(update=params.model_dump(exclude={"version"})))


__all__ = ["SkinParams", "SkinScope", "SkinTonesParams", "apply", "apply_skin_tones", "face_skin_mask", "face_weight", "skin_mask", "upgrade"]
