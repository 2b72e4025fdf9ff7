"""Liquify & skin, automatic pass: edge-preserving smoothing limited to skin tones.
Display space (sRGB-encoded float32 [0,1]) in and out."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class SkinParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = 1
    strength: float = Field(0.5, ge=0, le=1, description="Blend of the smoothed skin over the original.")
    radius_fraction: float = Field(0.004, gt=0, le=0.05, description="Filter diameter as a share of the long edge.")


def skin_mask(display: np.ndarray) -> np.ndarray:
    """Soft 0..1 mask of skin-coloured pixels (YCrCb box from the skin-detection literature)."""
    ycrcb = cv2.cvtColor(display, cv2.COLOR_RGB2YCrCb)  # float input: Cr/Cb centred on 0.5
    cr = ycrcb[..., 1] * 255.0
    cb = ycrcb[..., 2] * 255.0
    inside = ((cr >= 135) & (cr <= 180) & (cb >= 85) & (cb <= 135)).astype(np.float32)
    return cv2.GaussianBlur(inside, (0, 0), 2.0)


def apply(display: np.ndarray, params: SkinParams = SkinParams()) -> np.ndarray:
    if display.dtype != np.float32 or display.ndim != 3:
        raise ValueError(f"expected float32 HxWx3, got {display.dtype} {display.shape}")
    mask = skin_mask(display)
    if params.strength == 0 or not mask.any():
        return display.copy()
    diameter = max(3, int(round(max(display.shape[:2]) * params.radius_fraction)) | 1)
    smooth = cv2.bilateralFilter(display, diameter, 0.08, diameter)
    weight = (mask * params.strength)[..., None]
    return (display + (smooth - display) * weight).astype(np.float32)
