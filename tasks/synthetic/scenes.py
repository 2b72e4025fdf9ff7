"""Synthetic scenes for the synthetic camera: photographic-looking frames (a portrait, a landscape, an interior,
a backlit high-key frame) and the ColorChecker Classic, as float32 HxWx3 linear sRGB (D65) scenes, deterministic
for a seed."""

from __future__ import annotations

import numpy as np

from tasks.pixels import colourchecker

# --- ColorChecker Classic ---------------------------------------------------------------------
CHART_COLUMNS, CHART_ROWS = 6, 4
CHART_BACKGROUND = 0.02          # dark grey surround, linear
PATCH_GAP = 0.12                 # gap between patches as a fraction of the cell size
MEASURE_FRACTION = 0.6           # chart_patch_boxes: inner 60% of each patch


def colour_chart_linear_srgb() -> tuple[np.ndarray, list[str]]:
    """(24x3 float32 linear sRGB D65 values, names) of the ColorChecker's patches (``tasks.pixels.colourchecker``).
    Out-of-gamut components (e.g. cyan's red) stay slightly negative."""
    return colourchecker.reference("srgb").astype(np.float32), list(colourchecker.patch_names())


def _chart_cells(width: int, height: int, border: float):
    """Yield (x0, y0, x1, y1) float patch rectangles, row-major from the top-left (dark skin)."""
    bx, by = border * width, border * height
    cw, ch = (width - 2 * bx) / CHART_COLUMNS, (height - 2 * by) / CHART_ROWS
    gap = PATCH_GAP * min(cw, ch) / 2
    for i in range(CHART_ROWS * CHART_COLUMNS):
        r, c = divmod(i, CHART_COLUMNS)
        yield bx + c * cw + gap, by + r * ch + gap, bx + (c + 1) * cw - gap, by + (r + 1) * ch - gap


def chart_patch_boxes(width: int, height: int, *, border: float = 0.02) -> list[tuple[int, int, int, int]]:
    """Integer (x0, y0, x1, y1) boxes of the inner MEASURE_FRACTION of each patch (for measuring)."""
    shrink = (1 - MEASURE_FRACTION) / 2
    return [(round(x0 + shrink * (x1 - x0)), round(y0 + shrink * (y1 - y0)),
             round(x1 - shrink * (x1 - x0)), round(y1 - shrink * (y1 - y0)))
            for x0, y0, x1, y1 in _chart_cells(width, height, border)]


def render_chart(width: int, height: int, *, border: float = 0.02) -> np.ndarray:
    """The 24 patches as a 6x4 grid on dark grey, float32 HxWx3 linear sRGB (negatives clipped)."""
    img = np.full((height, width, 3), CHART_BACKGROUND, np.float32)
    values = np.clip(colour_chart_linear_srgb()[0], 0.0, None)
    for value, (x0, y0, x1, y1) in zip(values, _chart_cells(width, height, border)):
        img[round(y0):round(y1), round(x0):round(x1)] = value
    return img


# --- synthetic scenes -------------------------------------------------------------------------
# Scenes are built planar (3 x H x W: channel-first broadcasting is fast), interleaved at the end.
SCENE_KINDS = ("portrait", "landscape", "interior", "highkey")
GRAIN = 0.012                    # relative per-pixel luminance grain (sensor-noise-like texture)


def _rgb(r: float, g: float, b: float) -> np.ndarray:
    return np.array([r, g, b], np.float32)[:, None, None]


