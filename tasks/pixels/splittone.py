"""Split toning: one hue into the highlights, another into the shadows.

Colour space: display-referred, sRGB-encoded values, float32, HxWx3 or Nx3. The tint is a chroma
vector (zero mean: the grey level stays), weighted by the pixel's brightness; pure black and white
are left alone."""

from __future__ import annotations

import numpy as np

from presets.model import SplitToneParams
from tasks.pixels.hsl import hue_direction

STRENGTH = 0.12              # chroma added at saturation 100, in encoded units


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def apply(image: np.ndarray, params: SplitToneParams) -> np.ndarray:
    """Display-encoded in, display-encoded out; the input is not modified."""
    image = np.asarray(image, np.float32)
    if not (params.highlight_saturation or params.shadow_saturation):
        return image.copy()
    level = np.clip(image.mean(axis=-1), 0.0, 1.0)
    pivot = 0.5 - params.balance / 100.0 * 0.3
    high = _smoothstep(pivot - 0.3, pivot + 0.3, level)
    ends = _smoothstep(0.0, 0.08, level) * _smoothstep(1.0, 0.92, level)   # black and white stay
    out = image.copy()
    for weight, hue, saturation in ((high, params.highlight_hue, params.highlight_saturation),
                                    (1.0 - high, params.shadow_hue, params.shadow_saturation)):
        if saturation:
            out += (weight * ends * (saturation / 100.0 * STRENGTH))[..., None] * hue_direction(hue)
    return out
