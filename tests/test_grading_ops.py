"""Each grading operation on tiny synthetic arrays: a colour moves the right way, greys stay grey,
curves stay monotone, LUTs interpolate exactly; and the fused pass equals the chain it bakes."""

import hashlib
import io
import os
import subprocess
import sys
import traceback
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from presets.model import (CurveParams, HslBand, HslParams, Interpolation, LutParams, OutputSpace, Preset,
                           SharpenParams, SplitToneParams, ToneParams, VignetteParams, load_preset)
from tasks.pixels import curve, fastlut, hsl, look, lut, output, sharpen, splittone, tone, vignette
from tasks.pixels.colour import REC2020_LUMA


def ramp(n=64, lo=1e-4, hi=1.0):
    v = np.geomspace(lo, hi, n, dtype=np.float32)
    return np.repeat(v[:, None], 3, axis=1)


def rgb(*values):
    return np.array(values, np.float32).reshape(-1, 3)


# --- tone -----------------------------------------------------------------------------------------
def test_highlights_down_darkens_the_bright_end_only():
    grey = ramp()
    out = tone.apply(grey, ToneParams(highlights=-100))
    y_in, y_out = grey @ REC2020_LUMA, out @ REC2020_LUMA
    assert y_out[-1] < 0.8 * y_in[-1]                                 # 1.0 comes down
    assert y_out[y_in < 0.05] == pytest.approx(y_in[y_in < 0.05], rel=0.02)   # shadows untouched
    assert np.allclose(out[:, 0], out[:, 2], rtol=1e-5)              # greys stay grey


@pytest.mark.parametrize("name", ["shadows", "blacks", "highlights", "whites"])
def test_tonal_ranges_move_their_range_and_keep_the_ramp_monotone(name):
    grey = ramp(256)
    for amount in (-100, 100):
        y = tone.apply(grey, ToneParams(**{name: amount})) @ REC2020_LUMA
        assert np.all(np.diff(y) > 0), f"{name}={amount} is not monotone"
    centre = tone.MIDDLE_GREY * 2 ** tone.TONAL_RANGES[name][0]
    probe = np.full((1, 3), centre, np.float32)
    assert (tone.apply(probe, ToneParams(**{name: 50})) > probe).all()
    assert (tone.apply(probe, ToneParams(**{name: -50})) < probe).all()


def test_all_ranges_at_the_extremes_stay_monotone():
    y = tone.apply(ramp(512), ToneParams(shadows=100, blacks=-100, highlights=-100, whites=100, contrast=40)) @ REC2020_LUMA
    assert np.all(np.diff(y) > 0)


# --- curves ---------------------------------------------------------------------------------------
def test_spline_goes_through_its_points_and_is_monotone_between():
    points = ((0.0, 0.05), (0.25, 0.2), (0.3, 0.5), (0.75, 0.78), (1.0, 0.95))
    assert curve.evaluate(points, np.array([p[0] for p in points])) == pytest.approx([p[1] for p in points], abs=1e-6)
    y = curve.evaluate(points, np.linspace(0, 1, 2001))
    assert np.all(np.diff(y) >= 0)                                    # no overshoot despite the steep step


def test_channel_curve_moves_only_its_channel_and_master_keeps_greys():
    image = rgb([0.5, 0.5, 0.5], [0.2, 0.4, 0.6])
    out = curve.apply(image, CurveParams(blue=((0, 0), (0.5, 0.6), (1, 1))))
    assert out[0, 2] == pytest.approx(0.6, abs=1e-6) and out[0, 0] == out[0, 1] == 0.5
    assert np.allclose(out[1, :2], image[1, :2])
    master = curve.apply(image, CurveParams(master=((0, 0.1), (0.5, 0.55), (1, 1))))
    assert master[0, 0] == master[0, 1] == master[0, 2] == pytest.approx(0.55, abs=1e-6)


def test_curve_continues_past_the_ends_without_folding():
    y = curve.evaluate(((0, 0.1), (1, 0.9)), np.array([-0.2, 0.0, 1.0, 1.3]))
    assert np.all(np.diff(y) > 0)


# --- HSL and split toning -------------------------------------------------------------------------
def test_hsl_keeps_greys_and_desaturates_only_its_band():
    image = rgb([0.5, 0.5, 0.5], [0.2, 0.2, 0.8], [0.8, 0.2, 0.2])   # grey, blue (240 deg), red
    out = hsl.apply(image, HslParams(blue=HslBand(saturation=-100), red=HslBand(luminance=0)))
    assert np.allclose(out[0], 0.5, atol=1e-6)
    assert np.ptp(out[1]) < 1e-5                                        # blue -> grey
    assert np.allclose(out[2], image[2], atol=1e-6)                   # red untouched


