"""Black and white: a finished photo's colours made greys, as a darkroom printer makes them (the recipe's
``[black_and_white]``: presets/recipe.py).

Colour space in: display values (sRGB-encoded, sRGB primaries, float32 in [0, 1], HxWx3), as
tasks/pixels/renditions.py has them. Out: the same encoding, every pixel's three values one grey (or, toned, a
grey with a tint in its mid-tones).

1. Linear light (the sRGB curve undone; the master's 16-bit codes looked up, when the caller has them).
2. One grey a pixel: a weighted sum of red, green and blue, the weights the filter's. They add up to 1, so a
   neutral grey keeps its value and white stays white: the filter changes only how light each colour comes out
   (red: skies dark, skin pale), never the exposure.
3. The sRGB curve again, and
4. contrast, both at once from a table of the grey's 16-bit code: ``(1 - c) * g + c * smoothstep(g)``: an S-curve through mid grey, black and white where they were,
   rising everywhere for every c in [0, 1] (its slope is ``1 - c + 6c * g * (1 - g)``), so no two greys swap.
5. Toning: a tint added in proportion to ``4 * g * (1 - g)``: nothing at black and white, the most at mid grey."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from tasks.pixels import kernels
from tasks.pixels.colour import SRGB_LUMA, srgb_decode, srgb_decode_table, srgb_encode
from tasks.pixels.imageio import bands

# Linear-light weights of red, green and blue, each row adding up to 1. "none" is the photo's own luminance
# (Rec. 709, as SRGB_LUMA); the others move weight towards the filter's colour as its film filter passes it.
FILTERS = {
    "none": tuple(float(w) for w in SRGB_LUMA),
    "yellow": (0.30, 0.64, 0.06),
    "orange": (0.45, 0.51, 0.04),
    "red": (0.62, 0.36, 0.02),
    "green": (0.14, 0.80, 0.06),
}
# The tint each toning adds at mid grey (sRGB-encoded values), at strength 1.
TONES = {"neutral": (0.0, 0.0, 0.0), "warm": (0.05, 0.012, -0.06), "cool": (-0.035, 0.0, 0.05)}


@dataclass(frozen=True)
class Look:
    """How black and white is made: the filter's weights, the contrast (0 .. 1) and the tint at mid grey."""
    weights: tuple[float, float, float] = FILTERS["none"]
    contrast: float = 0.15
    tint: tuple[float, float, float] = TONES["neutral"]

    @classmethod
    def of(cls, spec) -> "Look":  # noqa: ANN001 - presets.recipe.BlackAndWhite (presets may not be imported here)
        """The look of a recipe's ``[black_and_white]``."""
        tint = TONES[str(spec.toning)]
        return cls(weights=FILTERS[str(spec.filter)], contrast=spec.contrast / 100.0,
                   tint=tuple(t * spec.toning_strength for t in tint))


@lru_cache(maxsize=8)
def _tone_table(contrast: float) -> np.ndarray:
    """Linear grey (16-bit code) -> its sRGB-encoded value after the contrast curve (steps 3 and 4 in one look-up;
    a code's step is at most 2e-4 of the encoded range, a twentieth of an 8-bit level)."""
    g = srgb_encode(np.arange(65536, dtype=np.float64) / 65535.0).astype(np.float64)
    if contrast:
        g = (1.0 - contrast) * g + contrast * g * g * (3.0 - 2.0 * g)     # smoothstep: 0, 0.5 and 1 stay
    return g.astype(np.float32)


def grey(display: np.ndarray, look: Look = Look(), *, codes: np.ndarray | None = None) -> np.ndarray:
    """``display`` in black and white (see the module's steps): a new HxWx3 float32 array in [0, 1]. ``codes``:
    the same pixels as the master's 16-bit codes, when the caller has them (exact, and faster)."""
    if display.ndim != 3 or display.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got {display.shape}")
    weights = np.asarray(look.weights, np.float32).reshape(1, 3)
    table = _tone_table(float(look.contrast))
    g = np.empty(display.shape[:2], np.float32)
    for rows in bands(display.shape[0]):        # a band at a time: no full-size temporaries
        if codes is not None:
            linear = np.empty(codes[rows].shape, np.float32)
            kernels.look_up(srgb_decode_table(), np.ascontiguousarray(codes[rows]), linear)
        else:
            linear = srgb_decode(np.clip(display[rows], 0.0, 1.0))
        plane = cv2.transform(linear, weights).reshape(linear.shape[:2])
        np.clip(plane, 0.0, 1.0, out=plane)
        code = np.empty(plane.shape, np.uint16)
        np.add(plane * 65535.0, 0.5, out=code, casting="unsafe")           # the nearest 16-bit code
        kernels.look_up(table, code, g[rows])
    out = cv2.merge([g, g, g])
    if any(look.tint):
        weight = 4.0 * g * (1.0 - g)
        for channel, tint in enumerate(look.tint):
            if tint:
                out[..., channel] += np.float32(tint) * weight
        np.clip(out, 0.0, 1.0, out=out)
    return out
