"""Tone curves: a monotone cubic spline (Fritsch-Carlson) per curve, master then red/green/blue.

Colour space: display-referred, sRGB-encoded values (0 black, 1 white), float32, HxWx3 or Nx3.
Outside [0, 1] (out-of-gamut or over-white values) each curve carries on in a straight line with
its end slope, so nothing folds back."""

from __future__ import annotations

import numpy as np

from presets.model import IDENTITY_CURVE, CurveParams


def spline_slopes(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Tangents of the monotone piecewise-cubic Hermite interpolant through (xs, ys)."""
    delta = np.diff(ys) / np.diff(xs)
    m = np.empty_like(xs)
    m[0], m[-1] = delta[0], delta[-1]
    m[1:-1] = (delta[:-1] + delta[1:]) / 2
    m[1:-1][np.sign(delta[:-1]) != np.sign(delta[1:])] = 0.0
    for k in range(len(delta)):                      # Fritsch-Carlson: limit the tangents
        if delta[k] == 0:
            m[k] = m[k + 1] = 0.0
            continue
        a, b = m[k] / delta[k], m[k + 1] / delta[k]
        r = np.hypot(a, b)
        if r > 3:
            m[k], m[k + 1] = 3 * a / r * delta[k], 3 * b / r * delta[k]
    return m


def evaluate(points, x: np.ndarray) -> np.ndarray:
    """The curve through ``points`` ((x, y) pairs, x increasing) at ``x``."""
    xs, ys = (np.asarray(v, np.float64) for v in zip(*points))
    if len(xs) == 2 and xs[0] == 0 and xs[1] == 1 and ys[0] == 0 and ys[1] == 1:
        return np.asarray(x, np.float32)
    m = spline_slopes(xs, ys)
    x = np.asarray(x, np.float64)
    k = np.clip(np.searchsorted(xs, x) - 1, 0, len(xs) - 2)
    h = xs[k + 1] - xs[k]
    t = np.clip((x - xs[k]) / h, 0.0, 1.0)
    t2, t3 = t * t, t * t * t
    y = ((2 * t3 - 3 * t2 + 1) * ys[k] + (t3 - 2 * t2 + t) * h * m[k]
         + (-2 * t3 + 3 * t2) * ys[k + 1] + (t3 - t2) * h * m[k + 1])
    y = np.where(x < xs[0], ys[0] + m[0] * (x - xs[0]), y)
    y = np.where(x > xs[-1], ys[-1] + m[-1] * (x - xs[-1]), y)
    return y.astype(np.float32)


def is_identity(params: CurveParams) -> bool:
    return all(getattr(params, c) == IDENTITY_CURVE for c in ("master", "red", "green", "blue"))


def apply(image: np.ndarray, params: CurveParams) -> np.ndarray:
    """Display-encoded in, display-encoded out; the input is not modified."""
    out = np.array(image, np.float32)
    if is_identity(params):
        return out
    if params.master != IDENTITY_CURVE:
        out = evaluate(params.master, out)
    for c, name in enumerate(("red", "green", "blue")):
        points = getattr(params, name)
        if points != IDENTITY_CURVE:
            out[..., c] = evaluate(points, out[..., c])
    return out
