"""3D LUTs: reading Adobe/Resolve ``.cube`` files and interpolating them (tetrahedral or trilinear).

Colour space: whatever the LUT was made for; postline's creative LUTs take and give display-encoded
sRGB in [0, 1] (the cube's domain). A table here is float32 of shape (N, N, N, 3) indexed
[red, green, blue]. ``apply`` is numpy (for modest arrays: baking a look, tests); full images go
through the fused kernel in ``tasks.pixels.fastlut``."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from presets.model import Interpolation, LutParams, lut_path
from tasks.errors import Permanent

MIN_POINTS, MAX_POINTS = 17, 65


class LutError(Permanent):
    """A LUT file cannot be used; the message names the file."""


def read_cube(path: Path) -> np.ndarray:
    """Parse a .cube file (LUT_3D_SIZE 17..65, red fastest) into an (N, N, N, 3) [r, g, b] table."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise LutError(f"{path}: cannot read this LUT ({exc})") from exc
    size, lo, hi, rows = None, np.zeros(3), np.ones(3), []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        keyword = words[0].upper()
        try:
            if keyword == "LUT_3D_SIZE":
                size = int(words[1])
            elif keyword == "LUT_1D_SIZE":
                raise LutError(f"{path}: a 1D LUT; postline applies 3D LUTs (LUT_3D_SIZE {MIN_POINTS}-{MAX_POINTS})")
            elif keyword == "DOMAIN_MIN":
                lo = np.array([float(w) for w in words[1:4]])
            elif keyword == "DOMAIN_MAX":
                hi = np.array([float(w) for w in words[1:4]])
            elif keyword in ("TITLE", "LUT_3D_INPUT_RANGE"):
                continue
            else:
                rows.append([float(w) for w in words[:3]])
                if len(words) != 3:
                    raise ValueError("expected three numbers")
        except (ValueError, IndexError):   # quotes nothing of it: the file may not be a LUT at all
            raise LutError(f"{path}, line {number}: cannot read it: neither a keyword (LUT_3D_SIZE, DOMAIN_MIN, "
                           "...) nor three numbers; is it a 3D .cube LUT?") from None
    if size is None:
        raise LutError(f"{path}: no LUT_3D_SIZE line: not a 3D .cube LUT")
    if not MIN_POINTS <= size <= MAX_POINTS:
        raise LutError(f"{path}: LUT_3D_SIZE is {size}; postline takes {MIN_POINTS} to {MAX_POINTS} points per side")
    if len(rows) != size ** 3:
        raise LutError(f"{path}: LUT_3D_SIZE {size} needs {size ** 3} rows of values, found {len(rows)}: "
                       "the file is truncated or its size line is wrong")
    if not np.allclose(lo, 0) or not np.allclose(hi, 1):
        raise LutError(f"{path}: DOMAIN_MIN/MAX {lo.tolist()}..{hi.tolist()}; postline takes LUTs over 0..1")
    table = np.asarray(rows, np.float32).reshape(size, size, size, 3)    # [b, g, r] (red fastest)
    return np.ascontiguousarray(table.transpose(2, 1, 0, 3))


def write_cube(path: Path, table: np.ndarray, title: str = "postline") -> Path:
    """Write an (N, N, N, 3) [r, g, b] table as a .cube file."""
    size = table.shape[0]
    rows = np.asarray(table, np.float64).transpose(2, 1, 0, 3).reshape(-1, 3)
    lines = [f'TITLE "{title}"', f"LUT_3D_SIZE {size}"] + [f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in rows]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)


def identity(size: int) -> np.ndarray:
    grid = np.linspace(0.0, 1.0, size, dtype=np.float32)
    r, g, b = np.meshgrid(grid, grid, grid, indexing="ij")
    return np.stack([r, g, b], axis=-1)


@lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> tuple[np.ndarray, str]:
    return read_cube(Path(path)), hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load(params: LutParams) -> np.ndarray | None:
    """The preset's LUT table (cached), or None when it has none. A preset that recorded the LUT's
    checksum (every loaded preset does) refuses a LUT file that has changed since: a reprint must
    look like the print."""
    if not params.file:
        return None
    path = lut_path(params.file)
    try:
        table, digest = _load(str(path), path.stat().st_mtime_ns)
    except FileNotFoundError:
        raise LutError(f"{path}: the preset's LUT file is missing") from None
    if params.sha256 and params.sha256 != digest:
        raise LutError(f"{path}: this LUT changed since the preset was resolved (sha256 {digest[:12]}, "
                       f"expected {params.sha256[:12]}); restore the file or resolve the preset again")
    return table


def interpolate(table: np.ndarray, rgb: np.ndarray, method: Interpolation = Interpolation.TETRAHEDRAL) -> np.ndarray:
    """Look up ``rgb`` (..., 3, clipped to [0, 1]) in ``table``; float32 result of the same shape."""
    size = table.shape[0]
    flat = table.reshape(-1, 3)
    pos = np.clip(np.asarray(rgb, np.float32).reshape(-1, 3), 0.0, 1.0) * (size - 1)
    base = np.minimum(pos.astype(np.intp), size - 2)
    frac = pos - base
    strides = np.array([size * size, size, 1], np.intp)
    origin = base @ strides
    if method is Interpolation.TRILINEAR:
        out = np.zeros_like(frac)
        for corner in np.ndindex(2, 2, 2):
            weight = np.prod(np.where(corner, frac, 1.0 - frac), axis=1)
            out += weight[:, None] * flat[origin + np.dot(corner, strides)]
        return out.reshape(np.shape(rgb))
    # Tetrahedral: walk from the cell's origin along the axes in order of decreasing fraction.
    order = np.argsort(-frac, axis=1, kind="stable")
    f_sorted = np.take_along_axis(frac, order, axis=1)
    step = strides[order]
    vertex = origin.copy()
    out = (1.0 - f_sorted[:, 0])[:, None] * flat[vertex]
    for k in range(3):
        vertex += step[:, k]
        upper = f_sorted[:, k + 1] if k < 2 else 0.0
        out += (f_sorted[:, k] - upper)[:, None] * flat[vertex]
    return out.reshape(np.shape(rgb)).astype(np.float32)


def apply(image: np.ndarray, params: LutParams) -> np.ndarray:
    """Display-encoded sRGB in, the LUT's output blended by ``amount`` out; input not modified."""
    image = np.asarray(image, np.float32)
    table = load(params)
    if table is None or params.amount == 0:
        return image.copy()
    looked = interpolate(table, image, params.interpolation)
    if params.amount < 1:
        looked = image + params.amount * (looked - image)
    return looked
