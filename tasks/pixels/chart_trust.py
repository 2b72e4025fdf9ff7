"""Is a detected colour chart really a ColorChecker Classic, and is the correction fitted on it safe to grade a
whole session with? A session calibration changes every photo of an order, so a doubtful chart changes none:
each test below names what it measured and the bound, and any failure keeps the session uncalibrated.

The detector (``cv2.mcc``) fits its chart model to whatever grid-like pattern it finds: a wall with a window,
a contact sheet, a board of paint swatches. Its quads are always a perfect grid, so the tests look at what
lies inside them:

1. geometry  - the patches form a regular 6x4 grid (centres on one perspective grid, similar areas) and are
               big enough to sample;
2. patches   - each patch is flat (a printed patch, not texture) and differs from its neighbours (a chart
               has no two alike side by side);
3. neutrals  - the bottom row darkens from white to black in about the chart's steps, and its four middle
               greys share one colour (a cast of the light is allowed, different colours are not);
4. colours   - once the greys are balanced, the colour patches are about as colourful as the chart's;
5. fit       - the fitted correction brings the patches close to the published values, and by enough to
               be worth applying;
6. correction - the correction itself is plausible: applied to the chart's reference colours and to everyday
               colours (skin, sky, foliage, fabrics) it keeps their chroma and hue, it turns the chart's
               greys grey, it shifts white by no more than a light's colour does, and it does not fold
               colours over (its local matrix is well conditioned, with a positive determinant).

Every bound is a constant here with the reason for its value; the figures measured on the real chart shots
(``../shared/samples/raw``: canon_powershot_g2.crw, canon_powershot_s40_b.crw) and on the false detections
are written beside it. Colour space of every input: linear Rec.2020 D65, as ``tasks.pixels.calibrate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from tasks.pixels import calibrate as cal
from tasks.pixels import colourchecker as chart
from tasks.pixels.colour import REC2020_LUMA, chroma_hue, conversion, delta_e, hue_turn, srgb_decode, to_lab

ROWS, COLUMNS = 4, 6
NEUTRAL_ROW = slice(18, 24)        # white 9.5 .. black 2
COLOUR_PATCHES = slice(0, 18)

# --- 1. geometry ---------------------------------------------------------------------------------------------
MAX_GRID_ERROR = 0.15      # largest distance of a patch centre from the best perspective 6x4 grid, in patch
                           # pitches. cv2.mcc returns its model's grid (0.00 on every detection measured); given
                           # corners give 0 too. A hand-placed grid that far off samples the gaps.
MAX_AREA_SPREAD = 3.5      # largest / smallest patch area. Real shots 1.06 (s40_b), 1.10 (g2); a synthetic chart
                           # turned 45 degrees from the camera 1.9-2.4, 55 degrees 2.1-3.0 (two and three chart
                           # widths away). Beyond that the patches are seen at grazing angles, in glare.
MIN_PATCH_SIDE = 6.0       # pixels across a sampled patch interior (sqrt of its area): fewer and a patch's
                           # median is a handful of demosaiced pixels. Real half-size decodes: 70-76;
                           # a 300x200 frame filled by the chart: 22.

# --- 2. patches ----------------------------------------------------------------------------------------------
MAX_PATCH_TEXTURE = 0.25   # luminance spread inside a patch, (90th - 10th percentile) / median, above which a
                           # patch counts as textured. Printed patches are flat: real shots' median patch
                           # 0.05-0.08 (sensor noise), worst 0.18 (a dark patch, noise over a small level).
MAX_TEXTURED_PATCHES = 3   # textured patches a chart may still have (dust, glare on a patch or two). Real shots:
                           # 0 of 24; a wall or a contact sheet seen as a chart: 7-12.
MIN_NEIGHBOUR_DE = 3.0     # CIEDE2000 below which two side-by-side patches count as alike. The reference chart's
                           # closest neighbours are 9.2 apart; the real shots' 6.9 (s40_b), 7.3 (g2).
MAX_ALIKE_NEIGHBOURS = 2   # of the grid's 38 neighbour pairs. Real shots: 0. A wall or a contact sheet seen as a
                           # chart: 15-19; a grey card with a grid: 4.

# --- 3. neutrals ---------------------------------------------------------------------------------------------
STEP_RANGE = (3.5, 12.0)   # luminance of neutral 8 over neutral 3.5. Reference: 6.7; real shots 5.95 (s40_b),
                           # 6.12 (g2): flare lifts the dark patch and lowers it, over-exposure raises it.
MAX_NEUTRAL_CHROMA = 20.0  # CIELAB chroma of the four middle greys as decoded (exposure matched): the light's
                           # cast under the camera's white balance. Real shots 4.4 (s40_b), 10.8 (g2, as
                           # shot); g2 decoded at 3500 K 6.9, 4500 K 16.2, 2800 K 37.4, 8000 K 41.8: a white
                           # balance that far off the light is not for a chart to fix.
MAX_NEUTRAL_SPREAD = 6.0   # a*b* distance of each middle grey from their common colour: one light casts the
                           # same colour on all four. Real shots 1.9 (s40_b), 3.4 (g2); synthetic 0.4. A
                           # window among wall patches: 10.9.

# --- 4. colours ----------------------------------------------------------------------------------------------
CHROMA_RANGE = (0.5, 1.6)  # mean chroma of the 18 colour patches, greys balanced, over the reference's. Real
                           # shots 0.87 (both); a camera whose channels bleed into each other (the tests'
                           # wrong camera) 0.71, the demo camera 0.82. A wall seen as a chart 0.28, a grey card 0.
                           # Too colourful is not a chart either (paint swatches: 1.23 passes this, not the fit).

# --- 5. fit --------------------------------------------------------------------------------------------------
MAX_UNCALIBRATED_DE = 15.0  # mean CIEDE2000 of the patches before correction (exposure matched). Real shots
                            # 4.8 (s40_b), 5.9 (g2), the tests' wrong camera 5.2; a chart with its colours'
                            # channels swapped 34, every false detection seen 17-30.
MAX_FIT_DE = 4.0            # mean CIEDE2000 after correction. Real shots 1.63 (g2), 1.86 (s40_b); bench/color.py
                            # holds them at <= 2.0. A pattern no correction can bring to the chart: 17-29.
MAX_FIT_SHARE = 0.75        # the fit must take off at least a quarter of the error to be worth applying: real
                            # shots keep 0.28 (g2) and 0.39 (s40_b) of it. A camera already within a couple of
                            # dE00 of the chart gains little and risks over-fitting the chart's patches.

# --- 6. the correction ---------------------------------------------------------------------------------------
MAX_WHITE_SHIFT = 25.0      # how far the correction moves white (CIELAB chroma of where (1, 1, 1) lands):
                            # the white balance it applies. Real fits 6.7 (s40_b), 14.1 (g2); g2 decoded at
                            # 4500 K 21.2, at 2800 K 36.8 (refused at the greys already).
CORRECTION_CHROMA_RANGE = (0.75, 2.0)   # mean chroma of the everyday and reference colours after the
                            # correction (its white balance taken out) over before. Real fits 1.19-1.20; the
                            # demo camera 1.26, the tests' wrong camera (channels bleeding 25%) 1.54. The
                            # false detections' fits: 0.03-0.42 (walls, paint swatches), 2.78 (a grey card).
MAX_HUE_TURN = 45.0         # degrees: the largest hue change the correction makes to a colour of chroma 20 or
                            # more (white balance taken out). Real fits 21.3 (g2), 23.6 (s40_b: both on the
                            # chart's cyan, outside the camera's gamut), the wrong camera 26.9; a channel swap
                            # 159, the false detections' fits 49-177.
MAX_MEAN_HUE_TURN = 20.0    # degrees, the same averaged over those colours weighted by chroma: a turn of the
                            # whole palette. Real fits 5.2 (g2), 5.9 (s40_b), the wrong camera 10.9; a channel
                            # swap 119, walls and a contact sheet seen as a chart 77-83.
MAX_GREY_CHROMA = 4.0       # the chart's measured greys after the correction (exposure matched): they must
                            # come out grey. Real fits 1.30 (s40_b), 1.63 (g2).
MAX_CONDITION = 12.0        # condition number of the correction's local 3x3 at mid grey: how unevenly it
                            # stretches colour. Real fits 1.5, the wrong camera 1.9; false detections' fits
                            # 29-57000 (noise in one channel amplified into colour blotches). Its
                            # determinant must be positive (no colours folded over).

# Everyday colours a session holds, encoded sRGB (the chart's reference colours are added to them).
EVERYDAY_SRGB = np.array([
    [0.94, 0.78, 0.69], [0.78, 0.57, 0.44], [0.45, 0.30, 0.22],      # light, medium, dark skin
    [0.45, 0.62, 0.85], [0.30, 0.45, 0.20], [0.55, 0.35, 0.20],      # sky, foliage, wood
    [0.75, 0.10, 0.15], [0.12, 0.15, 0.30], [0.95, 0.85, 0.20],      # red dress, navy suit, yellow flowers
    [0.70, 0.60, 0.85], [0.10, 0.55, 0.55], [0.85, 0.45, 0.60],      # lavender, teal, pink
], np.float64)


class ChartCheck(StrEnum):
    GEOMETRY = "geometry"
    PATCHES = "patches"
    NEUTRALS = "neutrals"
    COLOURS = "colours"
    FIT = "fit"
    IMPROVEMENT = "improvement"    # a real chart, but the camera already matches it: nothing worth correcting
    CORRECTION = "correction"


@dataclass(frozen=True)
class Doubt:
    check: ChartCheck
    message: str


def judged_colours() -> np.ndarray:
    """The colours a correction is judged on: everyday colours and the chart's 24 reference colours, linear
    Rec.2020, N x 3."""
    everyday = srgb_decode(EVERYDAY_SRGB).astype(np.float64) @ conversion("srgb", "rec2020").T
    return np.vstack([everyday, chart.reference()])


def _lab(rgb: np.ndarray, *, grey_gain_from: np.ndarray | None = None) -> np.ndarray:
    """CIELAB of linear Rec.2020 rows, exposure matched on the chart's greys when ``grey_gain_from`` (24 x 3)."""
    gain = 1.0 if grey_gain_from is None else chart.exposure_gain(grey_gain_from)
    return to_lab(np.maximum(np.asarray(rgb, np.float64) * gain, 1e-9))


