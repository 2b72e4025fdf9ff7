"""Golden renders: every preset in the library, on a small synthetic scene (the 24-patch chart beside
a portrait, written as a DNG by tasks/synthetic and decoded by LibRaw at half size: 96x64), compared with
the stored reference in tests/golden/<preset>.png (16-bit sRGB). A change that moves any preset's
render by more than MAX_MEAN_DE (mean CIEDE2000 over the pixels) fails, so a look never drifts
silently.

When a look is changed on purpose, regenerate the references and commit them with the change:

    POSTLINE_REGEN_GOLDEN=1 pytest tests/test_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from presets.model import OutputSpace, available_presets, load_preset
from tasks.pixels.colour import delta_e, srgb_decode, to_lab
from tasks.pixels.render import render_image
from tasks.synthetic import render_chart, render_scene, write_dng

GOLDEN = Path(__file__).parent / "golden"
MAX_MEAN_DE = 1.0
MAX_P99_DE = 5.0
REGENERATE = os.environ.get("POSTLINE_REGEN_GOLDEN") == "1"


@pytest.fixture(scope="module")
def scene_dng(tmp_path_factory):
    scene = np.concatenate([render_chart(96, 128), render_scene("portrait", 96, 128, seed=7)], axis=1)
    return write_dng(tmp_path_factory.mktemp("golden") / "scene.dng", scene)


def lab(encoded16: np.ndarray) -> np.ndarray:
    return to_lab(srgb_decode(encoded16.astype(np.float32) / 65535).reshape(-1, 3), "srgb")


@pytest.mark.parametrize("name", available_presets())
def test_preset_render_matches_its_golden_image(name, scene_dng):
    render = render_image(scene_dng, load_preset(name), preview=True, dtype=np.uint16, space=OutputSpace.SRGB)
    assert render.shape == (64, 96, 3)
    path = GOLDEN / f"{name}.png"
    if REGENERATE:
        GOLDEN.mkdir(exist_ok=True)
        cv2.imwrite(str(path), np.ascontiguousarray(render[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not path.is_file():
        pytest.fail(f"{path} is missing: run POSTLINE_REGEN_GOLDEN=1 pytest tests/test_golden.py and commit it")
    golden = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]
    de = delta_e(lab(golden), lab(render))
    print(f"\n{name}: mean dE00 {de.mean():.3f}, p99 {np.percentile(de, 99):.3f}")
    assert de.mean() <= MAX_MEAN_DE and np.percentile(de, 99) <= MAX_P99_DE, (
        f"preset {name!r} renders differently from {path} (mean dE00 {de.mean():.2f} > {MAX_MEAN_DE}); if the "
        "change is meant, regenerate with POSTLINE_REGEN_GOLDEN=1 pytest tests/test_golden.py")


def test_every_library_preset_has_a_golden_image():
    stored = {p.stem for p in GOLDEN.glob("*.png")}
    assert stored == set(available_presets())


def test_a_changed_look_would_be_caught(scene_dng):
    """The threshold is tight enough to see a small change: +0.15 EV on neutral."""
    base = render_image(scene_dng, load_preset("neutral"), preview=True, dtype=np.uint16)
    neutral = load_preset("neutral")
    brighter = neutral.model_copy(update={"tone": neutral.tone.model_copy(update={"exposure_ev": 0.15})})
    moved = render_image(scene_dng, brighter, preview=True, dtype=np.uint16)
    assert delta_e(lab(base), lab(moved)).mean() > MAX_MEAN_DE
