"""Pure image operations on tiny synthetic arrays: what each does to a colour, and what it keeps."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from config.line import QcGateSpec
from presets.model import ToneParams
from qc.checks import Reason, check_image
from tasks.pixels import colour, detail, finish, skin, tone


def flat(rgb, h=32, w=48):
    return np.broadcast_to(np.asarray(rgb, np.float32), (h, w, 3)).copy()


def test_srgb_transfer_round_trips():
    x = np.linspace(0, 1, 101, dtype=np.float32)
    assert np.allclose(colour.srgb_decode(colour.srgb_encode(x)), x, atol=1e-5)
    assert colour.srgb_encode(np.float32(0.18)) == pytest.approx(0.4613, abs=1e-3)


def test_ciede2000_matches_sharma_reference_pairs():
    lab1 = [[50, 2.6772, -79.7751], [50, -1.3802, -84.2814], [60.2574, -34.0099, 36.2677],
            [2.0776, 0.0795, -1.1350]]
    lab2 = [[50, 0, -82.7485], [50, 0, -82.7485], [60.4626, -34.1751, 39.4387], [0.9033, -0.0636, -0.5514]]
    assert colour.delta_e(lab1, lab2) == pytest.approx([2.0425, 1.0000, 1.2644, 0.9082], abs=1e-4)


def test_the_grading_constants_are_colour_sciences():
    """The working <-> display matrix and luma weights are numbers in the code (grading must not import
    colour-science): they must be what colour-science derives from the spaces' primaries."""
    assert np.abs(colour.REC2020_TO_SRGB - colour.conversion("rec2020", "srgb")).max() < 1e-6
    assert np.abs(colour.REC2020_LUMA - colour.rgb_to_xyz("rec2020")[1]).max() < 1e-4
    assert np.abs(colour.SRGB_LUMA - colour.rgb_to_xyz("srgb")[1]).max() < 1e-4
    white = colour.to_lab(np.ones((1, 3)))[0]
    assert white == pytest.approx([100, 0, 0], abs=1e-6)      # the working white is CIELAB's white


def test_importing_pixel_code_does_not_import_colour_science():
    """colour-science's import takes 1-1.7 s: a process that grades an sRGB look or retouches must not pay it (code
    that needs its colorimetry imports it on first use, once per process)."""
    code = ("import sys; import tasks.pixels.look, tasks.pixels.skin, tasks.pixels.calibrate, tasks.pixels.decode; "
            "print('colour' in sys.modules)")
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_colour_science_works_where_warnings_are_errors():
    """``import colour`` warns that matplotlib is missing; ``python -W error`` must still get its colorimetry."""
    code = "from tasks.pixels import colour; print(round(float(colour.delta_e([50, 0, 0], [60, 0, 0])), 3))"
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "9.471"          # L* 50 against 60: 10 over SL 1.056


def test_working_white_is_display_white():
    assert np.allclose(colour.working_to_display(flat([1, 1, 1])), 1.0, atol=1e-3)


def test_plus_one_stop_doubles_linear_light():
    grey = flat([0.1, 0.1, 0.1])
    out = tone.apply(grey, ToneParams(exposure_ev=1))
    assert np.allclose(out, 0.2, atol=1e-5)
    assert np.allclose(grey, 0.1)  # input untouched


def test_warm_temperature_raises_red_over_blue_and_keeps_luminance():
    out = tone.apply(flat([0.18, 0.18, 0.18]), ToneParams(temperature=40))[0, 0]
    assert out[0] > 0.18 > out[2]
    assert float(out @ colour.REC2020_LUMA) == pytest.approx(0.18, rel=1e-3)


def test_saturation_leaves_greys_alone_and_pushes_colours():
    grey = tone.apply(flat([0.2, 0.2, 0.2]), ToneParams(saturation=50))
    assert np.allclose(grey, 0.2, atol=1e-5)
    red = tone.apply(flat([0.3, 0.1, 0.1]), ToneParams(saturation=50))[0, 0]
    assert red[0] - red[1] > 0.2 - 1e-6


def test_contrast_darkens_shadows_and_brightens_highlights_around_middle_grey():
    ramp = np.stack([flat([v, v, v], 2, 2) for v in (0.05, 0.18, 0.6)])
    out = tone.apply(ramp.reshape(6, 2, 3), ToneParams(contrast=50)).reshape(3, 2, 2, 3)
    assert out[0].mean() < 0.05 and out[1].mean() == pytest.approx(0.18, rel=1e-3) and out[2].mean() > 0.6


