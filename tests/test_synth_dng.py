"""Synthetic DNGs decoded by the real LibRaw (rawpy): colour, exposure, orientation, metadata."""
from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest
import rawpy

from tasks.pixels.synth_dng import (
    REFERENCE_LAB_D50,
    DngMeta,
    chart_patch_boxes,
    colour_chart_linear_srgb,
    make_demo_shoot,
    render_chart,
    render_scene,
    write_dng,
)

# Linear, white-balanced, sRGB decode. adjust_maximum_thr=0 matters: LibRaw's default (0.75) treats
# any file whose brightest pixel lies between 75% and 100% of WhiteLevel as mis-tagged and
# stretches it to full scale (see test_libraw_default_decode_stretches_unclipped_exposure).
EXACT_DECODE = dict(use_camera_wb=True, no_auto_bright=True, gamma=(1, 1), output_bps=16,
                    output_color=rawpy.ColorSpace.sRGB, adjust_maximum_thr=0.0)
CHART_W, CHART_H = 1200, 800

# --- colour-difference helpers (independent of the module under test) --------------------------
SRGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
D65 = SRGB_TO_XYZ.sum(axis=1)
D50 = np.array([0.96422, 1.0, 0.82521])


def xyz_to_lab(xyz: np.ndarray, white: np.ndarray) -> np.ndarray:
    t = xyz / white
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def srgb_linear_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Linear sRGB (D65) -> CIELAB relative to D65 white (both sides compared in the same space)."""
    return xyz_to_lab(np.asarray(rgb, float) @ SRGB_TO_XYZ.T, D65)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 (kL = kC = kH = 1), after Sharma, Wu & Dalal (2005)."""
    L1, a1, b1 = np.asarray(lab1, float).T
    L2, a2, b2 = np.asarray(lab2, float).T
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar ** 7 / (c_bar ** 7 + 25.0 ** 7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p, h2p = np.degrees(np.arctan2(b1, a1p)) % 360, np.degrees(np.arctan2(b2, a2p)) % 360
    dL, dC = L2 - L1, c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0, dh)
    dH = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    L_bar, C_bar = (L1 + L2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(c1p * c2p == 0, h_sum,
                     np.where(np.abs(h1p - h2p) <= 180, h_sum / 2,
                              np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)))
    T = (1 - 0.17 * np.cos(np.radians(h_bar - 30)) + 0.24 * np.cos(np.radians(2 * h_bar))
         + 0.32 * np.cos(np.radians(3 * h_bar + 6)) - 0.20 * np.cos(np.radians(4 * h_bar - 63)))
    SL = 1 + 0.015 * (L_bar - 50) ** 2 / np.sqrt(20 + (L_bar - 50) ** 2)
    SC, SH = 1 + 0.045 * C_bar, 1 + 0.015 * C_bar * T
    RT = (-2 * np.sqrt(C_bar ** 7 / (C_bar ** 7 + 25.0 ** 7))
          * np.sin(np.radians(60 * np.exp(-(((h_bar - 275) / 25) ** 2)))))
    return np.sqrt((dL / SL) ** 2 + (dC / SC) ** 2 + (dH / SH) ** 2 + RT * (dC / SC) * (dH / SH))


def test_ciede2000_matches_sharma_reference_pairs():
    lab1 = [[50, 2.6772, -79.7751], [50, -1.3802, -84.2814], [60.2574, -34.0099, 36.2677],
            [2.0776, 0.0795, -1.1350]]
    lab2 = [[50, 0, -82.7485], [50, 0, -82.7485], [60.4626, -34.1751, 39.4387], [0.9033, -0.0636, -0.5514]]
    assert ciede2000(lab1, lab2) == pytest.approx([2.0425, 1.0000, 1.2644, 0.9082], abs=1e-4)


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
    bradford = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
    to_d50 = np.linalg.inv(bradford) @ np.diag((bradford @ D50) / (bradford @ D65)) @ bradford
    lab = xyz_to_lab(rgb.astype(float) @ SRGB_TO_XYZ.T @ to_d50.T, D50)
    assert np.abs(lab - REFERENCE_LAB_D50).max() < 0.01
    assert rgb[17, 0] < 0                                     # cyan is outside sRGB: kept negative
    assert (np.ptp(rgb[18:], axis=1) / rgb[18:].mean(axis=1)).max() < 0.07  # grey ramp ~neutral


def test_chart_decodes_with_correct_colour(chart_dng):
    with rawpy.imread(str(chart_dng)) as raw:
        img = raw.postprocess(**EXACT_DECODE).astype(np.float64) / 65535
    reference = np.clip(colour_chart_linear_srgb()[0], 0, None)
    measured = patch_means(img, CHART_W, CHART_H)
    de = ciede2000(srgb_linear_to_lab(reference), srgb_linear_to_lab(measured))
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