def _chroma(lab: np.ndarray) -> np.ndarray:
    return chroma_hue(lab)[0]


# --- the chart -----------------------------------------------------------------------------------------------
def _ideal_centres() -> np.ndarray:
    pitch = 1 + chart.PATCH_GAP
    return np.array([[(c + 0.5) * pitch, (r + 0.5) * pitch] for r in range(ROWS) for c in range(COLUMNS)],
                    np.float32)


def _geometry(quads: np.ndarray) -> list[Doubt]:
    centres = quads.mean(axis=1).astype(np.float32)
    homography, _ = cv2.findHomography(_ideal_centres(), centres, 0)
    if homography is None:
        return [Doubt(ChartCheck.GEOMETRY, "the patches do not lie on a 6x4 grid")]
    fitted = cv2.perspectiveTransform(_ideal_centres().reshape(-1, 1, 2), homography).reshape(-1, 2)
    grid = centres.reshape(ROWS, COLUMNS, 2)
    pitch = float(np.median(np.r_[np.linalg.norm(np.diff(grid, axis=1), axis=2).ravel(),
                                  np.linalg.norm(np.diff(grid, axis=0), axis=2).ravel()]))
    error = float(np.linalg.norm(fitted - centres, axis=1).max()) / max(pitch, 1e-6)
    areas = np.array([abs(cv2.contourArea(q.astype(np.float32))) for q in quads])
    doubts = []
    if error > MAX_GRID_ERROR:
        doubts.append(Doubt(ChartCheck.GEOMETRY, f"the patches are off a regular 6x4 grid by up to {error:.2f} "
                                                 f"of their spacing (limit {MAX_GRID_ERROR})"))
    if areas.min() <= 0 or areas.max() / areas.min() > MAX_AREA_SPREAD:
        doubts.append(Doubt(ChartCheck.GEOMETRY, f"the patches' sizes differ {areas.max() / max(areas.min(), 1e-9):.2f}"
                                                 f" times (limit {MAX_AREA_SPREAD})"))
    if np.sqrt(np.median(areas)) < MIN_PATCH_SIDE:
        doubts.append(Doubt(ChartCheck.GEOMETRY, f"the patches are {np.sqrt(np.median(areas)):.1f} px across "
                                                 f"(at least {MIN_PATCH_SIDE:g} needed to measure them)"))
    return doubts