def _value_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth noise in [-1, 1]: a random lattice every `cell` pixels, bilinearly interpolated."""
    lattice = rng.uniform(-1, 1, (int(h / cell) + 2, int(w / cell) + 2)).astype(np.float32)
    y, x = np.arange(h, dtype=np.float32) / cell, np.arange(w, dtype=np.float32) / cell
    iy, ix = y.astype(np.intp), x.astype(np.intp)
    fy, fx = (y - iy.astype(np.float32))[:, None], x - ix.astype(np.float32)
    rows = lattice[:, ix] * (1 - fx) + lattice[:, ix + 1] * fx      # along x on the lattice rows
    return rows[iy] * (1 - fy) + rows[iy + 1] * fy


def _ellipse(x, y, cx, cy, rx, ry, soft=0.08) -> np.ndarray:
    """Soft-edged ellipse mask in [0, 1] (1 inside), evaluated only in its bounding box; `soft` is
    the edge width relative to the radius. x is 1xW, y is Hx1 (normalised coordinates)."""
    mask = np.zeros((y.shape[0], x.shape[1]), np.float32)
    reach = 1 + soft
    y0, y1 = np.searchsorted(y[:, 0], [cy - ry * reach, cy + ry * reach])
    x0, x1 = np.searchsorted(x[0], [cx - rx * reach, cx + rx * reach])
    r = np.sqrt(((x[:, x0:x1] - cx) / rx) ** 2 + ((y[y0:y1] - cy) / ry) ** 2)
    mask[y0:y1, x0:x1] = np.clip((1 + soft - r) / (2 * soft), 0, 1)
    return mask


def _box(x, y, x0, y0, x1, y1) -> np.ndarray:
    return ((x >= x0) & (x < x1) & (y >= y0) & (y < y1)).astype(np.float32)


def _paint(img, mask, colour, shade=1.0) -> None:
    """Composite `colour` (x `shade`) over planar `img` in place where `mask` > 0 (bounding box only)."""
    mask = np.broadcast_to(mask, img.shape[1:])
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return
    box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    shade = np.broadcast_to(np.asarray(shade, np.float32), mask.shape)[box]
    img[(slice(None), *box)] += mask[box] * (colour * shade - img[(slice(None), *box)])


def _portrait(x, y, n, aspect):
    key = 0.55 + 0.45 * (1 - x)                               # key light from the left
    img = _rgb(0.10, 0.14, 0.16) * (key * (0.85 + 0.15 * n))
    _paint(img, _ellipse(x, y, 0.5, 1.05, 0.32 / aspect, 0.35), _rgb(0.06, 0.07, 0.12), key)   # shoulders
    _paint(img, _ellipse(x, y, 0.5, 0.40, 0.17 / aspect, 0.27), _rgb(0.045, 0.03, 0.02), key)  # hair
    fx, fy = (x - 0.5) * aspect / 0.15, (y - 0.47) / 0.23
    relief = np.sqrt(np.clip(1 - fx ** 2 - fy ** 2, 0, 1))    # sphere normal z, lit from upper left
    light = np.clip(0.35 + 0.65 * (relief - 0.5 * fx - 0.2 * fy) / 1.2, 0.1, 1.1)
    _paint(img, _ellipse(x, y, 0.5, 0.47, 0.15 / aspect, 0.23), _rgb(0.56, 0.28, 0.21), light)  # face
    for side in (-1, 1):                                      # eyes
        eye = _ellipse(x, y, 0.5 + side * 0.05 / aspect, 0.44, 0.022 / aspect, 0.012)
        _paint(img, eye, _rgb(0.02, 0.015, 0.015))
    _paint(img, _ellipse(x, y, 0.5, 0.58, 0.04 / aspect, 0.012), _rgb(0.25, 0.06, 0.06), light)  # lips
    return img


def _landscape(x, y, n, aspect):
    horizon = 0.55 + 0.04 * np.sin(x * 7.0 + 1.0) + 0.02 * n[:1]
    t = np.clip(y / 0.6, 0, 1)                                # zenith blue -> pale horizon
    sky = _rgb(0.10, 0.22, 0.55) * (1 - t) + _rgb(0.55, 0.65, 0.80) * t
    cloud = np.clip(n * 2.0 - 0.3, 0, 1) * 0.5
    sky = sky * (1 - cloud) + 0.85 * cloud
    depth = np.clip((y - horizon) / (1.0 - horizon), 0, 1)  # 0 at the horizon, 1 at the bottom
    haze = 0.25 * np.exp(-6 * depth)
    ground = _rgb(0.9, 1.3, 0.45) * ((0.06 + 0.05 * n) * (0.7 + 0.6 * depth) * (1 - haze)) + 0.5 * haze
    return np.where(y > horizon, ground, sky)


def _interior(x, y, n, aspect):
    window_light = np.clip(1.1 - np.hypot((x - 0.72) * aspect, y - 0.35) * 0.9, 0.25, 1)
    img = _rgb(0.42, 0.36, 0.28) * (window_light * (0.95 + 0.05 * n))                   # wall
    planks = 0.8 + 0.2 * np.sin(x * 90 + 3 * n)
    _paint(img, (y > 0.72).astype(np.float32), _rgb(0.20, 0.11, 0.05), planks * window_light)  # floor
    _paint(img, _box(x, y, 0.60, 0.12, 0.86, 0.55), _rgb(0.80, 0.88, 0.98), 1 + 0.05 * n)    # window
    mullions = _box(x, y, 0.725, 0.12, 0.735, 0.55) + _box(x, y, 0.60, 0.33, 0.86, 0.34)
    _paint(img, mullions, _rgb(0.15, 0.15, 0.14))
    _paint(img, _box(x, y, 0.15, 0.55, 0.50, 0.58) + _box(x, y, 0.18, 0.58, 0.20, 0.80)
           + _box(x, y, 0.45, 0.58, 0.47, 0.80), _rgb(0.12, 0.06, 0.03), window_light)       # table
    _paint(img, _ellipse(x, y, 0.25, 0.48, 0.03 / aspect, 0.07), _rgb(0.45, 0.05, 0.04), window_light)  # vase
    plant = _ellipse(x, y, 0.38, 0.45, 0.06 / aspect, 0.10, soft=0.3)
    _paint(img, plant, _rgb(0.05, 0.16, 0.04), window_light)
    return img


def _highkey(x, y, n, aspect):
    img = np.full((3,) + n.shape, 1.6, np.float32)            # blown-out, backlit background
    texture = 0.9 + 0.1 * n
    _paint(img, _ellipse(x, y, 0.5, 1.0, 0.30 / aspect, 0.40), _rgb(0.70, 0.66, 0.62), texture)  # figure
    _paint(img, _ellipse(x, y, 0.5, 0.45, 0.13 / aspect, 0.20), _rgb(0.75, 0.45, 0.36), texture)  # head
    return img


_SCENES = {"portrait": _portrait, "landscape": _landscape, "interior": _interior, "highkey": _highkey}


def render_scene(kind: str, width: int, height: int, *, seed: int = 0) -> np.ndarray:
    """A deterministic photographic-looking scene, float32 HxWx3 linear sRGB in [0, 1]."""
    if kind not in _SCENES:
        raise ValueError(f"unknown scene kind {kind!r}; allowed: {', '.join(SCENE_KINDS)}")
    rng = np.random.default_rng([seed, SCENE_KINDS.index(kind)])
    size = max(width, height)
    n = 0.7 * _value_noise(rng, height, width, size / 8) + 0.3 * _value_noise(rng, height, width, size / 40)
    y = (np.arange(height, dtype=np.float32) / height)[:, None]
    x = (np.arange(width, dtype=np.float32) / width)[None, :]
    planar = _SCENES[kind](x, y, n, np.float32(width / height))
    grain = rng.standard_normal((height, width), dtype=np.float32)
    grain *= GRAIN
    grain += 1
    img = np.empty((height, width, 3), np.float32)
    for c in range(3):
        np.multiply(planar[c], grain, out=img[..., c])
    return np.clip(img, 0.0, 1.0, out=img)
