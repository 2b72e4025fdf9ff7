"""The fused pass's numba kernel: the fallback when ``fastlut.c`` cannot be compiled or loaded
(no C compiler, or ``POSTLINE_FASTLUT=numba``). Same arithmetic, same arguments; see ``fastlut``.

numba runs on its "workqueue" threading layer (unless NUMBA_THREADING_LAYER says otherwise): it
survives fork() (process pools), but must not be entered from two threads at once, so ``run``
serialises calls with a lock (each call uses every core anyway)."""

from __future__ import annotations

import os
import threading

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

_LOCK = threading.Lock()


def run(*args) -> None:
    """``kernel(*args)``, one call at a time."""
    with _LOCK:
        kernel(*args)


@intrinsic
def _blend4(typingctx, flat, i0, i1, i2, i3, w0, w1, w2, w3):
    """``w0 * flat[i0:i0 + 4] + ... + w3 * flat[i3:i3 + 4]``, each vertex read as one 16-byte vector
    and weighed in four lanes at once; returns the first three lanes. Written as LLVM IR because
    numba's scalar code read the 12 values one at a time (2.4x slower over a whole pass, output
    bit-identical). The caller keeps every ``i + 3`` inside ``flat``."""
    if not (isinstance(flat, types.Array) and flat.dtype == types.float32 and flat.ndim == 1):
        return None
    sig = types.UniTuple(types.float32, 3)(flat, i0, i1, i2, i3, w0, w1, w2, w3)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        lanes = ir.VectorType(ir.FloatType(), 4)
        splat = ir.Constant(ir.VectorType(ir.IntType(32), 4), [0, 0, 0, 0])
        total = None
        for k in range(4):
            index = context.cast(builder, args[1 + k], signature.args[1 + k], types.intp)
            vertex = builder.load(builder.bitcast(builder.gep(data, [index]), lanes.as_pointer()), align=4)
            weight = context.cast(builder, args[5 + k], signature.args[5 + k], types.float32)
            weight = builder.insert_element(ir.Constant(lanes, ir.Undefined), weight, ir.Constant(ir.IntType(32), 0))
            term = builder.fmul(vertex, builder.shuffle_vector(weight, ir.Constant(lanes, ir.Undefined), splat),
                                flags=("fast",))
            total = term if total is None else builder.fadd(total, term, flags=("fast",))
        lanes3 = [builder.extract_element(total, ir.Constant(ir.IntType(32), c)) for c in range(3)]
        return context.make_tuple(builder, signature.return_type, lanes3)

    return sig, codegen


@numba.njit(parallel=True, fastmath=True, cache=True, nogil=True)
def kernel(src, index, fraction, flat, size, tetrahedral, second, third, gain_x, gain_y, gains, clamp, out,
            scale, offset):
    """``src`` and ``out`` C-contiguous HxWx3. ``index``/``fraction``: each 16-bit code's grid cell
    and position in it (the shaper); ``flat``: the table padded to 4 channels, already times
    ``scale``; ``second``/``third``: the offsets of a tetrahedron's second and third vertices from
    its cell's origin, by which fractions are largest (see ``_tetrahedra``); ``gains`` over the
    squared radius ``gain_x[x] + gain_y[y]`` (0..1), or empty for no vignette. Interpolation never
    leaves the table's [0, scale], so only a gain over 1 needs ``clamp``."""
    height, width = src.shape[0], src.shape[1]
    sb = np.int32(4)
    sg = np.int32(4 * size)
    sr = np.int32(4 * size * size)
    zero, one, half = np.float32(0.0), np.float32(1.0), np.float32(0.5)
    scale = np.float32(scale)
    steps = np.float32(gains.shape[0] - 1)
    vignette = gains.shape[0] > 0
    for y in numba.prange(height):
        row = src[y].reshape(-1)
        dst = out[y].reshape(-1)
        across = gain_y[y] if vignette else zero
        for x in range(width):
            i = 3 * x
            cr, cg, cb = row[i], row[i + 1], row[i + 2]
            dr, dg, db = fraction[cr], fraction[cg], fraction[cb]
            base = index[cr] * sr + index[cg] * sg + index[cb] * sb
            if tetrahedral:
                # The tetrahedron holding the point: from the cell's origin step along the axis of the
                # largest fraction, then the middle one, to the far corner. A table lookup on the three
                # comparisons, not branches: noisy pixels make the order unpredictable.
                hi = max(dr, max(dg, db))
                lo = min(dr, min(dg, db))
                mid = dr + dg + db - hi - lo
                order = (np.int32(dr >= dg) << 2) | (np.int32(dg >= db) << 1) | np.int32(dr >= db)
                v0, v1, v2 = _blend4(flat, base, base + second[order], base + third[order], base + sr + sg + sb,
                                     one - hi, hi - mid, mid - lo, lo)
            else:
                er, eg, eb = one - dr, one - dg, one - db
                a0, a1, a2 = _blend4(flat, base, base + sb, base + sg, base + sg + sb,
                                     er * eg * eb, er * eg * db, er * dg * eb, er * dg * db)
                b0, b1, b2 = _blend4(flat, base + sr, base + sr + sb, base + sr + sg, base + sr + sg + sb,
                                     dr * eg * eb, dr * eg * db, dr * dg * eb, dr * dg * db)
                v0, v1, v2 = a0 + b0, a1 + b1, a2 + b2
            if vignette:
                gain = gains[np.int32((gain_x[x] + across) * steps + half)]
                v0 *= gain
                v1 *= gain
                v2 *= gain
            if clamp:
                v0 = min(max(v0, zero), scale)
                v1 = min(max(v1, zero), scale)
                v2 = min(max(v2, zero), scale)
            dst[i] = v0 + offset
            dst[i + 1] = v1 + offset
            dst[i + 2] = v2 + offset
