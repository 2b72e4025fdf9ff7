"""Design & layout, automatic pass: output sharpening for print and screen (unsharp mask on luminance).
Display space in and out; dimensions kept."""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tasks.pixels.colour import luma


class FinishParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = 1
    amount: float = Field(0.35, ge=0, le=2, description="Unsharp-mask amount.")
    sigma: float = Field(0.8, gt=0, le=5, description="Unsharp-mask radius in pixels.")


def apply(display: np.ndarray, params: FinishParams = FinishParams()) -> np.ndarray:
    if display.dtype != np.float32 or display.ndim != 3:
        raise ValueError(f"expected float32 HxWx3, got {display.dtype} {display.shape}")
    y = luma(display)
    detail = y - cv2.GaussianBlur(y, (0, 0), params.sigma)
    return np.clip(display + (params.amount * detail)[..., None], 0.0, 1.0).astype(np.float32)
