"""Whole-image steps that numpy does in several passes over a full-size photo, done in one: each gives the very
values (bit for bit) of the numpy expression its docstring names, and falls back to that expression for an array
it cannot take (another dtype, or not C-contiguous) and where the C kernels cannot be built. tests/test_kernels.py
holds each to its expression.

Hand-written for a measured reason (``python bench/kernels.py``, bench/README.md): on a 24 MP photo numpy walks
288 MB of float32 once per operation, and these steps run several times a photo. Measured here on a graded 24 MP
frame, numpy against one pass: rounding to the stored 16 bits 124 -> 36 ms (three times a photo, between fused
stages), a master's 16-bit codes 122 -> 38 ms, a master read back 63-65 -> 34 ms (QC, the delivery), a 16-bit
code table looked up 279 -> 63 ms (the print rendition's colour conversion), a detail plane added and clipped
219 -> 61 ms (three times a photo): 1.56 s -> 0.46 s a photo.

The kernels are C (kernels.c), built and loaded as the grading pass's kernel is (``fastlut.native_library``: not
numba, whose import costs half a second and 130 MB in every process that loads postline's image code). A ctypes
call lets go of the GIL: the photo threads run them at once, one thread each (the order's photos are already
spread over the cores)."""

from __future__ import annotations

import ctypes
from functools import cache
from pathlib import Path

import numpy as np

from tasks.pixels import fastlut

U16 = np.float32(65535.0)
_SOURCE = Path(__file__).with_name("kernels.c")
_P, _N = ctypes.c_void_p, ctypes.c_int64
_SIGNATURES = {"round_stored": [_P, _N], "to_u16": [_P, _P, _N], "from_u16": [_P, _P, _N],
               "times_u16": [_P, _P, _N, ctypes.c_float],
               "look_up": [_P, _P, _P, _N], "add_clipped": [_P, _P, _P, _N]}


@cache
def _library() -> ctypes.CDLL | None:
    """kernels.c, compiled on first use (about a second, once per machine) and loaded; None without a compiler."""
    library = fastlut.native_library(_SOURCE)
    if library is not None:
        for name, arguments in _SIGNATURES.items():
            function = getattr(library, name)
            function.argtypes, function.restype = arguments, None
    return library


def native() -> bool:
    """Whether the C kernels run here (else numpy)."""
    return _library() is not None


def _c(array: np.ndarray, dtype) -> bool:  # noqa: ANN001
    return array.dtype == dtype and array.flags.c_contiguous


def round_stored(display: np.ndarray) -> np.ndarray:
    """``np.rint(np.clip(display * 65535, 0, 65535)) / 65535`` in float32, in place: the values a 16-bit
    working TIFF gives back. ``display``: a writeable float32 array."""
    library = _library()
    if library is not None and _c(display, np.float32) and display.flags.writeable:
        library.round_stored(display.ctypes.data, display.size)
        return display
    np.multiply(display, U16, out=display)
    np.clip(display, 0.0, U16, out=display)
    np.rint(display, out=display)
    np.divide(display, U16, out=display)
    return display


def to_u16(display: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``np.rint(np.clip(display, 0, 1) * 65535)`` (float32) as uint16, into ``out``."""
    library = _library()
    if library is not None and _c(display, np.float32) and _c(out, np.uint16) and out.shape == display.shape:
        library.to_u16(display.ctypes.data, out.ctypes.data, display.size)
    else:
        np.rint(np.clip(display, 0.0, 1.0) * U16, out=out, casting="unsafe")
    return out


def from_u16(codes: np.ndarray) -> np.ndarray:
    """``codes.astype(np.float32) / 65535`` (float32)."""
    out = np.empty(codes.shape, np.float32)
    library = _library()
    if library is not None and _c(codes, np.uint16):
        library.from_u16(codes.ctypes.data, out.ctypes.data, codes.size)
    else:
        np.divide(codes.astype(np.float32), U16, out=out)
    return out


def times_u16(codes: np.ndarray, factor: float) -> np.ndarray:
    """``codes.astype(np.float32) * np.float32(factor)`` (float32): not quite :func:`from_u16`, whose division
    gives another last bit for 512 of the 65536 codes."""
    out = np.empty(codes.shape, np.float32)
    library = _library()
    if library is not None and _c(codes, np.uint16):
        library.times_u16(codes.ctypes.data, out.ctypes.data, codes.size, float(np.float32(factor)))
    else:
        np.multiply(codes.astype(np.float32), np.float32(factor), out=out)
    return out


def look_up(table: np.ndarray, codes: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``np.take(table, codes, out=out)``: each 16-bit code's entry of a 65536-entry float32 ``table``."""
    library = _library()
    if library is not None and _c(codes, np.uint16) and _c(out, np.float32) and out.shape == codes.shape \
            and _c(table, np.float32) and table.shape == (65536,):
        library.look_up(table.ctypes.data, codes.ctypes.data, out.ctypes.data, codes.size)
    else:
        np.take(table, codes, out=out)
    return out


def add_clipped(image: np.ndarray, plane: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.clip(image + plane[..., None], 0, 1)`` in float32: an HxW plane (sharpening, local contrast) added to
    every channel of an HxWx3 image, into ``out`` (a new array when None; ``image`` itself may be given)."""
    if out is None:
        out = np.empty(image.shape, np.float32)
    library = _library()
    if library is not None and _c(image, np.float32) and _c(plane, np.float32) and _c(out, np.float32) \
            and image.ndim == 3 and image.shape[2] == 3 and plane.shape == image.shape[:2] and out.shape == image.shape:
        library.add_clipped(image.ctypes.data, plane.ctypes.data, out.ctypes.data, plane.size)
        return out
    np.add(image, plane[..., None], out=out)
    return np.clip(out, 0.0, 1.0, out=out)
