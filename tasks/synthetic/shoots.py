"""Synthetic shoots: folders of the synthetic camera's DNG files, as a card from a real shoot would hold them
(the demo's, and the tests' cards)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np

from tasks.synthetic.dng import DngMeta, write_dng
from tasks.synthetic.scenes import render_chart, render_scene

SHOT_INTERVAL_S = 3
# The demo camera's colour error, as a real sensor's profile has one: channels leak into each other (rows sum
# to 1, so greys stay grey). Session calibration on the demo's chart frame measures and removes it.
DEMO_CROSSTALK = np.array([[0.90, 0.12, -0.02],
                           [0.05, 0.88, 0.07],
                           [-0.02, 0.14, 0.88]], np.float32)


HIGHKEY_HELD = 0.9


def make_demo_shoot(folder, *, width: int = 1200, height: int = 800) -> list[Path]:
    """Write DSC_0001.dng.. into `folder`: chart, portrait, portrait shot upright (orientation 6),
    landscape, interior, highkey; capture times a few seconds apart. Returns the paths in order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shots = [  # (scene kind or "chart", seed, meta overrides)
        ("chart", 0, dict(exposure_time=1 / 60, f_number=8.0)),
        ("portrait", 1, dict(iso=200, f_number=2.8, focal_length=85.0)),
        ("portrait", 2, dict(iso=200, f_number=2.8, focal_length=85.0, orientation=6)),
        ("landscape", 3, dict(iso=64, exposure_time=1 / 250, f_number=11.0, focal_length=24.0)),
        ("interior", 4, dict(iso=1600, exposure_time=1 / 30, f_number=4.0, focal_length=35.0)),
        ("highkey", 5, dict(exposure_time=1 / 60)),
    ]
    start, paths = DngMeta().capture_time, []
    for i, (kind, seed, overrides) in enumerate(shots):
        meta = replace(DngMeta(), capture_time=start + timedelta(seconds=SHOT_INTERVAL_S * i), **overrides)
        if kind == "chart":
            scene = render_chart(width, height)
        elif meta.orientation == 6:  # camera held upright: the sensor sees the view turned 90 deg CCW
            scene = np.rot90(render_scene(kind, height, width, seed=seed))
        else:
            scene = render_scene(kind, width, height, seed=seed)
        if kind == "highkey":   # its bright background held just under the camera's white: the wedding preset's
            scene *= HIGHKEY_HELD  # lift blows it, QC sends it back, and grading can bring it back
        scene = np.clip(scene @ DEMO_CROSSTALK.T, 0.0, None)
        paths.append(write_dng(folder / f"DSC_{i + 1:04d}.dng", scene, meta))
    return paths


CARD_KINDS = ("portrait", "landscape", "interior")


def write_card(folder, count: int = 3, *, size: tuple[int, int] = (600, 400), kinds: tuple[str, ...] = CARD_KINDS,
               first_seed: int = 0, names: str = "DSC_{:04d}.dng", first_number: int = 1) -> Path:
    """A new folder ``folder`` (a card) holding ``count`` frames of the synthetic camera, ``size`` (width, height):
    frame i is a ``kinds[i % len(kinds)]`` scene rendered with seed ``first_seed + i``, named
    ``names.format(first_number + i)``. Returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    for i in range(count):
        scene = render_scene(kinds[i % len(kinds)], *size, seed=first_seed + i)
        write_dng(folder / names.format(first_number + i), scene, DngMeta())
    return folder