def test_hsl_hue_shift_turns_red_towards_orange_and_luminance_brightens():
    red = rgb([0.8, 0.2, 0.2])
    turned = hsl.apply(red, HslParams(red=HslBand(hue=100)))
    assert 10 < hsl.hue_degrees(turned)[0] < 40                       # towards orange (30 deg)
    brighter = hsl.apply(red, HslParams(red=HslBand(luminance=100)))
    assert (brighter > red).all() and np.allclose(brighter / red, brighter[0, 0] / red[0, 0])


def test_split_toning_tints_shadows_and_highlights_and_keeps_black_and_white():
    image = rgb([0.25, 0.25, 0.25], [0.8, 0.8, 0.8], [0, 0, 0], [1, 1, 1])
    out = splittone.apply(image, SplitToneParams(highlight_hue=40, highlight_saturation=60,
                                                 shadow_hue=220, shadow_saturation=60))
    assert out[0, 2] > out[0, 0]                                      # shadows blue
    assert out[1, 0] > out[1, 2]                                      # highlights warm
    assert np.allclose(out[:2].mean(axis=1), image[:2].mean(axis=1), atol=1e-6)   # level kept
    assert np.allclose(out[2:], image[2:])


# --- LUTs -----------------------------------------------------------------------------------------
def test_cube_identity_round_trip_within_a_thousandth(tmp_path):
    for size in (17, 33, 65):
        path = lut.write_cube(tmp_path / f"id{size}.cube", lut.identity(size))
        table = lut.read_cube(path)
        x = np.random.default_rng(size).random((500, 3)).astype(np.float32)
        for method in Interpolation:
            assert np.abs(lut.interpolate(table, x, method) - x).max() < 1e-3


def test_tetrahedral_and_trilinear_agree_on_a_smooth_lut():
    t = lut.identity(33).astype(np.float64)
    smooth = np.stack([t[..., 0] ** 0.8 * 0.9 + 0.1 * t[..., 1], np.sin(t[..., 1] * 1.4) / np.sin(1.4),
                       0.5 * t[..., 2] + 0.5 * t[..., 0] * t[..., 2]], axis=-1).astype(np.float32)
    x = np.random.default_rng(0).random((2000, 3)).astype(np.float32)
    tet = lut.interpolate(smooth, x, Interpolation.TETRAHEDRAL)
    tri = lut.interpolate(smooth, x, Interpolation.TRILINEAR)
    assert np.abs(tet - tri).max() < 2e-3


def test_cube_order_is_red_fastest(tmp_path):
    table = lut.identity(17)
    table[16, 0, 0] = [0.5, 0.5, 0.5]                                  # pure red -> grey
    path = lut.write_cube(tmp_path / "r.cube", table)
    assert path.read_text().splitlines()[2 + 16] == "0.500000 0.500000 0.500000"
    assert np.allclose(lut.read_cube(path)[16, 0, 0], 0.5)


@pytest.mark.parametrize("body, message", [
    ("LUT_3D_SIZE 9\n" + "0 0 0\n" * 729, "LUT_3D_SIZE is 9; postline takes 17 to 65"),
    ("LUT_3D_SIZE 17\n" + "0 0 0\n" * 4000, "needs 4913 rows of values, found 4000"),
    ("LUT_1D_SIZE 1024\n", "a 1D LUT"),
    ("LUT_3D_SIZE 17\n0 0 zero\n", "line 2: cannot read"),
])
def test_a_wrong_lut_names_the_file(tmp_path, body, message):
    path = tmp_path / "studio-look.cube"
    path.write_text(body)
    with pytest.raises(lut.LutError, match=f"studio-look.cube.*{message}"):
        lut.read_cube(path)


def test_lut_amount_blends_with_the_input(tmp_path):
    table = np.clip(lut.identity(17) * 0.5, 0, 1)
    path = lut.write_cube(tmp_path / "half.cube", table)
    x = rgb([0.8, 0.6, 0.4])
    assert lut.apply(x, LutParams(file=str(path), amount=1.0)) == pytest.approx(x * 0.5, abs=1e-5)
    assert lut.apply(x, LutParams(file=str(path), amount=0.5)) == pytest.approx(x * 0.75, abs=1e-5)


# --- the fused pass -------------------------------------------------------------------------------
def test_fused_pass_equals_the_chain_it_bakes():
    rng = np.random.default_rng(3)
    image16 = (rng.random((40, 60, 3)) ** 2.2 * 65535).astype(np.uint16)
    for name in ("neutral", "cyberpunk", "french-retro"):
        preset = load_preset(name).model_copy(update={"vignette": VignetteParams(), "sharpen": SharpenParams()})
        fused = look.apply(image16, look.bake(preset, points=65), dtype=np.float32)
        direct = look.chain(image16.astype(np.float32) / 65535, preset)
        assert np.abs(fused - direct).mean() < 2e-3 and np.percentile(np.abs(fused - direct), 99) < 1e-2, name


