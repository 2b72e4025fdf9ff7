"""Session calibration from a shot of an X-Rite ColorChecker Classic (24 patches).

Input and output colour space: linear Rec.2020 (D65), float32, HxWx3 (the working space of
``tasks.pixels.decode``). ``tasks.pixels.colourchecker`` finds the chart and samples its 24 patches; a colour
correction is fitted here in linear RGB from measured to the published reference:

1. per-channel gains on the grey patches fix white balance (and, with ``normalise_exposure``, exposure);
2. a 3x3 matrix whose rows sum to 1 (greys stay grey) fixes the colours: least squares weighted by
   1/luminance (dark patches count as much as light ones), then refined to minimise the mean CIEDE2000;
3. by default (``CalibrationModel.ROOT_POLYNOMIAL``) that matrix seeds a second-order root-polynomial
   correction (Finlayson, Mackiewicz & Hurlbert 2015): a 3x6 matrix on (r, g, b, sqrt(rg), sqrt(gb),
   sqrt(rb)), rows summing to 1, refined on the mean CIEDE2000. Every term scales with exposure, so the
   correction is exposure-invariant like the 3x3; on the real chart shots it predicts held-out patches
   and another frame of the session better than the 3x3 (bench/README.md).

Both refinements minimise what is reported: the mean (not the mean square) CIEDE2000 of the patches, by
iteratively reweighted least squares on the CIEDE2000 components, with the exposure that
:func:`~tasks.pixels.colourchecker.patch_delta_e` measures at (one gain matching the grey patches' luminance),
not a free factor.

Nothing is fitted on a doubtful chart: ``tasks.pixels.chart_trust`` checks that the pattern found is a
ColorChecker (geometry, flat and distinct patches, the neutral row, the colours) and that the correction is
safe (residual, improvement, what it does to everyday colours); :class:`ChartRejected` says which failed.

The result is a :class:`CalibrationResult`, JSON-ready, to record with the order; :func:`apply`
(and :func:`transform`, which ``tasks.pixels.look`` bakes into the fused LUT) applies its matrix,
3x3 or 3x6, to any image of the session.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tasks.errors import PhotoError
from tasks.pixels import colourchecker
from tasks.pixels.colour import REC2020_LUMA, to_lab
from tasks.pixels.colourchecker import GREYS, PATCHES, ChartSource, exposure_gain, patch_delta_e, sample_patches

CALIBRATION_VERSION = 2         # 2: the model field; root-polynomial fits (1: 3x3 only)
CLIPPED = 0.99                     # a measured channel this high (of 1.0) is treated as clipped
MEAN_DE_ROUNDS = 5                 # reweighting rounds of the mean-CIEDE2000 fit (the first is least squares)
MEAN_DE_EPS = 0.05                 # dE below this weighs as this in the reweighting (no division by 0)


# CIEDE2000 split into components, hand-written for a reason: the fit below minimises the mean CIEDE2000 by least
# squares on its components, which colour-science does not give (its delta_E returns the norm only).
# tests/test_calibrate.py holds their norm to colour-science's CIEDE2000.
def _ciede2000_terms(lab1: np.ndarray, lab2: np.ndarray) -> tuple[np.ndarray, ...]:
    """dL'/SL, dC'/SC, dH'/SH and RT of CIEDE2000 (kL = kC = kH = 1), after Sharma, Wu & Dalal (2005)."""
    L1, a1, b1 = np.asarray(lab1, np.float64).T
    L2, a2, b2 = np.asarray(lab2, np.float64).T
    c7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c7 / (c7 + 25.0 ** 7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p, h2p = np.degrees(np.arctan2(b1, a1p)) % 360, np.degrees(np.arctan2(b2, a2p)) % 360
    dh = h2p - h1p
    dh = np.where(c1p * c2p == 0, 0, np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh)))
    dH = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    L_bar, C_bar, h_sum = (L1 + L2) / 2, (c1p + c2p) / 2, h1p + h2p
    h_bar = np.where(c1p * c2p == 0, h_sum, np.where(np.abs(h1p - h2p) <= 180, h_sum / 2,
                                                     np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)))
    T = (1 - 0.17 * np.cos(np.radians(h_bar - 30)) + 0.24 * np.cos(np.radians(2 * h_bar))
         + 0.32 * np.cos(np.radians(3 * h_bar + 6)) - 0.20 * np.cos(np.radians(4 * h_bar - 63)))
    SL = 1 + 0.015 * (L_bar - 50) ** 2 / np.sqrt(20 + (L_bar - 50) ** 2)
    SC, SH = 1 + 0.045 * C_bar, 1 + 0.015 * C_bar * T
    C_bar7 = C_bar ** 7
    RT = -2 * np.sqrt(C_bar7 / (C_bar7 + 25.0 ** 7)) * np.sin(np.radians(60 * np.exp(-(((h_bar - 275) / 25) ** 2))))
    return (L2 - L1) / SL, (c2p - c1p) / SC, dH / SH, RT


