"""Output sharpening: an unsharp mask (OpenCV), last step before a rendering is written.

Colour space: display-encoded output values, HxWx3, any of uint8, uint16 or float32 in [0, 1]
(integers saturate, floats are clipped). Works in place on ``out``."""

from __future__ import annotations

import cv2
import numpy as np

from presets.model import SharpenParams


def apply(image: np.ndarray, params: SharpenParams, *, out: np.ndarray | None = None) -> np.ndarray:
    """``image`` + amount x (image - blurred image); ``out=image`` sharpens in place."""
    if out is None:
        out = image.copy()
    elif out is not image:
        out[...] = image
    if params.amount == 0:
        return out
    amount = params.amount / 100.0
    blurred = cv2.GaussianBlur(image, (0, 0), params.radius)
    cv2.addWeighted(image, 1.0 + amount, blurred, -amount, 0.0, dst=out)
    if out.dtype == np.float32:
        np.clip(out, 0.0, 1.0, out=out)
    return out
