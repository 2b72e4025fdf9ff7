"""The fused per-pixel pass: a 16-bit linear image through a shaper and a baked 3D LUT, with the
vignette gain, straight into the output's dtype, in one parallel sweep (numba).

Input: uint16 HxWx3 (linear Rec.2020 as LibRaw writes it). The shaper maps each 16-bit code to a
position on the LUT's grid (the grid is spaced evenly in ``code ** (1/2.4)``, so shadows get as
many points as highlights). Output: encoded values of the LUT, times the vignette gain, clipped to
[0, 1] and scaled to the output dtype (uint8, uint16 or float32 in [0, 1]).

numba runs on its "workqueue" threading layer (unless NUMBA_THREADING_LAYER says otherwise): it
survives fork() (process pools), but must not be entered from two threads at once, so calls are
serialised by a lock (each call uses every core anyway)."""

from __future__ import annotations

import os
import threading

import numba
import numpy as np

from presets.model import Interpolation

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

SHAPER_POWER = 1 / 2.4
_LOCK = threading.Lock()


def shaper_codes(size: int) -> np.ndarray:
    """Position on a ``size``-point grid of every uint16 code, float32 (65536,)."""
    codes = np.arange(65536, dtype=np.float64) / 65535.0
    return (np.power(codes, SHAPER_POWER) * (size - 1)).astype(np.float32)


def grid_linear(size: int) -> np.ndarray:
    """The linear values (0..1) of a ``size``-point grid spaced like the shaper."""
    return np.power(np.linspace(0.0, 1.0, size), 1 / SHAPER_POWER).astype(np.float32)


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _kernel(src, shaper, flat, size, tetrahedral, vignette, out, scale, offset):
    height, width = src.shape[0], src.shape[1]
    top = np.int32(size - 2)
    sb = np.int32(3)
    sg = np.int32(3 * size)
    sr = np.int32(3 * size * size)
    o3 = sr + sg + sb
    zero, one = np.float32(0.0), np.float32(1.0)
    amount, inner, outer = vignette[0], vignette[1], vignette[2]
    cy, cx = height / 2.0, width / 2.0
    for y in numba.prange(height):
        row = src[y]
        dst = out[y]
        dy2 = ((y + 0.5 - cy) / cy) ** 2
        for x in range(width):
            fr = shaper[row[x, 0]]
            fg = shaper[row[x, 1]]
            fb = shaper[row[x, 2]]
            ir = min(np.int32(fr), top)
            ig = min(np.int32(fg), top)
            ib = min(np.int32(fb), top)
            dr = fr - ir
            dg = fg - ig
            db = fb - ib
            base = ir * sr + ig * sg + ib * sb
            gain = one
            if amount != 0.0:
                r = np.sqrt((((x + 0.5 - cx) / cx) ** 2 + dy2) * 0.5)
                t = min(max((r - inner) / (outer - inner), 0.0), 1.0)
                gain = np.float32(1.0 + amount * t * t * (3.0 - 2.0 * t))
            if tetrahedral:
                # The tetrahedron holding the point: from the cell's origin step along the axis of the
                # largest fraction, then the middle one, to the far corner. Selects, not branches:
                # noisy pixels make the order unpredictable.
                hi = max(dr, max(dg, db))
                lo = min(dr, min(dg, db))
                mid = dr + dg + db - hi - lo
                o1 = sr if (dr >= dg and dr >= db) else (sg if dg >= db else sb)
                o2 = o3 - (sb if (db <= dr and db <= dg) else (sg if dg <= dr else sr))
                w0 = one - hi
                w1 = hi - mid
                w2 = mid - lo
                for c in range(3):
                    v = (w0 * flat[base + c] + w1 * flat[base + o1 + c] + w2 * flat[base + o2 + c]
                         + lo * flat[base + o3 + c]) * gain
                    dst[x, c] = min(max(v, zero), one) * scale + offset
            else:
                for c in range(3):
                    p = base + c
                    c00 = flat[p] + dr * (flat[p + sr] - flat[p])
                    c01 = flat[p + sb] + dr * (flat[p + sr + sb] - flat[p + sb])
                    c10 = flat[p + sg] + dr * (flat[p + sr + sg] - flat[p + sg])
                    c11 = flat[p + sg + sb] + dr * (flat[p + o3] - flat[p + sg + sb])
                    c0 = c00 + dg * (c10 - c00)
                    c1 = c01 + dg * (c11 - c01)
                    v = (c0 + db * (c1 - c0)) * gain
                    dst[x, c] = min(max(v, zero), one) * scale + offset


_SCALE = {np.dtype(np.uint8): (255.0, 0.5), np.dtype(np.uint16): (65535.0, 0.5), np.dtype(np.float32): (1.0, 0.0)}


def apply(src: np.ndarray, table: np.ndarray, *, interpolation: Interpolation = Interpolation.TETRAHEDRAL,
          vignette: tuple[float, float, float] = (0.0, 0.5, 1.0), dtype=np.uint8,
          out: np.ndarray | None = None) -> np.ndarray:
    """``src`` (uint16 HxWx3, linear) through ``table`` ((N, N, N, 3) over the shaper grid); the
    vignette is (amount -1..1, radius where it starts, radius where it is full) in half-diagonals."""
    if src.dtype != np.uint16 or src.ndim != 3 or src.shape[2] != 3:
        raise ValueError(f"expected a uint16 HxWx3 image, got {src.dtype} {src.shape}")
    dtype = np.dtype(dtype)
    if out is None:
        out = np.empty(src.shape, dtype)
    scale, offset = _SCALE[out.dtype]
    table = np.ascontiguousarray(table, np.float32)
    amount, inner, outer = vignette
    params = np.array([amount, inner, max(outer, inner + 1e-3)], np.float64)
    with _LOCK:
        _kernel(np.ascontiguousarray(src), shaper_codes_cached(table.shape[0]), table.reshape(-1), table.shape[0],
                interpolation is Interpolation.TETRAHEDRAL, params, out, np.float32(scale), np.float32(offset))
    return out


_SHAPERS: dict[int, np.ndarray] = {}


def shaper_codes_cached(size: int) -> np.ndarray:
    if size not in _SHAPERS:
        _SHAPERS[size] = shaper_codes(size)
    return _SHAPERS[size]
