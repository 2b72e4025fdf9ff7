"""Session calibration from a ColorChecker shot: synthetic charts with a known wrong camera, and the
real cameras' chart shots in ../shared/samples/raw."""

from __future__ import annotations

import json

import numpy as np
import pytest

from presets.model import load_preset
from tasks.errors import PhotoError
from tasks.pixels import calibrate, colourchecker
from tasks.pixels.colour import REC2020_LUMA, delta_e
from tasks.pixels.decode import decode
from tasks.synthetic import render_chart, write_dng
from tests.conftest import sample

CHART_W, CHART_H = 600, 400
# A "wrong camera": its colours bleed into each other (rows sum to 1, so greys stay right).
WRONG_CAMERA = np.array([[0.80, 0.25, -0.05],
                         [0.10, 0.80, 0.10],
                         [-0.05, 0.25, 0.80]])
# Fallback corners for the real G2 chart shot, read off a rendering of the full-size decode (2312x1720):
# outer corners of dark skin, bluish green, black, white. The tests decode at half size.
G2_CORNERS = [(176, 168), (2120, 162), (2126, 1432), (186, 1444)]
G2_CORNERS_HALF = [(x / 2, y / 2) for x, y in G2_CORNERS]


def neutral_decode(path, *, half_size: bool = False) -> np.ndarray:
    return decode(path, load_preset("neutral").decode, half_size=half_size)


@pytest.fixture(scope="module")
def wrong_chart(tmp_path_factory):
    scene = np.clip(render_chart(CHART_W, CHART_H) @ WRONG_CAMERA.T, 0, None).astype(np.float32)
    path = write_dng(tmp_path_factory.mktemp("chart") / "wrong_camera.dng", scene)
    return path, neutral_decode(path)


@pytest.fixture(scope="module")
def g2():
    path = sample("canon_powershot_g2.crw")
    return path, neutral_decode(path, half_size=True)


def synthetic_corners() -> list[tuple[float, float]]:
    """Outer corners of the patch grid render_chart draws (border 2%, gap 12% of a cell)."""
    bx, by = 0.02 * CHART_W, 0.02 * CHART_H
    cell = min((CHART_W - 2 * bx) / 6, (CHART_H - 2 * by) / 4)
    gap = 0.12 * cell / 2
    x0, y0, x1, y1 = bx + gap, by + gap, CHART_W - bx - gap, CHART_H - by - gap
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


# --- synthetic chart, known wrong camera ------------------------------------------------------
def test_wrong_camera_chart_is_found_and_corrected_to_within_2_de(wrong_chart):
    path, image = wrong_chart
    result = calibrate.calibrate(image, path)
    assert result.found_by is colourchecker.ChartSource.DETECTOR and result.patches_found == 24
    assert result.uncalibrated_mean_de > 4.0                       # the wrong camera is visibly off
    corrected = calibrate.apply(image, result.array())
    quads = colourchecker.quads_from_corners(synthetic_corners())
    de = colourchecker.patch_delta_e(colourchecker.sample_patches(corrected, quads), normalise_exposure=False)
    print(f"\nwrong camera dE00 mean {result.uncalibrated_mean_de:.2f} -> {de.mean():.2f} (max {de.max():.2f})")
    assert de.mean() <= 2.0 and de.max() <= 4.0


def test_corners_fallback_matches_the_detector(wrong_chart):
    path, image = wrong_chart
    by_corners = calibrate.calibrate(image, path, corners=synthetic_corners())
    assert by_corners.found_by is colourchecker.ChartSource.CORNERS
    assert by_corners.fit_mean_de <= 2.0
    assert np.allclose(by_corners.array(), calibrate.calibrate(image, path).array(), atol=0.05)


def test_calibration_keeps_greys_grey_and_exposure_when_asked(wrong_chart):
    path, image = wrong_chart
    darker = image * np.float32(0.5)                              # one stop under
    keep = calibrate.calibrate(darker, path, normalise_exposure=False)
    normalise = calibrate.calibrate(darker, path)
    grey = np.full((4, 4, 3), 0.09, np.float32)
    kept, lifted = calibrate.apply(grey, keep.array())[0, 0], calibrate.apply(grey, normalise.array())[0, 0]
    assert np.ptp(kept) / kept.mean() < 0.03                      # neutral stays neutral
    assert kept @ REC2020_LUMA == pytest.approx(0.09, rel=0.05)
    assert lifted @ REC2020_LUMA == pytest.approx(0.18, rel=0.1)  # exposure brought back
    assert np.allclose(grey, 0.09)                                # input untouched