def ciede2000_components(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """N x 3 whose row norms are CIEDE2000 (``tasks.pixels.colour.delta_e``): (dL'/SL, dC'/SC + RT/2 dH'/SH, sqrt(1 - RT^2/4) dH'/SH)
    (|RT| <= 2). Smooth where the difference is 0, unlike the norm itself, so a least-squares solver
    on them converges where one on the dE values stalls."""
    dl, dc, dh, rt = _ciede2000_terms(lab1, lab2)
    return np.stack([dl, dc + rt * dh / 2, np.sqrt(1 - rt * rt / 4) * dh], axis=1)


class ChartRejected(PhotoError):
    """A chart-like pattern was found, but it is not a ColorChecker, or the correction fitted on it is not safe to
    apply (``tasks.pixels.chart_trust``). ``doubts`` says why, each with the check that failed."""

    def __init__(self, source: str | Path, doubts: list) -> None:  # list[chart_trust.Doubt]
        self.source = Path(source).name
        self.doubts = list(doubts)
        super().__init__(f"{self.source}: not used for calibration: " + "; ".join(d.message for d in self.doubts))

    @property
    def is_chart(self) -> bool:
        """A real chart, only not worth correcting for: the camera already matches it."""
        from tasks.pixels.chart_trust import ChartCheck

        return all(d.check is ChartCheck.IMPROVEMENT for d in self.doubts)


class CalibrationModel(StrEnum):
    MATRIX = "matrix_3x3"                        # 3x3 on (r, g, b)
    ROOT_POLYNOMIAL = "root_polynomial_2"        # 3x6 on (r, g, b, sqrt(rg), sqrt(gb), sqrt(rb))


def root_polynomial_terms(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) linear RGB -> (..., 6) second-order root-polynomial terms (negatives taken as 0)."""
    x = np.maximum(np.asarray(rgb), 0)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    return np.stack([r, g, b, np.sqrt(r * g), np.sqrt(g * b), np.sqrt(r * b)], axis=-1)


def transform(rgb: np.ndarray, matrix) -> np.ndarray:
    """A calibration on (..., 3) linear Rec.2020 values: ``matrix`` 3x3 (on r, g, b) or 3x6 (on the
    root-polynomial terms). Same dtype as ``rgb`` when it is float32; negatives are not clipped here."""
    m = np.asarray(matrix, np.float32 if np.asarray(rgb).dtype == np.float32 else np.float64)
    if m.shape == (3, 3):
        return rgb @ m.T
    if m.shape == (3, 6):
        return root_polynomial_terms(rgb).astype(m.dtype, copy=False) @ m.T
    raise ValueError(f"expected a 3x3 or 3x6 calibration matrix, got shape {m.shape}")


# --- fitting ----------------------------------------------------------------------------------
def _with_neutral_rows(free: np.ndarray) -> np.ndarray:
    """3x3 whose rows sum to 1 from its 6 free entries (columns 0 and 1)."""
    free = np.asarray(free, np.float64).reshape(3, 2)
    return np.column_stack([free, 1 - free.sum(axis=1)])


def _levenberg_marquardt(residuals, x0: np.ndarray, *, iterations: int = 60) -> np.ndarray:
    """Minimise sum(residuals(x)^2) from x0 (numeric Jacobian; a handful of parameters)."""
    x, damping = np.asarray(x0, np.float64).copy(), 1e-3
    r = residuals(x)
    cost = r @ r
    for _ in range(iterations):
        jac = np.empty((r.size, x.size))
        for k in range(x.size):
            step = np.zeros_like(x)
            step[k] = 1e-6
            jac[:, k] = (residuals(x + step) - r) / 1e-6
        normal, grad = jac.T @ jac, jac.T @ r
        while damping < 1e8:
            delta = np.linalg.solve(normal + damping * np.diag(np.diag(normal) + 1e-12), -grad)
            r_new = residuals(x + delta)
            if r_new @ r_new < cost:
                x, r, cost, damping = x + delta, r_new, r_new @ r_new, max(damping / 10, 1e-9)
                break
            damping *= 10
        else:
            break
        if np.abs(delta).max() < 1e-8:
            break
    return x


def _grey_gain(rgb: np.ndarray, greys: np.ndarray, log_reference_luma: np.ndarray) -> float:
    """The one gain that matches the luminance of ``rgb``'s ``greys`` rows to the reference's (geometric
    mean, as :func:`exposure_gain`): the exposure :func:`patch_delta_e` and the bench normalise to, so a fit
    that takes its exposure from it optimises what they measure."""
    y = np.maximum(rgb[greys] @ REC2020_LUMA, 1e-9)
    return float(np.exp(np.mean(log_reference_luma - np.log(y))))


def _fit_mean_de(predict, x0: np.ndarray, target_lab: np.ndarray) -> np.ndarray:
    """Parameters x minimising the MEAN CIEDE2000 of ``predict(x)`` (N x 3 linear) against ``target_lab``:
    iteratively reweighted least squares, each round a Levenberg-Marquardt on the CIEDE2000 components
    weighted by 1/sqrt(max(dE, MEAN_DE_EPS)) from the round before (sum of w^2 dE^2 = sum of dE at the
    fixed point), MEAN_DE_ROUNDS rounds. The first round is the plain least-squares fit (the mean of squares)."""
    def components(x: np.ndarray) -> np.ndarray:
        return ciede2000_components(target_lab, to_lab(np.maximum(predict(x), 1e-9)))

    x, weight = np.asarray(x0, np.float64), np.ones(len(target_lab))
    for _ in range(MEAN_DE_ROUNDS):
        x = _levenberg_marquardt(lambda t, w=weight: (components(t) * w[:, None]).ravel(), x)
        weight = 1 / np.sqrt(np.maximum(np.linalg.norm(components(x), axis=1), MEAN_DE_EPS))
    return x


def _fit_inputs(measured: np.ndarray, reference: np.ndarray | None, use: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """What both fits start from: the measured patches and the reference (float64), the patches to fit on
    (``use``, default: those not clipped), the usable grey patches among them, and the per-channel gains that
    bring the measured greys to the reference's (white balance and exposure). ValueError when too few are usable."""
    measured = np.asarray(measured, np.float64)
    reference = colourchecker.reference() if reference is None else np.asarray(reference, np.float64)
    use = (measured.max(axis=1) < CLIPPED) if use is None else np.asarray(use, bool)
    greys = np.zeros(len(measured), bool)
    greys[GREYS] = True
    greys &= use
    if greys.sum() < 2 or use.sum() < 8:
        raise ValueError(f"too few usable patches to fit ({int(use.sum())} unclipped, {int(greys.sum())} greys)")
    gains = (measured[greys] * reference[greys]).sum(axis=0) / (measured[greys] ** 2).sum(axis=0)
    return measured, reference, use, greys, gains


def fit_matrix(measured: np.ndarray, reference: np.ndarray | None = None, *, normalise_exposure: bool = True,
               use: np.ndarray | None = None) -> np.ndarray:
    """3x3 matrix M with M @ measured ~ reference (linear RGB) that keeps greys grey. ``use`` is a
    boolean mask of patches to fit on (default: all that are not clipped).

    White balance comes from per-channel gains on the grey patches; the colour part (rows summing
    to 1) starts from a luminance-weighted least-squares fit in linear RGB and is then refined to
    minimise the mean CIEDE2000 over the patches, exposure matched on the grey patches' luminance (as
    :func:`patch_delta_e` measures). Without ``normalise_exposure`` the matrix keeps the measured
    exposure (only colour and white balance change)."""
    measured, reference, use, greys, gains = _fit_inputs(measured, reference, use)   # 1. white balance, exposure
    balanced = measured[use] * gains
    target = reference[use]
    # 2. colour, linear least squares: two free entries per row, weighted by 1/luminance
    weight = 1.0 / np.maximum(target @ REC2020_LUMA, 0.01)
    x = balanced * weight[:, None]
    a = x[:, :2] - x[:, 2:3]
    free = np.array([np.linalg.lstsq(a, target[:, c] * weight - x[:, 2], rcond=None)[0] for c in range(3)])
    # 3. refine the colour part on mean CIEDE2000, exposure set by the grey patches as it is measured
    target_lab = to_lab(target)
    fit_greys, log_grey_luma = greys[use], np.log(target[greys[use]] @ REC2020_LUMA)

    def predict(theta: np.ndarray) -> np.ndarray:
        out = balanced @ _with_neutral_rows(theta).T
        return out * _grey_gain(out, fit_greys, log_grey_luma)

    colour = _with_neutral_rows(_fit_mean_de(predict, free.ravel(), target_lab))
    matrix = _grey_gain(balanced @ colour.T, fit_greys, log_grey_luma) * colour @ np.diag(gains)
    if not normalise_exposure:
        matrix *= exposure_gain(measured @ matrix.T, measured)     # back to the exposure as measured
    return matrix


def fit_root_polynomial(measured: np.ndarray, reference: np.ndarray | None = None, *,
                        normalise_exposure: bool = True, use: np.ndarray | None = None) -> np.ndarray:
    """3x6 matrix A with A @ root_polynomial_terms(measured) ~ reference that keeps greys grey,
    seeded by :func:`fit_matrix` and refined on the mean CIEDE2000 (same gains, ``use`` and exposure handling)."""
    measured, reference, use, greys, gains = _fit_inputs(measured, reference, use)
    matrix = fit_matrix(measured, reference, use=use)
    colour = matrix @ np.diag(1 / gains)
    scale = float(colour.sum(axis=1).mean())
    start = np.column_stack([colour / scale, np.zeros((3, 3))])     # the 3x3, as a 3x6
    terms = root_polynomial_terms(measured[use] * gains)
    target_lab = to_lab(reference[use])
    fit_greys, log_grey_luma = greys[use], np.log(reference[use][greys[use]] @ REC2020_LUMA)

    def rows(free: np.ndarray) -> np.ndarray:                       # rows sum to 1: greys stay grey
        free = np.asarray(free).reshape(3, 5)
        return np.column_stack([free, 1 - free.sum(axis=1)])

    def predict(theta: np.ndarray) -> np.ndarray:
        out = terms @ rows(theta).T
        return out * _grey_gain(out, fit_greys, log_grey_luma)

    fitted = rows(_fit_mean_de(predict, start[:, :5].ravel(), target_lab))
    g = gains
    folded = np.array([g[0], g[1], g[2], np.sqrt(g[0] * g[1]), np.sqrt(g[1] * g[2]), np.sqrt(g[0] * g[2])])
    exposure = _grey_gain(terms @ fitted.T, fit_greys, log_grey_luma)
    result = exposure * fitted * folded                             # the gains folded into the columns
    if not normalise_exposure:
        result *= exposure_gain(transform(measured, result), measured)
    return result


def apply(image: np.ndarray, matrix) -> np.ndarray:
    """Linear Rec.2020 in, linear Rec.2020 out (negatives clipped); ``matrix`` 3x3 or 3x6 (see
    :func:`transform`); the input is not modified."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 image, got shape {image.shape}")
    m = np.asarray(matrix, np.float32)
    if m.shape == (3, 3):
        out = cv2.transform(np.ascontiguousarray(image, np.float32), m)
    elif m.shape == (3, 6):
        out = transform(np.asarray(image, np.float32), m)
    else:
        raise ValueError(f"expected a 3x3 or 3x6 calibration matrix, got shape {m.shape}")
    return np.maximum(out, 0.0, out=out)


class CalibrationResult(BaseModel):
    """A fitted session calibration, as recorded with the order (``model_dump_json``)."""
    model_config = ConfigDict(frozen=True)
    version: int = Field(CALIBRATION_VERSION, description="Bumped when the fit changes meaning.")
    source: str = Field(description="The chart shot: its name on the card (folders included) once recorded with an "
                        "order; the file name alone in orders recorded before.", max_length=1024)
    working_space: str = Field("linear Rec.2020 D65", description="Space the matrix maps from and to.")
    model: CalibrationModel = Field(CalibrationModel.MATRIX, description="What the matrix acts on; version-1 "
                                    "records have none and are 3x3.")
    matrix: list[list[float]] = Field(description="3x3 (model matrix_3x3: out = matrix @ rgb per pixel) or 3x6 "
                                      "(root_polynomial_2: out = matrix @ (r, g, b, sqrt(rg), sqrt(gb), sqrt(rb))).")
    found_by: ChartSource
    patches_found: int = Field(ge=0, le=PATCHES)
    patches_used: int = Field(ge=0, le=PATCHES, description="Patches fitted on (clipped ones are left out).")
    exposure_normalised: bool = Field(description="Whether the matrix also sets exposure from the grey patches.")
    uncalibrated_mean_de: float = Field(ge=0, description="Mean CIEDE2000 of the 24 patches before (exposure-matched).")
    uncalibrated_max_de: float = Field(ge=0)
    fit_mean_de: float = Field(ge=0, description="Mean CIEDE2000 of the 24 patches after calibration.")
    fit_max_de: float = Field(ge=0)

    @field_validator("matrix")
    @classmethod
    def _three_rows(cls, v: list[list[float]]) -> list[list[float]]:
        if len(v) != 3 or len({len(row) for row in v}) != 1 or len(v[0]) not in (3, 6) or not np.all(np.isfinite(v)):
            raise ValueError("matrix must be 3x3 or 3x6 finite numbers")
        return v

    @model_validator(mode="after")
    def _matrix_fits_model(self) -> "CalibrationResult":
        columns = {CalibrationModel.MATRIX: 3, CalibrationModel.ROOT_POLYNOMIAL: 6}[self.model]
        if len(self.matrix[0]) != columns:
            raise ValueError(f"model {self.model.value} needs a 3x{columns} matrix, got 3x{len(self.matrix[0])}")
        return self

    def array(self) -> np.ndarray:
        return np.asarray(self.matrix, np.float32)


def calibrate(image: np.ndarray, source: str | Path, *, corners=None, normalise_exposure: bool = True,
              model: CalibrationModel = CalibrationModel.ROOT_POLYNOMIAL) -> CalibrationResult:
    """Find the chart in ``image`` (linear Rec.2020 decode of ``source``: float in [0, 1], or uint16
    as ``decode_linear16`` gives it), check it is one, fit ``model``, check the fit and the correction, and
    report. Raises :class:`~tasks.pixels.colourchecker.ChartNotFound` when there is no chart-like pattern,
    :class:`ChartRejected` (with the reasons) when the pattern or the correction fails a check of
    ``tasks.pixels.chart_trust``."""
    from tasks.pixels import chart_trust     # it judges this module's results, so it imports this module

    if image.dtype == np.uint16:
        image = image.astype(np.float32) * np.float32(1 / 65535)
    quads, found_by = colourchecker.locate_chart(image, source, corners)
    try:
        measured = sample_patches(image, quads)
    except ValueError as exc:
        raise PhotoError(f"{Path(source).name}: the chart corners do not fit the image: {exc}") from exc
    doubts = chart_trust.judge_chart(image, quads, measured)
    if doubts:
        raise ChartRejected(source, doubts)
    use = measured.max(axis=1) < CLIPPED
    try:
        fit = fit_root_polynomial if model is CalibrationModel.ROOT_POLYNOMIAL else fit_matrix
        matrix = fit(measured, normalise_exposure=normalise_exposure, use=use)
    except ValueError as exc:
        raise PhotoError(f"{Path(source).name}: cannot calibrate from this chart shot ({exc}); "
                         "shoot the chart again without clipping the light patches") from exc
    before = patch_delta_e(measured)
    after = patch_delta_e(transform(measured, matrix), normalise_exposure=not normalise_exposure)
    doubts = chart_trust.judge_fit(float(before.mean()), float(after.mean()))
    doubts += chart_trust.judge_correction(matrix, measured)
    if doubts:
        raise ChartRejected(source, doubts)
    return CalibrationResult(
        source=Path(source).name, model=model, matrix=matrix.tolist(), found_by=found_by, patches_found=len(quads),
        patches_used=int(use.sum()), exposure_normalised=normalise_exposure,
        uncalibrated_mean_de=float(before.mean()), uncalibrated_max_de=float(before.max()),
        fit_mean_de=float(after.mean()), fit_max_de=float(after.max()))
