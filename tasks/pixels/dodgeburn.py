"""Fine retouch & colour: dodge & burn on luminance. Display space (sRGB-encoded float32 [0,1]) in and out.

A soft map says where to lighten (dodge, > 0) and darken (burn, < 0). By default it comes from the
photo's own luminance, blurred to a large radius: areas darker than ``pivot`` are lifted, brighter
ones held down, so a face half in shadow evens out while fine contrast stays. A retoucher can give
their own map instead (HxW, -1..1, e.g. painted on a layer). The change is added equally to R, G and
B, so hue is kept; it tapers to nothing at black and white, so nothing new clips."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from tasks.pixels.blur import wide_blur
from tasks.pixels.colour import luma
from tasks.pixels.contract import OpParams


class DodgeBurnParams(OpParams):
    version: int = Field(1, ge=1, le=1, description="Version of these parameters' meaning.")
    strength: float = Field(0.3, ge=0, le=1, description=(
        "How far toward the pivot a region moves (luminance map), or the largest change in luma at map +-1."))
    radius_fraction: float = Field(0.03, gt=0, le=0.3, description=(
        "Softness of the luminance map: blur radius as a share of the long edge."))
    pivot: float = Field(0.45, gt=0, lt=1, description="Luma (0..1) neither dodged nor burned.")


def luminance_map(display: np.ndarray, params: DodgeBurnParams = DodgeBurnParams()) -> np.ndarray:
    """HxW float32, -1..1: > 0 where the area is darker than the pivot (dodge), < 0 where brighter (burn)."""
    y = luma(display)
    sigma = max(1.0, max(display.shape[:2]) * params.radius_fraction)
    base = wide_blur(y, sigma)
    return np.clip((params.pivot - base) / max(params.pivot, 1 - params.pivot), -1.0, 1.0)


def apply(display: np.ndarray, params: DodgeBurnParams = DodgeBurnParams(), *,
          user_map: np.ndarray | None = None) -> np.ndarray:
    if display.dtype != np.float32 or display.ndim != 3:
        raise ValueError(f"expected float32 HxWx3, got {display.dtype} {display.shape}")
    if user_map is not None:
        if user_map.shape != display.shape[:2]:
            raise ValueError(f"the dodge & burn map is {user_map.shape}, the image {display.shape[:2]}: "
                             "give one value per pixel")
        wanted = np.clip(user_map.astype(np.float32), -1.0, 1.0)
    else:
        wanted = luminance_map(display, params)
    y = luma(display)
    taper = 4.0 * y * (1.0 - y)                     # 1 at mid grey, 0 at black and white
    delta = params.strength * max(params.pivot, 1 - params.pivot) * wanted * taper
    return np.clip(display + delta[..., None], 0.0, 1.0).astype(np.float32)
