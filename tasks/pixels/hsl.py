"""Hue, saturation and luminance per hue band (Lightroom's HSL panel), and the hue geometry it
shares with split toning.

Colour space: display-referred, sRGB-encoded values, float32, HxWx3 or Nx3. A pixel is split into
its grey level (the mean of R, G, B) and its chroma (the rest, a vector in the plane across the grey
axis); hue is the chroma's angle in that plane (0 red, 60 yellow, 120 green, 180 cyan, 240 blue,
300 magenta, as in HSV). A hue shift turns the chroma, saturation scales it, luminance scales the
pixel by up to a stop, weighted by how colourful the pixel is: greys never move."""

from __future__ import annotations

import numpy as np

from presets.model import HSL_BAND_HUES, HSL_BANDS, HslBand, HslParams

# Orthonormal axes of the chroma plane: U points to red, V to green-minus-blue.
U = np.array([2.0, -1.0, -1.0], np.float32) / np.sqrt(6.0).astype(np.float32)
V = np.array([0.0, 1.0, -1.0], np.float32) / np.sqrt(2.0).astype(np.float32)
HUE_SHIFT_DEGREES = 30.0          # hue +-100 turns the band this far
LUMINANCE_STOPS = 1.0             # luminance +-100: this many stops (for a fully colourful pixel)


def hue_direction(degrees: float) -> np.ndarray:
    """The unit chroma vector (RGB, zero mean) of a hue."""
    a = np.radians(degrees)
    return (np.cos(a) * U + np.sin(a) * V).astype(np.float32)


def hue_degrees(image: np.ndarray) -> np.ndarray:
    return (np.degrees(np.arctan2(image @ V, image @ U)) % 360.0).astype(np.float32)


def band_values(hue: np.ndarray, params: HslParams, attribute: str) -> np.ndarray:
    """Each pixel's setting of ``attribute`` from the bands, linearly blended between band centres."""
    values = [getattr(getattr(params, band), attribute) for band in HSL_BANDS]
    centres = np.array(HSL_BAND_HUES, np.float64)
    return np.interp(hue, centres, values, period=360.0).astype(np.float32)


def is_identity(params: HslParams) -> bool:
    return all(getattr(params, band) == HslBand() for band in HSL_BANDS)


def apply(image: np.ndarray, params: HslParams) -> np.ndarray:
    """Display-encoded in, display-encoded out; the input is not modified."""
    image = np.asarray(image, np.float32)
    if is_identity(params):
        return image.copy()
    grey = image.mean(axis=-1, keepdims=True)
    chroma = image - grey
    hue = hue_degrees(image)
    size = np.linalg.norm(chroma, axis=-1)
    colourful = np.clip(size / np.maximum(np.abs(grey[..., 0]), 1e-4) * 2.0, 0.0, 1.0)

    turn = np.radians(band_values(hue, params, "hue") / 100.0 * HUE_SHIFT_DEGREES)
    a, b = chroma @ U, chroma @ V
    cos, sin = np.cos(turn), np.sin(turn)
    scale = 1.0 + band_values(hue, params, "saturation") / 100.0
    a, b = (a * cos - b * sin) * scale, (a * sin + b * cos) * scale
    chroma = a[..., None] * U + b[..., None] * V

    stops = band_values(hue, params, "luminance") / 100.0 * LUMINANCE_STOPS * colourful
    gain = np.exp2(stops / 2.4)[..., None]          # a stop of linear light, in encoded values
    return ((grey + chroma) * gain).astype(np.float32)
