"""Whole renders through LibRaw: colour accuracy on a synthetic chart DNG, white balance, preview,
files with their ICC profiles, the order flow's grade step, and clear errors for bad files."""

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from presets.model import OutputSpace, load_preset, resolve
from tasks.errors import PhotoError
from tasks.operations import OpContext, grade
from tasks.pixels import imageio, output
from tasks.pixels.colour import delta_e, srgb_decode, to_lab
from tasks.pixels.render import render, render_image
from tasks.synthetic import colour_chart_linear_srgb, render_chart, render_scene, write_dng
from tests.test_synthetic import patch_means

CHART_W, CHART_H = 600, 400


@pytest.fixture(scope="module")
def chart_dng(tmp_path_factory):
    return write_dng(tmp_path_factory.mktemp("chart") / "chart.dng", render_chart(CHART_W, CHART_H))


def chart_delta_e(encoded_srgb: np.ndarray) -> np.ndarray:
    """CIEDE2000 of the 24 patch interiors against the published reference (clipped to sRGB)."""
    measured = patch_means(srgb_decode(encoded_srgb).astype(np.float64), CHART_W, CHART_H)
    reference = np.clip(colour_chart_linear_srgb()[0], 0, None)
    return delta_e(to_lab(reference, "srgb"), to_lab(measured, "srgb"))


def test_neutral_preset_reproduces_the_chart(chart_dng):
    de = chart_delta_e(render_image(chart_dng, load_preset("neutral"), dtype=np.float32))
    print(f"\nneutral chart dE00: mean {de.mean():.3f}, max {de.max():.3f}")
    assert de.mean() <= 2.0 and de.max() <= 4.0


def test_kelvin_white_balance_at_daylight_matches_as_shot_and_tungsten_cools(chart_dng):
    greys = slice(19, 23)
    as_shot = patch_means(render_image(chart_dng, load_preset("neutral"), dtype=np.float32), CHART_W, CHART_H)
    daylight = patch_means(render_image(chart_dng, resolve("neutral", {"decode.white_balance": "kelvin",
                                                                       "decode.kelvin": 6504, "decode.tint": 10}),
                                        dtype=np.float32), CHART_W, CHART_H)
    tungsten = patch_means(render_image(chart_dng, resolve("neutral", {"decode.white_balance": "kelvin",
                                                                       "decode.kelvin": 3200}),
                                        dtype=np.float32), CHART_W, CHART_H)
    magenta = patch_means(render_image(chart_dng, resolve("neutral", {"decode.white_balance": "kelvin",
                                                                      "decode.kelvin": 6504, "decode.tint": 60}),
                                       dtype=np.float32), CHART_W, CHART_H)
    assert np.abs(daylight[greys] - as_shot[greys]).max() < 0.02
    assert (tungsten[greys, 2] > tungsten[greys, 0] + 0.05).all()     # told the light was warm: cooler
    assert (magenta[greys, 1] < magenta[greys, [0, 2]].min(axis=1)).all()   # + tint: more magenta


def test_noise_reduction_smooths_a_noisy_flat_patch(tmp_path):
    rng = np.random.default_rng(0)
    scene = np.clip(0.2 + rng.normal(0, 0.03, (200, 300, 3)), 0, 1).astype(np.float32)
    path = write_dng(tmp_path / "noisy.dng", scene)
    plain = render_image(path, load_preset("neutral"), dtype=np.float32)
    cleaned = render_image(path, resolve("neutral", {"decode.noise_reduction": "full", "decode.median_passes": 3}),
                           dtype=np.float32)
    assert cleaned[20:-20, 20:-20].std() < 0.8 * plain[20:-20, 20:-20].std()


