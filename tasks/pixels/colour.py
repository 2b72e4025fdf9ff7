"""Colour spaces of postline's pixel code.

- *working*: linear light, Rec.2020 primaries, D65 white, float32 (what grading works in);
- *display*: sRGB-encoded (IEC 61966-2-1 transfer curve), sRGB primaries, float32 in [0, 1]
  (what the retouch stages, QC and delivery work in; 16-bit working TIFFs hold it).
"""

from __future__ import annotations

import numpy as np

# Linear Rec.2020 -> linear sRGB (both D65), from the primaries' RGB->XYZ matrices.
REC2020_TO_SRGB = np.array(
    [[1.660491, -0.587641, -0.072850],
     [-0.124550, 1.132900, -0.008349],
     [-0.018151, -0.100579, 1.118730]], dtype=np.float32)
SRGB_TO_REC2020 = np.linalg.inv(REC2020_TO_SRGB).astype(np.float32)
# Rec.2020 luminance weights (Y of XYZ) and sRGB's.
REC2020_LUMA = np.array([0.2627, 0.6780, 0.0593], dtype=np.float32)
SRGB_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear [0,1] -> sRGB-encoded [0,1] (values outside are clipped)."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    x = np.clip(encoded, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4)).astype(np.float32)


def apply_matrix(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Per-pixel 3x3 colour matrix on an HxWx3 float32 image."""
    return (image.reshape(-1, 3) @ matrix.T).reshape(image.shape).astype(np.float32, copy=False)


def working_to_display(image: np.ndarray) -> np.ndarray:
    """Linear Rec.2020 -> sRGB-encoded display image."""
    return srgb_encode(apply_matrix(image, REC2020_TO_SRGB))


def display_to_working(image: np.ndarray) -> np.ndarray:
    return apply_matrix(srgb_decode(image), SRGB_TO_REC2020)


def luma(display: np.ndarray) -> np.ndarray:
    """Luma of a display image (weights of sRGB), HxW float32."""
    return display @ SRGB_LUMA
