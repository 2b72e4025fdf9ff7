"""Vignette: darken (or lighten) towards the corners, following the frame's shape.

Colour space: display-encoded output values, float32 HxWx3 (a gain on encoded values, like
Lightroom's post-crop vignette). The fused grading pass computes the same gain per pixel from
``radii``; ``apply`` is the stand-alone form."""

from __future__ import annotations

import numpy as np

from presets.model import VignetteParams

MAX_GAIN_CHANGE = 0.8            # amount -100: the corners keep 20% of their value


def radii(params: VignetteParams) -> tuple[float, float, float]:
    """(gain change at the corners, radius where the falloff starts, radius where it is full), radii
    in half-diagonals of the frame's ellipse (1 = the corners)."""
    mid, feather = params.midpoint / 100.0, params.feather / 100.0
    inner, outer = mid * (1.0 - feather), mid + (1.0 - mid) * feather
    return params.amount / 100.0 * MAX_GAIN_CHANGE, inner, max(outer, inner + 0.02)


def gain(height: int, width: int, params: VignetteParams) -> np.ndarray:
    """The HxW float32 gain map."""
    amount, inner, outer = radii(params)
    y = ((np.arange(height, dtype=np.float32) + 0.5) / (height / 2.0) - 1.0)[:, None]
    x = ((np.arange(width, dtype=np.float32) + 0.5) / (width / 2.0) - 1.0)[None, :]
    r = np.sqrt((x * x + y * y) * 0.5)
    t = np.clip((r - inner) / (outer - inner), 0.0, 1.0)
    return (1.0 + amount * t * t * (3.0 - 2.0 * t)).astype(np.float32)


def apply(image: np.ndarray, params: VignetteParams) -> np.ndarray:
    """Display-encoded in, display-encoded out (clipped to [0, 1]); the input is not modified."""
    if params.amount == 0:
        return np.array(image, np.float32)
    out = np.asarray(image, np.float32) * gain(image.shape[0], image.shape[1], params)[..., None]
    return np.clip(out, 0.0, 1.0, out=out)