def test_fused_tetrahedral_and_trilinear_match_numpy():
    rng = np.random.default_rng(4)
    image16 = (rng.random((16, 24, 3)) * 65535).astype(np.uint16)
    table = np.sqrt(lut.identity(17) * [1.0, 0.9, 0.8]).astype(np.float32)
    pos = fastlut.shaper_codes(17)[image16] / 16.0
    for method in Interpolation:
        fused = fastlut.apply(image16, table, interpolation=method, dtype=np.float32)
        assert np.abs(fused - np.clip(lut.interpolate(table, pos, method), 0, 1)).max() < 1e-5
    as8 = fastlut.apply(image16, table, dtype=np.uint8)
    assert as8.dtype == np.uint8 and np.abs(as8 / 255.0 - fastlut.apply(image16, table, dtype=np.float32)).max() <= 0.5 / 255 + 1e-6


def _numba_pass(image16, table, interpolation, vignette_radii, dtype):
    """The numba kernel called directly, with the same tables ``fastlut.apply`` gives the C one."""
    from tasks.pixels.fastlut_numba import kernel

    out = np.empty(image16.shape, dtype)
    scale, offset = fastlut._SCALE[out.dtype]
    gx, gy, gains = fastlut._vignette_tables(image16.shape[0], image16.shape[1], vignette_radii)
    index, fraction, second, third = fastlut._grid_tables(table.shape[0])
    clamp = bool(gains.size and gains.max() > 1.0)
    kernel(image16, index, fraction, fastlut.padded(table) * np.float32(scale), table.shape[0],
           interpolation is Interpolation.TETRAHEDRAL, second, third, gx, gy, gains, clamp, out,
           np.float32(scale), np.float32(offset))
    return out


@pytest.mark.skipif(fastlut.kernel_name() != "c", reason="the C kernel is not in use (no C compiler, or POSTLINE_FASTLUT=numba)")
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_c_and_numba_kernels_agree(dtype):
    """The two kernels of the fused pass: within one code value (their float rounding may differ in
    the last bit), for both interpolations, with a darkening and a brightening (clamped) vignette."""
    rng = np.random.default_rng(5)
    image16 = (rng.random((97, 131, 3)) ** 2 * 65535).astype(np.uint16)
    image16[:10] = 65535
    image16[10:20] = 0
    image16[20:30] = image16[20:30, :, :1]                       # r = g = b: ties pick the same tetrahedra
    table = look.bake(load_preset("cyberpunk")).table
    one = {np.uint8: 1, np.uint16: 1, np.float32: 1e-6}[dtype]
    for method in Interpolation:
        for radii in (vignette.radii(VignetteParams(amount=-40)), vignette.radii(VignetteParams(amount=40))):
            c = fastlut.apply(image16, table, interpolation=method, vignette=radii, dtype=dtype).astype(np.float64)
            n = _numba_pass(image16, table, method, radii, dtype).astype(np.float64)
            assert np.abs(c - n).max() <= one, (method, radii)


