"""Fine retouch & colour, automatic pass: gentle local contrast on luminance only.
Display space in and out."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from tasks.pixels import kernels
from tasks.pixels.blur import wide_blur
from tasks.pixels.colour import luma
from tasks.pixels.contract import OpParams


class DetailParams(OpParams):
    version: int = Field(1, ge=1, le=1, description="Version of these parameters' meaning.")
    amount: float = Field(0.15, ge=0, le=1, description="Strength of the local contrast.")
    radius_fraction: float = Field(0.02, gt=0, le=0.2, description="Blur radius as a share of the long edge.")


def apply(display: np.ndarray, params: DetailParams = DetailParams()) -> np.ndarray:
    if display.dtype != np.float32 or display.ndim != 3:
        raise ValueError(f"expected float32 HxWx3, got {display.dtype} {display.shape}")
    y = luma(display)
    sigma = max(1.0, max(display.shape[:2]) * params.radius_fraction)
    boost = np.subtract(y, wide_blur(y, sigma), out=y)     # in place: at 24 MP each HxW array is 96 MB
    boost *= params.amount                            # added equally to R, G, B: hue kept
    return kernels.add_clipped(display, boost)   # float32, clipped: one full-size array made
