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
def _kernel(src, shaper, flat, size, tetrahedral, gain_x, gain_y, gains, clamp, out, scale, offset):
    """``flat``: the table padded to 4 channels (one 16-byte load per vertex), already times
    ``scale``; ``gains`` over the squared radius ``gain_x[x] + gain_y[y]`` (0..1), or empty for no
    vignette. Interpolation never leaves the table's [0, scale], so only a gain over 1 needs ``clamp``."""
    height, width = src.shape[0], src.shape[1]
    top = np.int32(size - 2)
    sb = np.int32(4)
    sg = np.int32(4 * size)
    sr = np.int32(4 * size * size)
    o3 = sr + sg + sb
    zero, one, half = np.float32(0.0), np.float32(1.0), np.float32(0.5)
    scale = np.float32(scale)
    steps = np.float32(gains.shape[0] - 1)
    vignette = gains.shape[0] > 0
    for y in numba.prange(height):
        row = src[y]
        dst = out[y]
        for x in range(width):
            fr = shaper[row[x, 0]]
            fg = shaper[row[x, 1]]
            fb = shaper[row[x, 2]]
            ir = min(np.int32(fr), top)
            ig = min(np.int32(fg), top)
            ib = min(np.int32(fb), top)
            dr = fr - np.float32(ir)         # float32 - int32 would be float64 (and so all that follows)
            dg = fg - np.float32(ig)
            db = fb - np.float32(ib)
            base = ir * sr + ig * sg + ib * sb
            if tetrahedral:
                # The tetrahedron holding the point: from the cell's origin step along the axis of the
                # largest fraction, then the middle one, to the far corner. Arithmetic on the comparisons,
                # not branches: noisy pixels make the order unpredictable, and Python's `and` or a
                # conditional expression compiled to jumps that mispredicted (23 -> 13 ns a pixel).
                hi = max(dr, max(dg, db))
                lo = min(dr, min(dg, db))
                mid = dr + dg + db - hi - lo
                rg = np.int32(dr >= dg)
                gb = np.int32(dg >= db)
                rb = np.int32(dr >= db)
                r_top = rg * rb                      # r is the largest fraction
                g_top = (1 - rg) * gb                # else g, if not below b
                b_low = rb * gb                      # b is the smallest fraction
                g_low = (1 - b_low) * rg             # else g, if not above r
                p1 = base + r_top * sr + g_top * sg + (1 - r_top - g_top) * sb
                p2 = base + o3 - (b_low * sb + g_low * sg + (1 - b_low - g_low) * sr)
                p3 = base + o3
                w0 = one - hi
                w1 = hi - mid
                w2 = mid - lo
                v0 = w0 * flat[base] + w1 * flat[p1] + w2 * flat[p2] + lo * flat[p3]
                v1 = w0 * flat[base + 1] + w1 * flat[p1 + 1] + w2 * flat[p2 + 1] + lo * flat[p3 + 1]
                v2 = w0 * flat[base + 2] + w1 * flat[p1 + 2] + w2 * flat[p2 + 2] + lo * flat[p3 + 2]
            else:
                v0 = _trilinear(flat, base, dr, dg, db, sr, sg, sb)
                v1 = _trilinear(flat, base + 1, dr, dg, db, sr, sg, sb)
                v2 = _trilinear(flat, base + 2, dr, dg, db, sr, sg, sb)
            if vignette:
                gain = gains[np.int32((gain_x[x] + gain_y[y]) * steps + half)]
                v0 *= gain
                v1 *= gain
                v2 *= gain
            if clamp:
                v0 = min(max(v0, zero), scale)
                v1 = min(max(v1, zero), scale)
                v2 = min(max(v2, zero), scale)
            dst[x, 0] = v0 + offset
            dst[x, 1] = v1 + offset
            dst[x, 2] = v2 + offset


@numba.njit(fastmath=True, cache=True, inline="always")
def _trilinear(flat, p, dr, dg, db, sr, sg, sb):
    c00 = flat[p] + dr * (flat[p + sr] - flat[p])
    c01 = flat[p + sb] + dr * (flat[p + sr + sb] - flat[p + sb])
    c10 = flat[p + sg] + dr * (flat[p + sr + sg] - flat[p + sg])
    c11 = flat[p + sg + sb] + dr * (flat[p + sr + sg + sb] - flat[p + sg + sb])
    c0 = c00 + dg * (c10 - c00)
    c1 = c01 + dg * (c11 - c01)
    return c0 + db * (c1 - c0)