def test_result_round_trips_through_json(wrong_chart):
    path, image = wrong_chart
    result = calibrate.calibrate(image, path)
    again = calibrate.CalibrationResult.model_validate_json(result.model_dump_json())
    assert again == result and again.source == "wrong_camera.dng"
    with pytest.raises(ValueError, match="3x3"):
        calibrate.CalibrationResult.model_validate({**result.model_dump(), "matrix": [[1, 0], [0, 1]]})


# --- real ColorChecker shots ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["canon_powershot_g2.crw", "canon_powershot_s40_b.crw"])
def test_real_chart_shot_is_found_and_calibration_improves_colour(name):
    path = sample(name)
    image = neutral_decode(path, half_size=True)
    result = calibrate.calibrate(image, path)
    print(f"\n{name}: dE00 mean {result.uncalibrated_mean_de:.2f} -> {result.fit_mean_de:.2f}, "
          f"max {result.uncalibrated_max_de:.2f} -> {result.fit_max_de:.2f}")
    assert result.found_by is colourchecker.ChartSource.DETECTOR and result.patches_found == 24
    measured = colourchecker.sample_patches(image, colourchecker.detect_chart(image))
    luma = measured @ REC2020_LUMA
    assert luma.argmax() == 18 and luma.argmin() in (23, 12)       # white 9.5 brightest; black or blue darkest
    assert result.fit_mean_de < 0.6 * result.uncalibrated_mean_de
    assert result.fit_max_de < result.uncalibrated_max_de


def test_real_chart_stored_corners_give_the_same_fit(g2):
    path, image = g2
    by_corners = calibrate.calibrate(image, path, corners=G2_CORNERS_HALF)
    detected = calibrate.calibrate(image, path)
    as_uint16 = calibrate.calibrate(np.rint(image * 65535).astype(np.uint16), path)   # decode_linear16's form
    assert np.allclose(as_uint16.array(), detected.array(), atol=1e-3)
    assert by_corners.patches_found == 24
    assert by_corners.fit_mean_de < 0.6 * by_corners.uncalibrated_mean_de
    assert abs(by_corners.fit_mean_de - detected.fit_mean_de) < 0.5


def test_photo_without_a_chart_names_the_file():
    path = sample("canon_powershot_s40.crw")                        # a product box, no chart
    with pytest.raises(PhotoError, match=r"no colour chart found in canon_powershot_s40\.crw: give the corners"):
        calibrate.calibrate(neutral_decode(path, half_size=True), path)


def test_corners_outside_the_image_name_the_file(g2):
    path, image = g2
    far = [(x + 5000, y) for x, y in G2_CORNERS]
    with pytest.raises(PhotoError, match=r"canon_powershot_g2\.crw: the chart corners do not fit"):
        calibrate.calibrate(image, path, corners=far)


def test_apply_checks_its_inputs():
    with pytest.raises(ValueError, match="HxWx3"):
        calibrate.apply(np.zeros((4, 4), np.float32), np.eye(3))
    with pytest.raises(ValueError, match="3x3"):
        calibrate.apply(np.zeros((4, 4, 3), np.float32), np.eye(4))
    out = calibrate.apply(np.full((2, 2, 3), 0.3, np.float32), np.eye(3))
    assert out.dtype == np.float32 and np.allclose(out, 0.3)


# --- the model: root-polynomial by default, old 3x3 records still load ------------------------
def test_root_polynomial_is_exposure_invariant_and_keeps_greys_grey(wrong_chart):
    path, image = wrong_chart
    result = calibrate.calibrate(image, path)
    assert result.model is calibrate.CalibrationModel.ROOT_POLYNOMIAL and result.array().shape == (3, 6)
    colours = colourchecker.reference()
    once = calibrate.transform(colours, result.array())
    assert np.allclose(calibrate.transform(colours * 0.25, result.array()), once * 0.25, rtol=1e-9, atol=1e-12)
    grey = calibrate.transform(np.full((1, 3), 0.2), result.array())[0]
    assert np.ptp(grey) / grey.mean() < 0.03


def test_version_1_record_without_a_model_loads_as_a_3x3(wrong_chart):
    path, image = wrong_chart
    old = calibrate.calibrate(image, path, model=calibrate.CalibrationModel.MATRIX).model_dump()
    old.pop("model")
    old["version"] = 1
    loaded = calibrate.CalibrationResult.model_validate_json(json.dumps(old))
    assert loaded.model is calibrate.CalibrationModel.MATRIX and loaded.array().shape == (3, 3)
    with pytest.raises(ValueError, match="root_polynomial_2 needs a 3x6"):
        calibrate.CalibrationResult.model_validate({**old, "model": "root_polynomial_2"})


