"""Design & layout, automatic pass: output sharpening for print and screen (unsharp mask on luminance).
Display space in and out; dimensions kept. The sharpening is added equally to R, G and B (hue kept);
detail weaker than ``threshold`` (noise, skin texture) is left alone, with a soft knee above it."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from tasks.pixels import kernels
from tasks.pixels.colour import luma
from tasks.pixels.contract import OpParams


class FinishParams(OpParams):
    version: int = Field(1, ge=1, le=1, description="Version of these parameters' meaning.")
    amount: float = Field(0.35, ge=0, le=2, description="Unsharp-mask amount.")
    sigma: float = Field(0.8, gt=0, le=5, description="Unsharp-mask radius in pixels.")
    threshold: float = Field(0.0, ge=0, le=0.2, description=(
        "Luma difference (0..1) below which detail is not sharpened; 0 sharpens everything."))


def apply(display: np.ndarray, params: FinishParams = FinishParams()) -> np.ndarray:
    if display.dtype != np.float32 or display.ndim != 3:
        raise ValueError(f"expected float32 HxWx3, got {display.dtype} {display.shape}")
    y = luma(display)
    detail = np.subtract(y, cv2.GaussianBlur(y, (0, 0), params.sigma), out=y)   # in place: 96 MB at 24 MP
    if params.threshold > 0:
        size = np.abs(detail)
        detail *= np.clip((size - params.threshold) / np.maximum(size, 1e-6), 0.0, 1.0)  # soft knee
    detail *= params.amount
    return kernels.add_clipped(display, detail)   # float32, clipped: one full-size array made