_SCALE = {np.dtype(np.uint8): (255.0, 0.5), np.dtype(np.uint16): (65535.0, 0.5), np.dtype(np.float32): (1.0, 0.0)}
GAIN_STEPS = 4096


def _vignette_tables(height: int, width: int, vignette: tuple[float, float, float]):
    """Half the squared normalised distance from the centre, split by axis, and the gain over it
    (the same falloff as ``tasks.pixels.vignette``)."""
    amount, inner, outer = vignette
    if amount == 0:
        empty = np.zeros(0, np.float32)
        return np.zeros(width, np.float32), np.zeros(height, np.float32), empty
    gx = (((np.arange(width) + 0.5) / (width / 2.0) - 1.0) ** 2 * 0.5).astype(np.float32)
    gy = (((np.arange(height) + 0.5) / (height / 2.0) - 1.0) ** 2 * 0.5).astype(np.float32)
    r = np.sqrt(np.linspace(0.0, 1.0, GAIN_STEPS + 1))
    t = np.clip((r - inner) / max(outer - inner, 1e-3), 0.0, 1.0)
    return gx, gy, (1.0 + amount * t * t * (3.0 - 2.0 * t)).astype(np.float32)


def padded(table: np.ndarray) -> np.ndarray:
    """An (N, N, N, 3) table as the kernel's flat, 4-channel float32 array."""
    four = np.zeros(table.shape[:3] + (4,), np.float32)
    four[..., :3] = table
    return four.reshape(-1)


def apply(src: np.ndarray, table: np.ndarray, *, interpolation: Interpolation = Interpolation.TETRAHEDRAL,
          vignette: tuple[float, float, float] = (0.0, 0.5, 1.0), dtype=np.uint8,
          out: np.ndarray | None = None, flat: np.ndarray | None = None) -> np.ndarray:
    """``src`` (uint16 HxWx3, linear) through ``table`` ((N, N, N, 3) over the shaper grid); the
    vignette is (amount -1..1, radius where it starts, radius where it is full) in half-diagonals.
    ``flat`` may carry ``padded(table)`` when the caller keeps it."""
    if src.dtype != np.uint16 or src.ndim != 3 or src.shape[2] != 3:
        raise ValueError(f"expected a uint16 HxWx3 image, got {src.dtype} {src.shape}")
    if out is None:
        out = np.empty(src.shape, np.dtype(dtype))
    scale, offset = _SCALE[out.dtype]
    size = table.shape[0]
    gx, gy, gains = _vignette_tables(src.shape[0], src.shape[1], vignette)
    flat = padded(table) if flat is None else flat
    if scale != 1.0:
        flat = flat * np.float32(scale)
    clamp = bool(gains.size and gains.max() > 1.0) or not (0.0 <= table.min() and table.max() <= 1.0)
    with _LOCK:
        _kernel(np.ascontiguousarray(src), shaper_codes_cached(size), flat, size,
                interpolation is Interpolation.TETRAHEDRAL, gx, gy, gains, clamp, out, np.float32(scale),
                np.float32(offset))
    return out


_SHAPERS: dict[int, np.ndarray] = {}


def shaper_codes_cached(size: int) -> np.ndarray:
    if size not in _SHAPERS:
        _SHAPERS[size] = shaper_codes(size)
    return _SHAPERS[size]


_WARM: set[np.dtype] = set()


def warm_up(dtype=np.uint8) -> None:
    """Load (or compile) the kernel for ``dtype`` outputs: numba's first call in a process costs
    about half a second, whatever the image size."""
    dtype = np.dtype(dtype)
    if dtype not in _WARM:
        apply(np.zeros((2, 2, 3), np.uint16), np.zeros((2, 2, 2, 3), np.float32), dtype=dtype)
        apply(np.zeros((2, 2, 3), np.uint16), np.zeros((2, 2, 2, 3), np.float32), dtype=dtype,
              vignette=(-0.1, 0.5, 1.0))
        _WARM.add(dtype)


def warm_up_in_background(dtype=np.uint8) -> threading.Thread | None:
    """``warm_up`` on a thread, so it overlaps the RAW decode (LibRaw releases the GIL); join it
    before ``apply``. None when already warm."""
    if np.dtype(dtype) in _WARM:
        return None
    thread = threading.Thread(target=warm_up, args=(dtype,), name="fastlut-warm-up", daemon=True)
    thread.start()
    return thread
