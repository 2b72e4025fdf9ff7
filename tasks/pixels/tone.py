"""Global tone and colour of a preset (Lightroom's "basic" panel).

Colour space: linear Rec.2020 in, linear Rec.2020 out, float32 (pixels as HxWx3 or Nx3).
Order: exposure and temperature/tint gains; highlights/shadows/whites/blacks; contrast;
saturation and vibrance. Tonal changes scale a pixel's three channels alike (its luminance moves,
its chromaticity stays)."""

from __future__ import annotations

import numpy as np

from presets.model import ToneParams
from tasks.pixels.colour import REC2020_LUMA

MIDDLE_GREY = 0.18
# Tonal ranges as Gaussian bumps in stops from middle grey: (centre, width, stops at +-100).
# Widths and heights keep the combined curve monotone (slope of any one bump < 0.5).
TONAL_RANGES = {
    "blacks": (-5.0, 1.2, 1.0),
    "shadows": (-2.5, 1.2, 1.0),
    "highlights": (1.5, 1.0, 0.7),
    "whites": (2.6, 0.8, 0.5),
}


def channel_gains(params: ToneParams) -> np.ndarray:
    """Exposure and white-balance fine-tune folded into one gain per channel."""
    exposure = 2.0 ** params.exposure_ev
    warm = params.temperature / 100.0 * 0.25   # +100 -> red x1.25, blue x0.8
    tint = params.tint / 100.0 * 0.2           # +100 -> green x0.83 (magenta)
    gains = np.array([1.0 + warm, 1.0 / (1.0 + tint), 1.0 / (1.0 + warm)], dtype=np.float32)
    gains /= float(gains @ REC2020_LUMA)       # keep luminance: temperature is not exposure
    return (gains * exposure).astype(np.float32)


def tonal_range_stops(y: np.ndarray, params: ToneParams) -> np.ndarray:
    """The brightness change, in stops, highlights/shadows/whites/blacks give luminance ``y``."""
    stops = np.log2(np.maximum(y, 1e-9) / MIDDLE_GREY)
    change = np.zeros_like(stops)
    for name, (centre, width, height) in TONAL_RANGES.items():
        amount = getattr(params, name) / 100.0
        if amount:
            change += amount * height * np.exp(-0.5 * ((stops - centre) / width) ** 2)
    return change


def apply(image: np.ndarray, params: ToneParams) -> np.ndarray:
    """Linear Rec.2020 in, linear Rec.2020 out; the input is not modified."""
    if image.shape[-1] != 3:
        raise ValueError(f"expected an HxWx3 or Nx3 image, got shape {image.shape}")
    out = np.asarray(image, np.float32) * channel_gains(params)
    y = out @ REC2020_LUMA
    if any(getattr(params, name) for name in TONAL_RANGES):
        gain = np.exp2(tonal_range_stops(y, params)).astype(np.float32)
        out *= gain[..., None]
        y = y * gain
    if params.contrast:
        # A straight line in log space through middle grey: slope > 1 adds contrast.
        slope = 1.0 + params.contrast / 100.0 * 0.6
        y_safe = np.maximum(y, 1e-6)
        y_new = MIDDLE_GREY * np.power(y_safe / MIDDLE_GREY, slope)
        out *= (y_new / y_safe)[..., None]
        y = y_new
    if params.saturation or params.vibrance:
        chroma = out - y[..., None]
        factor = 1.0 + params.saturation / 100.0
        if params.vibrance:
            # Muted colours gain most; already saturated ones (and skin) little.
            sat = np.max(np.abs(chroma), axis=-1) / np.maximum(y, 1e-6)
            factor = factor + params.vibrance / 100.0 * np.clip(1.0 - sat, 0.0, 1.0)[..., None]
        out = y[..., None] + chroma * factor
    return np.maximum(out, 0.0, out=out).astype(np.float32, copy=False)


def exposure_rescue_ev(image: np.ndarray, *, target: float = 0.7, percentile: float = 98.0,
                       limit: float = 3.0) -> float:
    """The exposure change (in stops) that brings the bright end of ``image`` to ``target``:
    used when QC sends a photo back for over- or under-exposure."""
    y = image[::4, ::4] @ REC2020_LUMA
    bright = float(np.percentile(y, percentile))
    if bright <= 1e-6:
        return limit
    return float(np.clip(np.log2(target / bright), -limit, limit))


CAMERA_WHITE = 0.99    # every channel at least this (of full scale) in the decoded file: blown at capture
WHITE_RAMP = 0.95      # from here to CAMERA_WHITE a pulled exposure is eased back into white (no contour)


def _lowest(image16: np.ndarray) -> np.ndarray:
    return np.minimum(np.minimum(image16[..., 0], image16[..., 1]), image16[..., 2])


def camera_blown(image16: np.ndarray) -> np.ndarray:
    """Where the decoded camera file (uint16, linear) is at the top in every channel: blown when it was taken,
    nothing there for any grading to bring back (a bool mask)."""
    return _lowest(image16) >= np.uint16(CAMERA_WHITE * 65535)


def keep_white(display: np.ndarray, image16: np.ndarray) -> np.ndarray:
    """``display`` (sRGB-encoded float, graded from ``image16``, the decoded camera file) with what the camera blew
    white again: an exposure pulled down to bring back highlights leaves those a flat grey otherwise, where the
    camera's own render, and the photographer, have white. Eased in from WHITE_RAMP, so no contour shows where
    the blown part begins. In place; returns ``display``."""
    weight = _lowest(image16).astype(np.float32)
    weight -= WHITE_RAMP * 65535
    weight *= 1.0 / ((CAMERA_WHITE - WHITE_RAMP) * 65535)
    np.clip(weight, 0.0, 1.0, out=weight)
    for c in range(3):
        channel = display[..., c]
        channel += (1.0 - channel) * weight
    return display