def test_the_baked_look_applies_a_root_polynomial_calibration_like_apply(wrong_chart):
    """The fused LUT evaluates the calibration at its grid points: it must follow a root-polynomial
    (steep near black) as closely as it follows a 3x3."""
    from tasks.pixels import look
    path, image = wrong_chart
    preset = load_preset("neutral")
    image16 = np.rint(np.clip(image[::8, ::8], 0, 1) * 65535).astype(np.uint16)
    errors = {}
    for model in calibrate.CalibrationModel:
        matrix = calibrate.calibrate(image, path, model=model).array()
        baked = look.apply(image16, look.bake(preset, calibration=matrix, output_sharpening=False), dtype=np.float32)
        direct = look.chain(calibrate.apply(image16.astype(np.float32) / 65535, matrix), preset)
        errors[model] = np.abs(baked - direct)
    polynomial, matrix = errors[calibrate.CalibrationModel.ROOT_POLYNOMIAL], errors[calibrate.CalibrationModel.MATRIX]
    assert polynomial.mean() < 0.002 and polynomial.mean() < 1.1 * matrix.mean()
    assert polynomial.max() < 1.2 * matrix.max()       # both largest where yellow's blue clips


def test_root_polynomial_calibration_carries_to_another_frame_better_than_a_3x3(g2):
    """Fitted on the G2 chart shot, applied to another frame of the same session (12 whole patches)."""
    path, image = g2
    other = neutral_decode(sample("canon_powershot_g2_b.crw"), half_size=True)
    corners = [(x / 2, y / 2) for x, y in [(294, -56), (2124, -56), (2136, 1300), (296, 1320)]]
    patches = [r * 6 + c for r in (1, 2, 3) for c in range(4)]
    measured = colourchecker.sample_patches(other, colourchecker.quads_from_corners(corners, rows=3, columns=4))

    def held_out_de(model):
        corrected = calibrate.transform(measured, calibrate.calibrate(image, path, model=model).array())
        return colourchecker.patch_delta_e(corrected, patches=patches).mean()

    polynomial = held_out_de(calibrate.CalibrationModel.ROOT_POLYNOMIAL)
    matrix = held_out_de(calibrate.CalibrationModel.MATRIX)
    print(f"\ng2 -> g2_b, 12 patches: 3x3 {matrix:.2f}, root-polynomial {polynomial:.2f}")
    assert polynomial < matrix and polynomial < 2.5


# --- the objective: mean CIEDE2000, at the exposure it is measured at --------------------------
def test_ciede2000_components_are_the_difference_split_into_smooth_parts():
    rng = np.random.default_rng(1)
    lab1 = rng.normal(size=(200, 3)) * [15, 40, 40] + [50, 0, 0]
    lab2 = lab1 + rng.normal(size=(200, 3)) * 4
    parts = calibrate.ciede2000_components(lab1, lab2)
    assert parts.shape == (200, 3)
    assert np.allclose(np.linalg.norm(parts, axis=1), delta_e(lab1, lab2), atol=1e-9)


def _camera_chart() -> np.ndarray:
    """The 24 reference patches as a camera no 3x3 can fully correct sees them: WRONG_CAMERA, a mild
    per-channel non-linearity and a fixed per-patch error, 0.7 stop under."""
    rng = np.random.default_rng(7)
    seen = np.clip(colourchecker.reference() @ WRONG_CAMERA.T, 1e-4, None) ** [1.0, 1.05, 0.95]
    return 0.6 * seen * (1 + 0.03 * rng.standard_normal(seen.shape))


@pytest.mark.parametrize("fit", [calibrate.fit_matrix, calibrate.fit_root_polynomial])
def test_fit_minimises_the_mean_de_it_is_judged_by(fit, monkeypatch):
    """The reported figure is the mean CIEDE2000 at the grey patches' exposure (patch_delta_e): the
    reweighted fit gets it no higher than the least-squares fit (one round), and its exposure is the
    greys'."""
    measured = _camera_chart()
    mean_fit = fit(measured)
    monkeypatch.setattr(calibrate, "MEAN_DE_ROUNDS", 1)
    squares_fit = fit(measured)
    mean_de = colourchecker.patch_delta_e(calibrate.transform(measured, mean_fit)).mean()
    squares_de = colourchecker.patch_delta_e(calibrate.transform(measured, squares_fit)).mean()
    print(f"\n{fit.__name__}: mean dE00 {mean_de:.3f} (least squares {squares_de:.3f})")
    assert mean_de <= squares_de + 1e-6
    assert colourchecker.exposure_gain(calibrate.transform(measured, mean_fit)) == pytest.approx(1.0, abs=1e-6)
