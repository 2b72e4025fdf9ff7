"""The X-Rite ColorChecker Classic (24 patches): its reference colours, finding it in a frame, sampling its
patches, and how far measured patches are from the reference.

Colour space of every image and colour here: linear Rec.2020 (D65), float, the working space of
``tasks.pixels.decode``. The reference is colour-science's "ColorChecker24 - After November 2014" (X-Rite's
published values, D50), Bradford-adapted to D65. The chart is found with OpenCV's MCC detector (``cv2.mcc``) on an
8-bit sRGB rendering of the image; when it is not found the caller gives the four outer corners of the patch grid.
The patch interiors are sampled by their median, so dust and scratches do not count.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from tasks.errors import PhotoError
from tasks.pixels.colour import REC2020_LUMA, REC2020_TO_SRGB, delta_e, rgb_to_xyz, science, srgb_encode, to_lab

CHART = "ColorChecker24 - After November 2014"
PATCHES = 24
GREYS = slice(19, 23)              # neutral 8 .. neutral 3.5: white may clip, black is flare-bound
DETECT_LONG_EDGE = 1600            # the detector runs on a rendering at most this large
PATCH_GAP = 0.13                   # ColorChecker Classic: gap between patches / patch side
SAMPLE_FRACTION = 0.5              # corner fallback: sample the inner half of each patch side


# --- the reference ------------------------------------------------------------------------------
@cache
def reference(space: str = "rec2020") -> np.ndarray:
    """The 24 patch colours, row-major from dark skin, in linear RGB of ``space`` (a name of
    ``tasks.pixels.colour.COLOURSPACES``); 24x3 float64, read-only. Out-of-gamut components (cyan's red in
    sRGB) stay negative."""
    colour = science()
    chart = colour.CCS_COLOURCHECKERS[CHART]
    xyz = colour.xyY_to_XYZ(np.array(list(chart.data.values()), np.float64))
    d65 = rgb_to_xyz(space).sum(axis=1)
    adapted = colour.chromatic_adaptation(xyz, colour.xy_to_XYZ(chart.illuminant), d65, method="Von Kries",
                                          transform="Bradford")
    rgb = adapted @ np.linalg.inv(rgb_to_xyz(space)).T
    rgb.flags.writeable = False
    return rgb


@cache
def patch_names() -> tuple[str, ...]:
    """The 24 patches' names, row-major from dark skin ("white 9.5 (.05 D)": a grey's name carries its density)."""
    return tuple(science().CCS_COLOURCHECKERS[CHART].data)


def _grey_rows(patches: list[int] | None) -> list[int] | slice:
    """Rows of a measurement of ``patches`` (all 24 when None) that are the grey patches of GREYS."""
    if patches is None:
        return GREYS
    return [i for i, p in enumerate(patches) if p in range(GREYS.start, GREYS.stop)]


def exposure_gain(measured: np.ndarray, target: np.ndarray | None = None, *, patches: list[int] | None = None
                  ) -> float:
    """The one gain that brings the measured grey patches' luminance to ``target``'s (by default the reference's;
    geometric mean). ``patches`` names the chart patches ``measured``'s rows are, when not all 24."""
    target = (reference() if patches is None else reference()[patches]) if target is None else target
    greys = _grey_rows(patches)
    y_m = np.maximum(measured[greys] @ REC2020_LUMA, 1e-6)
    return float(np.exp(np.mean(np.log(target[greys] @ REC2020_LUMA) - np.log(y_m))))


def patch_delta_e(measured: np.ndarray, *, patches: list[int] | None = None,
                  normalise_exposure: bool = True) -> np.ndarray:
    """CIEDE2000 of measured linear Rec.2020 patch colours against the reference: all 24, or the chart patches
    ``patches`` names, one per row. With ``normalise_exposure`` one gain first matches the grey patches' luminance
    (exposure is the photographer's choice, not a colour error)."""
    measured = np.asarray(measured, np.float64)
    target = reference() if patches is None else reference()[patches]
    if normalise_exposure:
        measured = measured * exposure_gain(measured, target, patches=patches)
    return delta_e(to_lab(target), to_lab(measured))


# --- finding the chart --------------------------------------------------------------------------
class ChartSource(StrEnum):
    DETECTOR = "detector"          # cv2.mcc found it
    CORNERS = "corners"            # the caller gave the four corners


