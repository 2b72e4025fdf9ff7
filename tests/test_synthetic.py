"""Synthetic DNGs decoded by the real LibRaw (rawpy): colour, exposure, orientation, metadata."""
from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest
import rawpy

from tasks.pixels.colour import delta_e, science, to_lab
from tasks.synthetic import (
    DngMeta,
    chart_patch_boxes,
    colour_chart_linear_srgb,
    make_demo_shoot,
    render_chart,
    render_scene,
    write_card,
    write_dng,
)

# Linear, white-balanced, sRGB decode. adjust_maximum_thr=0 matters: LibRaw's default (0.75) treats
# any file whose brightest pixel lies between 75% and 100% of WhiteLevel as mis-tagged and
# stretches it to full scale (see test_libraw_default_decode_stretches_unclipped_exposure).
EXACT_DECODE = dict(use_camera_wb=True, no_auto_bright=True, gamma=(1, 1), output_bps=16,
                    output_color=rawpy.ColorSpace.sRGB, adjust_maximum_thr=0.0)
CHART_W, CHART_H = 1200, 800

# X-Rite ColorChecker Classic, "November 2014 and newer", CIE L*a*b* (D50, 2 deg), as X-Rite publishes it.
REFERENCE_LAB_D50 = np.array([
    [37.54, 14.37, 14.92], [64.66, 19.27, 17.50], [49.32, -3.82, -22.54], [43.46, -12.74, 22.72],
    [54.94, 9.61, -24.79], [70.48, -32.26, -0.37], [62.73, 35.83, 56.50], [39.43, 10.75, -45.17],
    [50.57, 48.64, 16.67], [30.10, 22.54, -20.87], [71.77, -24.13, 58.19], [71.51, 18.24, 67.37],
    [28.37, 15.42, -49.80], [54.38, -39.72, 32.27], [42.43, 51.05, 28.62], [81.80, 2.67, 80.41],
    [50.63, 51.28, -14.12], [49.57, -29.71, -28.32], [95.19, -1.03, 2.93], [81.29, -0.57, 0.44],
    [66.89, -0.75, -0.06], [50.76, -0.13, 0.14], [35.63, -0.46, -0.48], [20.64, 0.07, -0.46]])