def test_exposure_rescue_brings_blown_highlights_down():
    blown = flat([1.0, 1.0, 1.0])
    assert tone.exposure_rescue_ev(blown) < -0.4
    dark = flat([0.01, 0.01, 0.01])
    assert tone.exposure_rescue_ev(dark) > 3 - 1e-6


def test_skin_tones_scope_touches_skin_tones_only():
    rng = np.random.default_rng(1)
    image = flat([0.30, 0.45, 0.80], 64, 64)          # blue background
    image[16:48, 16:48] = [0.85, 0.62, 0.50]          # skin-coloured square
    image += rng.normal(0, 0.03, image.shape).astype(np.float32)
    out = skin.apply(np.clip(image, 0, 1).astype(np.float32), skin.SKIN_TONES)  # no face here: whole-frame scope
    changed = np.abs(out - np.clip(image, 0, 1)).max(axis=2) > 1e-4
    assert changed[20:44, 20:44].mean() > 0.9        # the skin got smoother
    assert changed[:8, :].mean() < 0.02               # the background did not change
    assert out[20:44, 20:44].std() < np.clip(image, 0, 1)[20:44, 20:44].std()


def test_detail_and_finish_keep_size_and_flat_areas():
    image = flat([0.5, 0.4, 0.3])
    for op in (detail.apply, finish.apply):
        out = op(image)
        assert out.shape == image.shape and out.dtype == np.float32
        assert np.allclose(out, image, atol=1e-4)     # nothing to enhance in a flat field


def test_finish_sharpens_an_edge():
    image = flat([0.3, 0.3, 0.3])
    image[:, 24:] = 0.7
    out = finish.apply(image)
    assert out[:, 23].mean() < 0.3 and out[:, 24].mean() > 0.7  # overshoot on both sides of the edge


SPEC = QcGateSpec()


@pytest.mark.parametrize("value, reason", [(0.0, Reason.ALL_BLACK), (1.0, Reason.ALL_WHITE)])
def test_qc_flags_black_and_white_frames(value, reason):
    reasons = {p.reason for p in check_image(flat([value] * 3), expected_size=None, spec=SPEC)}
    assert reason in reasons


def test_qc_flags_blown_highlights_and_wrong_size():
    image = flat([0.5, 0.5, 0.5])
    image[:, :12] = 1.0                               # a quarter blown
    problems = check_image(image, expected_size=(40, 32), spec=SPEC)
    assert {p.reason for p in problems} == {Reason.CLIPPING, Reason.DIMENSIONS}
    assert "48x32" in next(p.message for p in problems if p.reason is Reason.DIMENSIONS)


def test_qc_passes_a_normal_frame():
    image = np.random.default_rng(0).uniform(0.1, 0.9, (32, 48, 3)).astype(np.float32)
    assert check_image(image, expected_size=(48, 32), spec=SPEC) == []


_KEPT_AFTER_FREE = """
import os, sys, threading
from pathlib import Path
import numpy as np
from tasks.pixels.memory import keep_freed_memory
def resident():
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
if sys.argv[1] == "keep":
    assert keep_freed_memory()
before = resident()
def photo():
    buffer = np.ones(128 << 20, np.uint8)
    del buffer
if sys.argv[2] == "thread":     # as the line grades: on a photo thread started after the setting
    worker = threading.Thread(target=photo)
    worker.start()
    worker.join()
else:
    photo()
print((resident() - before) >> 20)
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the resident size from /proc")
def test_freed_image_buffers_stay_with_the_process():
    """After ``keep_freed_memory`` a freed 128 MB buffer stays resident, so the next photo's buffers
    reuse its pages instead of faulting fresh ones in, on the main thread and on a photo thread alike;
    glibc's default hands it back (fresh processes)."""
    def kept_mb(mode: str, where: str) -> int:
        run = subprocess.run([sys.executable, "-c", _KEPT_AFTER_FREE, mode, where], capture_output=True,
                             text=True, check=True, cwd=Path(__file__).resolve().parents[1])
        return int(run.stdout)

    assert kept_mb("keep", "main") >= 120
    assert kept_mb("keep", "thread") >= 120
    assert kept_mb("default", "main") < 16
    assert kept_mb("default", "thread") < 16
