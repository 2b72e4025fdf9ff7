"""Colour spaces of postline's pixel code.

- *working*: linear light, Rec.2020 primaries, D65 white, float32 (what grading works in);
- *display*: sRGB-encoded (IEC 61966-2-1 transfer curve), sRGB primaries, float32 in [0, 1]
  (what the retouch stages, QC and delivery work in; 16-bit working TIFFs hold it).

What runs on whole images (the transfer curves, the working <-> display matrix, luma) is plain numpy here.
Every other piece of colorimetry (matrices from primaries, CIELAB, CIEDE2000, chromatic adaptation, correlated
colour temperature, the ColorChecker's data) comes from colour-science, imported on first use by
:func:`science`: its import takes 1-1.7 s, which a process that only grades or retouches never pays.
"""

from __future__ import annotations

import os
from functools import cache
from types import ModuleType

import numpy as np

# Linear Rec.2020 -> linear sRGB (both D65): conversion("rec2020", "srgb") (from the primaries) to 6 decimals,
# and the Rec.2020 and sRGB luminance weights (the Y row of their RGB -> XYZ matrices, as ITU-R BT.2020 and
# IEC 61966-2-1 publish them). Numbers, not calls, so the grading pass never imports colour-science;
# tests/test_pixels.py holds them to colour-science's.
REC2020_TO_SRGB = np.array(
    [[1.660491, -0.587641, -0.072850],
     [-0.124550, 1.132900, -0.008349],
     [-0.018151, -0.100579, 1.118730]], dtype=np.float32)
SRGB_TO_REC2020 = np.linalg.inv(REC2020_TO_SRGB).astype(np.float32)
REC2020_LUMA = np.array([0.2627, 0.6780, 0.0593], dtype=np.float32)
SRGB_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


# The sRGB transfer curve, hand-written for a measured reason: on a 12 MP float32 image these take 0.87 s
# (encode) and 0.21 s (decode), colour-science's cctf_encoding / cctf_decoding (function="sRGB") 2.4 s and
# 1.7 s, and return float64 (twice the memory); the curve is the same to 2.4e-7.
def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Linear [0,1] -> sRGB-encoded [0,1] (values outside are clipped)."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    x = np.clip(encoded, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, np.power((x + 0.055) / 1.055, 2.4)).astype(np.float32)


@cache
def srgb_decode_table() -> np.ndarray:
    """16-bit sRGB-encoded code -> linear light, float32: a table of 65536 is exact for a master's codes and
    several times faster than the power curve on a full-size photo."""
    return srgb_decode(np.arange(65536, dtype=np.float32) / 65535.0)


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


# --- colorimetry, from colour-science ----------------------------------------------------------
# postline's names for RGB spaces (all with a D65 white) -> colour-science's.
COLOURSPACES = {"rec2020": "ITU-R BT.2020", "srgb": "sRGB", "adobe_rgb": "Adobe RGB (1998)",
                "display_p3": "Display P3"}


@cache
def science() -> ModuleType:
    """The ``colour`` package (colour-science), imported on first use. Its import warns that matplotlib is missing
    (only its plotting needs it), which ``python -W error`` turns into a failure: the warning is filtered the way
    colour-science documents, unless the environment says otherwise."""
    os.environ.setdefault("COLOUR_SCIENCE__FILTER_USAGE_WARNINGS", "1")
    import colour

    return colour


def colourspace(space: str):
    """colour-science's RGB colourspace of one of :data:`COLOURSPACES`."""
    return science().RGB_COLOURSPACES[COLOURSPACES[space]]


@cache
def rgb_to_xyz(space: str) -> np.ndarray:
    """3x3 matrix, linear RGB of ``space`` -> CIE XYZ (D65, Y of white = 1), float64, read-only: derived from the
    space's primaries and white (colour-science keeps IEC 61966-2-1's 4-decimal sRGB matrix, 2e-4 off them)."""
    space = colourspace(space)
    matrix = np.array(science().normalised_primary_matrix(space.primaries, space.whitepoint), np.float64)
    matrix.flags.writeable = False
    return matrix


@cache
def conversion(src: str, dst: str) -> np.ndarray:
    """3x3 matrix, linear ``src`` RGB -> linear ``dst`` RGB (same white), float64, read-only."""
    matrix = np.linalg.inv(rgb_to_xyz(dst)) @ rgb_to_xyz(src)
    matrix.flags.writeable = False
    return matrix


def to_lab(rgb: np.ndarray, space: str = "rec2020") -> np.ndarray:
    """Linear RGB of ``space`` (..., 3) -> CIELAB relative to its D65 white, float64."""
    xyz = np.asarray(rgb, np.float64) @ rgb_to_xyz(space).T
    return science().XYZ_to_Lab(xyz, colourspace(space).whitepoint)


def delta_e(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 (kL = kC = kH = 1) between CIELAB colours, (..., 3) each."""
    return science().delta_E(np.asarray(lab1, np.float64), np.asarray(lab2, np.float64), method="CIE 2000")


def chroma_hue(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CIELAB chroma and hue angle (degrees, 0..360) of (..., 3) CIELAB colours."""
    lch = science().Lab_to_LCHab(np.asarray(lab, np.float64))
    return lch[..., 1], lch[..., 2]


def hue_turn(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The hue change, in degrees (0..180), between hue angles ``before`` and ``after`` (degrees)."""
    return np.abs((np.asarray(after) - np.asarray(before) + 180) % 360 - 180)
