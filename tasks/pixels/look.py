"""A preset's look: every per-pixel operation in order, baked once into one 3D LUT, then applied
to a whole image in one fused pass, followed by the spatial operations.

The per-pixel chain, with each step's colour space:
  linear Rec.2020 from decode
  -> session calibration, 3x3 or root-polynomial 3x6 (optional, linear Rec.2020)
  -> tone: exposure, temperature/tint, highlights/shadows/whites/blacks, contrast, saturation,
     vibrance (linear Rec.2020)
  -> to extended sRGB display values (sRGB curve, Rec.709 primaries, out-of-range kept)
  -> tone curve -> HSL -> split toning -> creative 3D LUT (display-encoded)
  -> output transform (encoded sRGB / Adobe RGB / Display P3, clipped to [0, 1]).
Baking evaluates it on a grid spaced like ``fastlut``'s shaper; then vignette (gain on the
encoded output, inside the fused pass) and output sharpening (a separate pass)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from presets.model import Interpolation, OutputSpace, Preset, SharpenParams
from tasks.pixels import calibrate, curve, fastlut, hsl, lut, output, sharpen, splittone, tone, vignette
from tasks.pixels.colour import REC2020_TO_SRGB, srgb_encode_ext

GRID_POINTS = 33


def chain(linear: np.ndarray, preset: Preset, *, calibration: np.ndarray | None = None,
          space: OutputSpace | None = None) -> np.ndarray:
    """Every per-pixel operation of ``preset``: linear Rec.2020 (..., 3) -> encoded output values."""
    x = np.asarray(linear, np.float32)
    if calibration is not None:
        x = calibrate.transform(x, np.asarray(calibration, np.float32))
    x = tone.apply(x, preset.tone)
    display = srgb_encode_ext(x @ REC2020_TO_SRGB.T)
    display = curve.apply(display, preset.curve)
    display = hsl.apply(display, preset.hsl)
    display = splittone.apply(display, preset.split_tone)
    display = lut.apply(display, preset.lut)
    return output.apply(display, space or preset.output.colour_space)


@dataclass(frozen=True, eq=False)
class BakedLook:
    table: np.ndarray                            # (N, N, N, 3) over fastlut's shaper grid
    flat: np.ndarray                             # the same, as the fused kernel reads it
    vignette: tuple[float, float, float]
    sharpen: SharpenParams
    space: OutputSpace


_CACHE: dict[tuple, BakedLook] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 16


def bake(preset: Preset, *, calibration: np.ndarray | None = None, space: OutputSpace | None = None,
         output_sharpening: bool = True, points: int = GRID_POINTS) -> BakedLook:
    """The preset as a fused LUT plus its spatial steps; cached per resolved values."""
    space = space or preset.output.colour_space
    cal = None if calibration is None else np.asarray(calibration, np.float64).round(9).tobytes()
    key = (preset.resolved_hash(), cal, space, output_sharpening, points)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    grid = fastlut.grid_linear(points)
    r, g, b = np.meshgrid(grid, grid, grid, indexing="ij")
    table = chain(np.stack([r, g, b], axis=-1), preset, calibration=calibration, space=space)
    table = np.ascontiguousarray(table, np.float32)
    look = BakedLook(table, fastlut.padded(table), vignette.radii(preset.vignette),
                     preset.sharpen if output_sharpening else SharpenParams(), space)
    with _CACHE_LOCK:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = look
    return look


def apply(image16: np.ndarray, look: BakedLook, *, dtype=np.uint8) -> np.ndarray:
    """uint16 linear Rec.2020 HxWx3 -> the graded image in ``look.space``, as ``dtype`` (uint8,
    uint16, or float32 in [0, 1])."""
    out = fastlut.apply(image16, look.table, interpolation=Interpolation.TETRAHEDRAL,
                        vignette=look.vignette, dtype=dtype, flat=look.flat)
    return sharpen.apply(out, look.sharpen, out=out)