def patch_means(img: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.array([img[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
                     for x0, y0, x1, y1 in chart_patch_boxes(width, height)])


@pytest.fixture(scope="module")
def chart_dng(tmp_path_factory):
    return write_dng(tmp_path_factory.mktemp("chart") / "chart.dng", render_chart(CHART_W, CHART_H))


# --- colour and exposure ---------------------------------------------------------------------
def test_chart_reference_reproduces_published_lab():
    rgb, names = colour_chart_linear_srgb()
    assert rgb.shape == (24, 3) and rgb.dtype == np.float32 and len(names) == 24
    assert names[0] == "dark skin" and names[18].startswith("white")
    colour = science()
    d50 = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D50"]
    xyz_d50 = colour.RGB_to_XYZ(rgb.astype(float), colour.RGB_COLOURSPACES["sRGB"], illuminant=d50,
                                chromatic_adaptation_transform="Bradford")
    lab = colour.XYZ_to_Lab(xyz_d50, d50)
    assert np.abs(lab - REFERENCE_LAB_D50).max() < 0.01
    assert rgb[17, 0] < 0                                     # cyan is outside sRGB: kept negative
    assert (np.ptp(rgb[18:], axis=1) / rgb[18:].mean(axis=1)).max() < 0.07  # grey ramp ~neutral


def test_chart_decodes_with_correct_colour(chart_dng):
    with rawpy.imread(str(chart_dng)) as raw:
        img = raw.postprocess(**EXACT_DECODE).astype(np.float64) / 65535
    reference = np.clip(colour_chart_linear_srgb()[0], 0, None)
    measured = patch_means(img, CHART_W, CHART_H)
    de = delta_e(to_lab(reference, "srgb"), to_lab(measured, "srgb"))
    print(f"\nchart dE00: mean {de.mean():.3f}, max {de.max():.3f} (patch {de.argmax() + 1})")
    assert de.mean() <= 2.0 and de.max() <= 4.0
    # exposure and white balance: the grey ramp comes back at its scene level, channel by channel
    np.testing.assert_allclose(measured[18:], reference[18:], rtol=0.01, atol=5e-4)


def test_libraw_default_decode_stretches_unclipped_exposure(chart_dng):
    """Documents why EXACT_DECODE sets adjust_maximum_thr=0: with LibRaw's default, the chart (brightest
    raw value ~88% of WhiteLevel) is brightened by ~1/0.88 and the white patch clips."""
    args = {k: v for k, v in EXACT_DECODE.items() if k != "adjust_maximum_thr"}
    with rawpy.imread(str(chart_dng)) as raw:
        img = raw.postprocess(**args).astype(np.float64) / 65535
    grey = patch_means(img, CHART_W, CHART_H)[21, 1] / colour_chart_linear_srgb()[0][21, 1]
    assert grey > 1.1


def test_highkey_clips_over_a_fifth_of_the_frame(tmp_path):
    path = write_dng(tmp_path / "hk.dng", render_scene("highkey", 600, 400))
    with rawpy.imread(str(path)) as raw:
        img = raw.postprocess(**EXACT_DECODE)
    clipped = (img.min(axis=2) >= 0.99 * 65535).mean()
    print(f"\nhighkey clipped fraction {clipped:.2f}")
    assert clipped > 0.2


# --- orientation and metadata ----------------------------------------------------------------
def luminance_thumb(img: np.ndarray, shape=(30, 20)) -> np.ndarray:
    """Coarse block-mean luminance, normalised, for comparing picture content across pipelines."""
    h, w = shape
    y = img.astype(float) @ [0.2126, 0.7152, 0.0722]
    y = y[: y.shape[0] // h * h, : y.shape[1] // w * w]
    y = y.reshape(h, y.shape[0] // h, w, y.shape[1] // w).mean(axis=(1, 3))
    return (y - y.mean()) / y.std()


def test_orientation_6_decodes_upright_portrait(tmp_path):
    upright = render_scene("portrait", 400, 600)              # what the photographer saw
    path = write_dng(tmp_path / "p.dng", np.rot90(upright), DngMeta(orientation=6))  # sensor is 600x400
    with rawpy.imread(str(path)) as raw:
        assert raw.sizes.flip == 6 and (raw.sizes.width, raw.sizes.height) == (600, 400)
        img = raw.postprocess()
    assert img.shape == (600, 400, 3)                         # height > width
    view = luminance_thumb(np.clip(upright, 0, 1) ** (1 / 2.2))
    correlation = (luminance_thumb(img) * view).mean()
    flipped = (luminance_thumb(img[::-1, ::-1]) * view).mean()
    assert correlation > 0.9 and correlation > flipped + 0.2


def test_orientation_1_stays_landscape(tmp_path):
    path = write_dng(tmp_path / "l.dng", render_scene("landscape", 600, 400))
    with rawpy.imread(str(path)) as raw:
        assert raw.sizes.flip == 0
        img = raw.postprocess()
    assert img.shape == (400, 600, 3)
    sky, ground = img[:80].mean(), img[-80:].mean()
    assert sky > ground                                       # not upside down


def test_libraw_reads_exposure_metadata(tmp_path):
    meta = replace(DngMeta(), iso=400, exposure_time=1 / 250, f_number=2.8, focal_length=85.0,
                   capture_time=datetime(2026, 6, 21, 9, 15, 42), lens="Test 85mm f/1.4")
    path = write_dng(tmp_path / "m.dng", render_scene("interior", 200, 100), meta)
    with rawpy.imread(str(path)) as raw:
        other, lens = raw.other, raw.lens
    assert other.iso_speed == 400
    assert other.shutter_speed == pytest.approx(1 / 250, rel=1e-4)
    assert other.aperture == pytest.approx(2.8, rel=1e-4)
    assert other.focal_length == pytest.approx(85.0)
    assert other.timestamp == meta.capture_time
    assert lens.model == "Test 85mm f/1.4"


# --- size, validation, demo shoot ------------------------------------------------------------
def test_24_megapixel_write(tmp_path):
    scene = render_scene("landscape", 6000, 4000)
    start = time.perf_counter()
    path = write_dng(tmp_path / "big.dng", scene)
    print(f"\n6000x4000 write_dng: {time.perf_counter() - start:.2f} s "
          f"({path.stat().st_size / 1e6:.0f} MB)")
    with rawpy.imread(str(path)) as raw:
        assert (raw.sizes.width, raw.sizes.height) == (6000, 4000)
        assert raw.raw_image_visible.shape == (4000, 6000)
        assert raw.raw_image_visible.max() <= 16383


def test_rejects_odd_sizes_and_unknown_kinds(tmp_path):
    with pytest.raises(ValueError):
        write_dng(tmp_path / "odd.dng", np.zeros((100, 201, 3), np.float32))
    with pytest.raises(ValueError):
        write_dng(tmp_path / "odd.dng", np.zeros((101, 200, 3), np.float32))
    with pytest.raises(ValueError, match="portrait.*landscape.*interior.*highkey"):
        render_scene("macro", 100, 100)
    assert list(tmp_path.iterdir()) == []                    # nothing half-written left behind


def test_render_scene_is_deterministic_float32_in_range():
    for kind in ("portrait", "landscape", "interior", "highkey"):
        a, b = render_scene(kind, 120, 80, seed=3), render_scene(kind, 120, 80, seed=3)
        assert a.shape == (80, 120, 3) and a.dtype == np.float32
        assert np.array_equal(a, b) and not np.array_equal(a, render_scene(kind, 120, 80, seed=4))
        assert 0 <= a.min() and a.max() <= 1 and a.std() > 0.01


def test_make_demo_shoot(tmp_path):
    paths = make_demo_shoot(tmp_path / "shoot")
    assert [p.name for p in paths] == [f"DSC_{i:04d}.dng" for i in range(1, 7)]
    assert sorted(p.name for p in (tmp_path / "shoot").iterdir()) == [p.name for p in paths]
    stamps, shapes = [], []
    for path in paths:
        with rawpy.imread(str(path)) as raw:
            stamps.append(raw.other.timestamp)
            shapes.append(raw.postprocess(half_size=True).shape[:2])
    assert shapes == [(400, 600)] * 2 + [(600, 400)] + [(400, 600)] * 3
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
    assert all(0 < gap <= 10 for gap in gaps)


def test_write_card_writes_the_frames_it_is_asked_for(tmp_path):
    card = write_card(tmp_path / "card", 4, size=(64, 48), names="IMG_{:04d}.dng", first_number=0)
    assert sorted(p.name for p in card.iterdir()) == [f"IMG_{i:04d}.dng" for i in range(4)]
    frames = []
    for path in sorted(card.iterdir()):
        with rawpy.imread(str(path)) as raw:
            assert (raw.sizes.width, raw.sizes.height) == (64, 48)
            frames.append(raw.raw_image_visible.copy())
    assert not np.array_equal(frames[0], frames[3])          # portraits both, seeds 0 and 3
    with pytest.raises(FileExistsError):
        write_card(card, 1)                                   # never into a card that is there already