def patch_textures(image: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Per patch: luminance (90th - 10th percentile) / median inside its quad."""
    h, w = image.shape[:2]
    out = np.zeros(len(quads))
    for i, quad in enumerate(np.asarray(quads, np.float64)):
        x0, y0 = np.maximum(np.floor(quad.min(axis=0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(quad.max(axis=0)).astype(int) + 1, [w, h])
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, np.rint(quad - [x0, y0]).astype(np.int32), 1)
        y = image[y0:y1, x0:x1][mask.astype(bool)] @ REC2020_LUMA
        p10, p50, p90 = np.percentile(y, [10, 50, 90])
        out[i] = (p90 - p10) / max(p50, 1e-4)
    return out


def neighbour_pairs() -> list[tuple[int, int]]:
    """The 38 side-by-side patch pairs of the 6x4 grid."""
    pairs = [(r * COLUMNS + c, r * COLUMNS + c + 1) for r in range(ROWS) for c in range(COLUMNS - 1)]
    return pairs + [(r * COLUMNS + c, (r + 1) * COLUMNS + c) for r in range(ROWS - 1) for c in range(COLUMNS)]


def _patches(image: np.ndarray, quads: np.ndarray, measured: np.ndarray) -> list[Doubt]:
    doubts = []
    textured = int((patch_textures(image, quads) > MAX_PATCH_TEXTURE).sum())
    if textured > MAX_TEXTURED_PATCHES:
        doubts.append(Doubt(ChartCheck.PATCHES, f"{textured} of 24 patches are not flat (texture over "
                                                f"{MAX_PATCH_TEXTURE:.0%} of their level; {MAX_TEXTURED_PATCHES} allowed)"))
    lab = _lab(measured, grey_gain_from=measured)
    first, second = np.array(neighbour_pairs()).T
    alike = int((delta_e(lab[first], lab[second]) < MIN_NEIGHBOUR_DE).sum())
    if alike > MAX_ALIKE_NEIGHBOURS:
        doubts.append(Doubt(ChartCheck.PATCHES, f"{alike} pairs of neighbouring patches are alike (dE00 under "
                                                f"{MIN_NEIGHBOUR_DE:g}; a chart has none, {MAX_ALIKE_NEIGHBOURS} allowed)"))
    return doubts


def _neutrals(measured: np.ndarray) -> list[Doubt]:
    doubts = []
    y = measured[NEUTRAL_ROW] @ REC2020_LUMA
    if not np.all(np.diff(y) < 0):
        doubts.append(Doubt(ChartCheck.NEUTRALS, "the bottom row does not darken step by step from white to black"))
    step = y[1] / max(y[4], 1e-9)
    if not STEP_RANGE[0] <= step <= STEP_RANGE[1]:
        doubts.append(Doubt(ChartCheck.NEUTRALS, f"neutral 8 is {step:.1f} times as light as neutral 3.5 (a chart: "
                                                 f"{STEP_RANGE[0]:g}-{STEP_RANGE[1]:g})"))
    greys = _lab(measured, grey_gain_from=measured)[chart.GREYS]
    chroma = float(_chroma(greys).max())
    spread = float(np.linalg.norm(greys[:, 1:] - greys[:, 1:].mean(axis=0), axis=1).max())
    if chroma > MAX_NEUTRAL_CHROMA:
        doubts.append(Doubt(ChartCheck.NEUTRALS, f"the greys are coloured (chroma {chroma:.1f}, limit "
                                                 f"{MAX_NEUTRAL_CHROMA:g})"))
    if spread > MAX_NEUTRAL_SPREAD:
        doubts.append(Doubt(ChartCheck.NEUTRALS, f"the greys are not one colour (up to {spread:.1f} a*b* apart, "
                                                 f"limit {MAX_NEUTRAL_SPREAD:g})"))
    return doubts


def balanced_chroma_ratio(measured: np.ndarray) -> float:
    """Mean chroma of the colour patches, per-channel balanced on the greys, over the reference's."""
    reference = chart.reference()
    greys = measured[chart.GREYS]
    gains = (greys * reference[chart.GREYS]).sum(axis=0) / np.maximum((greys ** 2).sum(axis=0), 1e-12)
    seen = _chroma(_lab(measured * gains))[COLOUR_PATCHES].mean()
    return float(seen / _chroma(_lab(reference))[COLOUR_PATCHES].mean())


def _colours(measured: np.ndarray) -> list[Doubt]:
    ratio = balanced_chroma_ratio(measured)
    if CHROMA_RANGE[0] <= ratio <= CHROMA_RANGE[1]:
        return []
    return [Doubt(ChartCheck.COLOURS, f"the colour patches have {ratio:.0%} of a chart's chroma (a chart: "
                                      f"{CHROMA_RANGE[0]:.0%}-{CHROMA_RANGE[1]:.0%})")]


def judge_chart(image: np.ndarray, quads: np.ndarray, measured: np.ndarray) -> list[Doubt]:
    """Doubts that the 24 ``quads`` of ``image`` (sampled as ``measured``) are a ColorChecker; [] if none."""
    quads = np.asarray(quads, np.float64)
    measured = np.asarray(measured, np.float64)
    return _geometry(quads) + _patches(image, quads, measured) + _neutrals(measured) + _colours(measured)


# --- the fit -------------------------------------------------------------------------------------------------
def judge_fit(uncalibrated_mean_de: float, fit_mean_de: float) -> list[Doubt]:
    """Doubts about the fit's residual: the chart's patches before and after the correction."""
    if uncalibrated_mean_de > MAX_UNCALIBRATED_DE:
        return [Doubt(ChartCheck.FIT, f"its patches are mean dE00 {uncalibrated_mean_de:.1f} from a chart's "
                                      f"(limit {MAX_UNCALIBRATED_DE:g})")]
    if fit_mean_de > MAX_FIT_DE:
        return [Doubt(ChartCheck.FIT, f"the best correction leaves its patches mean dE00 {fit_mean_de:.1f} from a "
                                      f"chart's (limit {MAX_FIT_DE:g})")]
    if fit_mean_de > MAX_FIT_SHARE * uncalibrated_mean_de:
        return [Doubt(ChartCheck.IMPROVEMENT, f"the camera already matches the chart (mean dE00 "
                                             f"{uncalibrated_mean_de:.2f}; a correction would bring it only to "
                                             f"{fit_mean_de:.2f})")]
    return []


# --- the correction ------------------------------------------------------------------------------------------
def white_point(matrix: np.ndarray) -> np.ndarray:
    """Where the correction sends white (1, 1, 1), linear Rec.2020."""
    return cal.transform(np.ones((1, 3)), np.asarray(matrix, np.float64))[0]


def local_matrix(matrix: np.ndarray, at: float = 0.18) -> np.ndarray:
    """The correction's 3x3 Jacobian at grey ``at`` (for a 3x3 matrix, the matrix itself)."""
    matrix = np.asarray(matrix, np.float64)
    base, step = np.full(3, at), 1e-5
    return np.column_stack([(cal.transform((base + step * np.eye(3)[k])[None], matrix)[0]
                             - cal.transform((base - step * np.eye(3)[k])[None], matrix)[0]) / (2 * step)
                            for k in range(3)])


@dataclass(frozen=True)
class CorrectionMeasures:
    white_shift: float      # CIELAB chroma of the corrected white
    chroma_ratio: float     # mean chroma after / before, white balance taken out, test colours
    hue_turn: float         # largest hue change, degrees, of judged colours of chroma >= 20
    mean_hue_turn: float    # the same, mean weighted by chroma
    grey_chroma: float      # largest chroma of the chart's measured greys after correction (nan: no chart)
    condition: float        # condition number of the local 3x3 at mid grey
    determinant: float


def measure_correction(matrix: np.ndarray, measured: np.ndarray | None = None) -> CorrectionMeasures:
    """What ``matrix`` (3x3 or 3x6, linear Rec.2020) does to colours; ``measured`` the chart's 24 patches it was
    fitted on, if known."""
    matrix = np.asarray(matrix, np.float64)
    white = white_point(matrix)
    white_lab = _lab(white[None] / max(float(white @ REC2020_LUMA), 1e-9))[0]
    colours = judged_colours()
    after = cal.transform(colours, matrix) / np.maximum(white, 1e-9)       # its white balance taken out
    before_lab, after_lab = _lab(colours), _lab(after * (colours @ REC2020_LUMA).sum()
                                                / max(float((after @ REC2020_LUMA).sum()), 1e-9))
    (before_c, before_h), (after_c, after_h) = chroma_hue(before_lab), chroma_hue(after_lab)
    hue = hue_turn(before_h, after_h)
    coloured = before_c >= 20
    weight = before_c * coloured
    grey_chroma = float("nan")
    if measured is not None:
        corrected = cal.transform(np.asarray(measured, np.float64), matrix)
        grey_chroma = float(_chroma(_lab(corrected, grey_gain_from=corrected)[chart.GREYS]).max())
    local = local_matrix(matrix)
    return CorrectionMeasures(white_shift=float(_chroma(white_lab)),
                              chroma_ratio=float(after_c.mean() / before_c.mean()), hue_turn=float(hue[coloured].max()),
                              mean_hue_turn=float((hue * weight).sum() / weight.sum()), grey_chroma=grey_chroma,
                              condition=float(np.linalg.cond(local)), determinant=float(np.linalg.det(local)))


def judge_correction(matrix: np.ndarray, measured: np.ndarray | None = None) -> list[Doubt]:
    """Doubts that the correction ``matrix`` is safe to apply to a whole session; [] if none."""
    m = measure_correction(matrix, measured)
    doubts = []

    def doubt(text: str) -> None:
        doubts.append(Doubt(ChartCheck.CORRECTION, text))

    if not np.isfinite([m.white_shift, m.chroma_ratio, m.condition, m.determinant]).all():
        return [Doubt(ChartCheck.CORRECTION, "the correction gives no finite colours")]
    if m.white_shift > MAX_WHITE_SHIFT:
        doubt(f"it would tint white by chroma {m.white_shift:.1f} (limit {MAX_WHITE_SHIFT:g})")
    low, high = CORRECTION_CHROMA_RANGE
    if not low <= m.chroma_ratio <= high:
        doubt(f"it would leave colours {m.chroma_ratio:.0%} as colourful ({low:.0%}-{high:.0%} allowed)")
    if m.hue_turn > MAX_HUE_TURN or m.mean_hue_turn > MAX_MEAN_HUE_TURN:
        doubt(f"it would turn hues by up to {m.hue_turn:.0f} degrees, {m.mean_hue_turn:.0f} on average (limits "
              f"{MAX_HUE_TURN:g}, {MAX_MEAN_HUE_TURN:g})")
    if m.grey_chroma > MAX_GREY_CHROMA:
        doubt(f"the chart's greys would come out coloured (chroma {m.grey_chroma:.1f}, limit {MAX_GREY_CHROMA:g})")
    if m.determinant <= 0 or m.condition > MAX_CONDITION:
        doubt(f"it stretches colours unevenly (condition {m.condition:.1f}, limit {MAX_CONDITION:g}"
              + (", colours folded over" if m.determinant <= 0 else "") + ")")
    return doubts