def test_preview_is_half_size(chart_dng):
    full = render_image(chart_dng, load_preset("bright-wedding"))
    preview = render_image(chart_dng, load_preset("bright-wedding"), preview=True)
    assert full.shape == (CHART_H, CHART_W, 3) and preview.shape == (CHART_H // 2, CHART_W // 2, 3)
    assert abs(float(full.mean()) - float(preview.mean())) < 3


def test_render_writes_jpeg_and_16_bit_tiff_with_the_matching_profile(chart_dng, tmp_path):
    jpeg = render(chart_dng, tmp_path / "c.jpg", load_preset("cyberpunk"))
    with Image.open(jpeg) as img:
        assert img.format == "JPEG" and img.size == (CHART_W, CHART_H)
        assert img.info["icc_profile"] == output.icc_profile(OutputSpace.DISPLAY_P3)
        cyberpunk = load_preset("cyberpunk")
        assert img.info["comment"].decode() == f"postline preset cyberpunk v{cyberpunk.version} sha256:{cyberpunk.resolved_hash()}"
    tiff = render(chart_dng, tmp_path / "c.tif", load_preset("classic-portrait"))
    with tifffile.TiffFile(tiff) as tif:
        page = tif.pages[0]
        assert page.dtype == np.uint16 and page.shape == (CHART_H, CHART_W, 3)
        assert page.tags["InterColorProfile"].value == output.icc_profile(OutputSpace.ADOBE_RGB)
        assert page.description.startswith("postline preset classic-portrait v2 sha256:")


def test_every_preset_renders_a_plausible_picture(tmp_path):
    path = write_dng(tmp_path / "p.dng", render_scene("portrait", 120, 80, seed=2))
    neutral = render_image(path, load_preset("neutral")).astype(float)
    for name in ("bright-wedding", "morandi", "cyberpunk"):
        out = render_image(path, load_preset(name)).astype(float)
        assert 20 < out.mean() < 235 and np.abs(out - neutral).mean() > 2, name
    assert render_image(path, load_preset("bright-wedding")).mean() > neutral.mean()   # brighter
    sat = lambda im: np.ptp(im.astype(float), axis=2).mean()  # noqa: E731
    assert sat(render_image(path, load_preset("morandi"))) < sat(neutral)              # muted


def test_grade_writes_the_working_tiff_and_rescues_exposure_on_rework(tmp_path):
    """A bright background the camera held just under its white, which the wedding preset's lift blows: the rework
    brings it back by the least pull that does (it stays near white, not a grey), the subject as it was."""
    path = write_dng(tmp_path / "hk.dng", render_scene("highkey", 200, 120) * 0.9)
    preset = load_preset("bright-wedding")
    grade(path, tmp_path / "r1.tif", OpContext(preset=preset, round=1, proof_path=tmp_path / "r1.jpg"))
    grade(path, tmp_path / "r2.tif", OpContext(preset=preset, round=2))
    first, second = imageio.read_working_tiff(tmp_path / "r1.tif"), imageio.read_working_tiff(tmp_path / "r2.tif")
    assert first.shape == (120, 200, 3) and (tmp_path / "r1.jpg").is_file()
    assert (first.min(axis=2) >= 0.99).mean() > 0.5 and (second.min(axis=2) >= 0.99).mean() < 0.05
    background, head = (slice(0, 20), slice(0, 20)), (slice(50, 60), slice(95, 105))
    assert second[background].mean() > 0.93                                   # near white, not a grey
    assert abs(second[head].mean() - first[head].mean()) < 0.05                # the subject hardly moved


def test_what_the_camera_blew_stays_white_on_a_rework_and_qc_does_not_count_it(tmp_path):
    """A high-key frame whose background the camera blew (every channel at its white): no grading brings that
    back. QC does not send it back for it (a pull would only make a flat grey of it), and a rework for another
    reason (here a sky the look blows besides) keeps it white while it brings back what the camera held."""
    from config.line import QcGateSpec
    from qc.checks import Reason, check_exposure
    from tasks.operations import camera_blown_share

    blown = render_scene("highkey", 200, 120)                   # background clipped at capture: 82% of the frame
    path = write_dng(tmp_path / "blown.dng", blown)
    preset = load_preset("bright-wedding")
    graded = {}
    for round in (1, 2):
        reference = tmp_path / f"ref{round}.tif"
        grade(path, tmp_path / f"r{round}.tif", OpContext(preset=preset, round=round, reference_path=reference))
        graded[round] = imageio.read_working_tiff(tmp_path / f"r{round}.tif")
        share = camera_blown_share(reference)
        assert 0.7 < share < 0.9
        assert check_exposure(graded[round], QcGateSpec(), camera_blown=share) == []
    assert [p.reason for p in check_exposure(graded[1], QcGateSpec())] == [Reason.ALL_WHITE, Reason.CLIPPING]
    assert (graded[2].min(axis=2) >= 0.99).mean() == pytest.approx((graded[1].min(axis=2) >= 0.99).mean(), abs=0.01)

    sky = blown.copy()                                         # the same frame, and a corner (13%) the camera
    sky[:40, 120:] = 0.93                                      # held but the look blows
    path = write_dng(tmp_path / "corner.dng", sky)
    for round in (1, 2):
        reference = tmp_path / f"corner-ref{round}.tif"
        grade(path, tmp_path / f"c{round}.tif", OpContext(preset=preset, round=round, reference_path=reference))
        graded[round] = imageio.read_working_tiff(tmp_path / f"c{round}.tif")
    share = camera_blown_share(tmp_path / "corner-ref1.tif")
    assert [p.reason for p in check_exposure(graded[1], QcGateSpec(), camera_blown=share)] == [Reason.CLIPPING]
    assert check_exposure(graded[2], QcGateSpec(), camera_blown=share) == []
    corner, background = (slice(5, 35), slice(125, 195)), (slice(0, 20), slice(0, 20))
    assert (graded[1][corner].min(axis=2) >= 0.99).all()          # the look blows the corner the camera held,
    assert (graded[2][corner].min(axis=2) < 0.99).all()           # the rework brings it back,
    assert graded[2][background].min() >= 0.99                    # and the background the camera blew stays white


def test_calibration_matrix_is_applied_in_linear_light(chart_dng):
    preset = load_preset("neutral")
    plain = render_image(chart_dng, preset, dtype=np.float32)
    same = render_image(chart_dng, preset, dtype=np.float32, calibration=np.eye(3))
    darker = render_image(chart_dng, preset, dtype=np.float32, calibration=np.eye(3) * 0.5)
    assert np.array_equal(plain, same)
    assert srgb_decode(darker)[200, 300].mean() == pytest.approx(0.5 * srgb_decode(plain)[200, 300].mean(), rel=0.03)


@pytest.mark.parametrize("name, content, expected", [
    ("IMG_0001.CR2", b"II*\0" + bytes(range(256)) * 40, "IMG_0001.CR2: LibRaw cannot decode"),
    ("DSC_0002.NEF", b"", "DSC_0002.NEF: LibRaw cannot decode"),
    ("notes.txt", b"hello", "notes.txt: not a photo type"),
])
def test_a_bad_file_gets_an_error_naming_it(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(PhotoError, match=expected):
        render_image(path, load_preset("neutral"))


def test_truncated_dng_names_the_file(chart_dng, tmp_path):
    cut = tmp_path / "cut.dng"
    cut.write_bytes(Path(chart_dng).read_bytes()[:2000])
    with pytest.raises(PhotoError, match="cut.dng"):
        render(cut, tmp_path / "cut.jpg", load_preset("neutral"))
    assert not (tmp_path / "cut.jpg").exists()