class ChartNotFound(PhotoError):
    """No chart-like pattern in the frame (or the one found runs off its edge)."""


def _detect_view(image: np.ndarray) -> tuple[np.ndarray, float]:
    """An 8-bit BGR sRGB rendering (auto-exposed, at most DETECT_LONG_EDGE) and its scale factor."""
    scale = min(1.0, DETECT_LONG_EDGE / max(image.shape[:2]))
    small = image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    srgb = np.asarray(small, np.float32) @ REC2020_TO_SRGB.T
    bright = float(np.percentile(srgb @ np.float32([0.2126, 0.7152, 0.0722]), 99))
    encoded = srgb_encode(srgb * (0.9 / max(bright, 1e-6)))
    return np.ascontiguousarray((encoded[..., ::-1] * 255 + 0.5).astype(np.uint8)), scale


def detect_chart(image: np.ndarray) -> np.ndarray | None:
    """24x4x2 pixel-coordinate quads of the patch interiors (row-major from dark skin), or None."""
    view, scale = _detect_view(image)
    detector = cv2.mcc.CCheckerDetector.create()
    detector.setColorChartType(cv2.mcc.MCC24)
    if not detector.process(view, 1):
        return None
    quads = np.asarray(detector.getBestColorChecker().getColorCharts(), np.float64).reshape(PATCHES, 4, 2)
    return quads / scale


def quads_from_corners(corners, *, rows: int = 4, columns: int = 6) -> np.ndarray:
    """(rows*columns)x4x2 sampling quads, row-major, from the four outer corners of a patch grid in
    pixels (x, y), clockwise from the top-left as the chart is seen upright: for the whole chart the
    outer corners of dark skin, bluish green, black and white. ``rows``/``columns`` name a smaller
    block when only part of the chart is in the frame. Each quad is the inner SAMPLE_FRACTION of its patch."""
    corners = np.asarray(corners, np.float64)
    if corners.shape != (4, 2):
        raise ValueError(f"corners must be four (x, y) points, got shape {corners.shape}")
    width, height = columns + (columns - 1) * PATCH_GAP, rows + (rows - 1) * PATCH_GAP
    grid = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    homography = cv2.getPerspectiveTransform(grid, corners.astype(np.float32))
    inset = (1 - SAMPLE_FRACTION) / 2
    unit = np.array([[inset, inset], [1 - inset, inset], [1 - inset, 1 - inset], [inset, 1 - inset]])
    cells = [unit + [c * (1 + PATCH_GAP), r * (1 + PATCH_GAP)] for r in range(rows) for c in range(columns)]
    points = np.concatenate(cells).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(points, homography).reshape(rows * columns, 4, 2)


def sample_patches(image: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Per-channel median of the image inside each quad: 24x3 float64 (same space as ``image``)."""
    h, w = image.shape[:2]
    out = np.empty((len(quads), 3))
    for i, quad in enumerate(np.asarray(quads, np.float64)):
        x0, y0 = np.floor(quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h or x1 - x0 < 3 or y1 - y0 < 3:
            raise ValueError(f"patch {i + 1} lies outside the {w}x{h} image or is too small: {quad.round(1).tolist()}")
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.rint(quad - [x0, y0]).astype(np.int32), 1)
        out[i] = np.median(image[y0:y1, x0:x1][mask.astype(bool)], axis=0)
    return out


def locate_chart(image: np.ndarray, source: str | Path, corners=None) -> tuple[np.ndarray, ChartSource]:
    """Quads of the 24 patches: from ``corners`` when given, else from the detector. Whether they are a chart is
    :func:`tasks.pixels.chart_trust.judge_chart`'s question."""
    if corners is not None:
        return quads_from_corners(corners), ChartSource.CORNERS
    quads = detect_chart(image)
    try:
        found = quads is not None and len(sample_patches(image, quads)) == PATCHES
    except ValueError:                     # a "chart" running off the image edge
        found = False
    if not found:
        raise ChartNotFound(
            f"no colour chart found in {Path(source).name}: give the corners with corners=[(x, y) x 4], the outer "
            "corners of the patch grid at dark skin, bluish green, black and white, in pixels of the decoded image")
    return quads, ChartSource.DETECTOR