def test_the_pass_falls_back_to_numba_without_a_compiler(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(fastlut, "_NATIVE", [])
    monkeypatch.setattr(fastlut, "_library_path", lambda: tmp_path / "fastlut-test.so")
    monkeypatch.setenv("CC", "no-such-compiler")
    monkeypatch.delenv("POSTLINE_FASTLUT", raising=False)
    with caplog.at_level("INFO", logger="tasks.pixels.fastlut"):
        assert fastlut.kernel_name() == "numba"
    assert "no C compiler ('no-such-compiler' is not on PATH)" in caplog.text
    image16 = np.random.default_rng(6).integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    table = np.sqrt(lut.identity(17)).astype(np.float32)
    assert np.abs(fastlut.apply(image16, table).astype(int) - _numba_pass(image16, table, Interpolation.TETRAHEDRAL,
                                                                           (0.0, 0.5, 1.0), np.uint8)).max() == 0


@pytest.mark.skipif(fastlut.kernel_name() != "c", reason="the C kernel is not in use (no C compiler, or POSTLINE_FASTLUT=numba)")
def test_the_c_kernel_builds_from_its_source(monkeypatch, tmp_path):
    """A fresh build (the first use on a machine) gives the same pass as the library in use."""
    image16 = np.random.default_rng(7).integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    table = np.sqrt(lut.identity(17)).astype(np.float32)
    before = fastlut.apply(image16, table)
    monkeypatch.setattr(fastlut, "_NATIVE", [])
    monkeypatch.setattr(fastlut, "_library_path", lambda: tmp_path / "fastlut-test.so")
    assert fastlut.kernel_name() == "c" and (tmp_path / "fastlut-test.so").exists()
    assert (fastlut.apply(image16, table) == before).all()


def test_numba_is_asked_for_by_name():
    """POSTLINE_FASTLUT=numba runs the numba kernel (e.g. to compare, or if the C one misbehaves)."""
    code = "from tasks.pixels import fastlut; print(fastlut.kernel_name())"
    env = {**os.environ, "POSTLINE_FASTLUT": "numba"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert run.stdout.strip() == "numba"


def test_vignette_darkens_corners_not_the_centre():
    flat = np.full((60, 90, 3), 0.5, np.float32)
    out = vignette.apply(flat, VignetteParams(amount=-60))
    assert out[30, 45] == pytest.approx([0.5] * 3) and (out[0, 0] < 0.3).all()
    fused = fastlut.apply(np.full((60, 90, 3), 65535, np.uint16), lut.identity(17) * 0 + 0.5,
                          vignette=vignette.radii(VignetteParams(amount=-60)), dtype=np.float32)
    assert np.abs(fused - out).max() < 1e-3


def test_output_sharpening_overshoots_an_edge_and_leaves_flat_areas():
    image = np.full((20, 40, 3), 80, np.uint8)
    image[:, 20:] = 160
    out = sharpen.apply(image, SharpenParams(amount=100, radius=1.0))
    assert out[:, 19].mean() < 80 and out[:, 20].mean() > 160 and (out[:, :10] == 80).all()


# --- output spaces --------------------------------------------------------------------------------
@pytest.mark.parametrize("space", [OutputSpace.ADOBE_RGB, OutputSpace.DISPLAY_P3])
def test_embedded_profile_agrees_with_the_output_transform(space):
    """LittleCMS, reading the profile postline embeds, converts sRGB colours to the same values
    postline's own transform gives (so a viewer shows what was graded)."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(output.icc_profile(space)))
    to_space = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), profile, "RGB", "RGB",
                                       renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
    colours = np.array([[[200, 30, 40], [30, 200, 60], [40, 60, 200], [128, 128, 128], [250, 200, 150], [255, 255, 255]]], np.uint8)
    lcms = np.asarray(ImageCms.applyTransform(Image.fromarray(colours), to_space)).astype(int)
    ours = np.rint(output.apply(colours.astype(np.float32) / 255, space) * 255).astype(int)
    assert np.abs(lcms - ours).max() <= 1
    assert (ours[0, 5] == 255).all() and np.ptp(ours[0, 3]) == 0      # white is white, grey is grey


def test_preset_output_space_changes_saturated_colours_only():
    p3 = Preset(name="p3", output={"colour_space": "display_p3"})
    srgb = Preset(name="s")
    grey, red = rgb([0.18, 0.18, 0.18]), rgb([0.6, 0.05, 0.05])
    assert look.chain(grey, p3) == pytest.approx(look.chain(grey, srgb), abs=1e-4)
    assert look.chain(red, p3)[0, 0] < look.chain(red, srgb)[0, 0]   # P3's red primary is redder


def test_a_lut_changed_after_the_preset_was_resolved_is_refused(tmp_path):
    path = lut.write_cube(tmp_path / "look.cube", lut.identity(17))
    params = LutParams(file=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    assert lut.load(params) is not None
    before = path.stat().st_mtime_ns
    lut.write_cube(path, np.clip(lut.identity(17) * 0.9, 0, 1))
    os.utime(path, ns=(before + 10**9, before + 10**9))   # as an edit a second later: the file system's clock may
    with pytest.raises(lut.LutError, match="look.cube: this LUT changed"):   # not have ticked since the first write
        lut.load(params)


def _pass_in_child(image16, table, expected, results):
    try:
        results.put(bool((fastlut.apply(image16, table) == expected).all()))
    except BaseException:
        results.put(traceback.format_exc())


@pytest.mark.skipif(fastlut.kernel_name() != "c", reason="the C kernel is not in use (no C compiler, or POSTLINE_FASTLUT=numba)")
def test_the_pass_runs_in_a_forked_child(monkeypatch):
    """A process forked after the pass ran on threads (a process pool) runs it on threads of its own."""
    import multiprocessing

    monkeypatch.setenv("NUMBA_NUM_THREADS", "2")
    image16 = np.random.default_rng(8).integers(0, 65536, (256, 64, 3), dtype=np.uint16)
    table = np.sqrt(lut.identity(17)).astype(np.float32)
    expected = fastlut.apply(image16, table)
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_pass_in_child, args=(image16, table, expected, results))
    child.start()
    child.join(60)
    hung = child.is_alive()                 # as it was on the parent's pool: its threads are not in the child
    if hung:
        child.kill()
    assert not hung
    # what the child did, not its exit status: once the Prefect test server runs in this process, any
    # forked child exits with status 1, even one that only puts a value on a queue (checked)
    assert results.get(timeout=5) is True
