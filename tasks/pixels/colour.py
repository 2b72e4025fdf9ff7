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


# --- RGB spaces by their primaries -------------------------------------------------------------
D65_XY = (0.3127, 0.3290)
PRIMARIES = {  # (x, y) of red, green, blue; all with a D65 white
    "rec2020": ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)),
    "srgb": ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060)),
    "adobe_rgb": ((0.640, 0.330), (0.210, 0.710), (0.150, 0.060)),
    "display_p3": ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)),
}


def rgb_to_xyz(space: str) -> np.ndarray:
    """3x3 matrix, linear RGB of ``space`` -> CIE XYZ (D65, Y of white = 1), float64."""
    xyz = np.column_stack([[x / y, 1.0, (1 - x - y) / y] for x, y in PRIMARIES[space]])
    wx, wy = D65_XY
    return xyz * np.linalg.solve(xyz, [wx / wy, 1.0, (1 - wx - wy) / wy])


def conversion(src: str, dst: str) -> np.ndarray:
    """3x3 float32 matrix, linear ``src`` RGB -> linear ``dst`` RGB (same white)."""
    return (np.linalg.inv(rgb_to_xyz(dst)) @ rgb_to_xyz(src)).astype(np.float32)


def srgb_encode_ext(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer curve extended to all reals (odd-symmetric, unbounded above): keeps
    out-of-gamut and over-white values through display-referred grading."""
    x = np.abs(linear)
    enc = np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return (np.sign(linear) * enc).astype(np.float32)


def srgb_decode_ext(encoded: np.ndarray) -> np.ndarray:
    x = np.abs(encoded)
    lin = np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4))
    return (np.sign(encoded) * lin).astype(np.float32)
