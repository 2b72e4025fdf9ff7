"""What one photo's image work holds in memory besides the photo itself.

A grading process holds POSTLINE_WORKERS photos at once, so each step's whole-frame temporaries multiply: at 24 MP a
float32 image is 288 MB. Measured with tracemalloc (numpy reports its buffers to it), in units of the photo's
float32 size, so the figures do not depend on the machine. Each bound sits between what the step took before it
was made to work in place or by bands (in the comments) and what it takes now."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest

from presets.model import OutputSpace
from presets.recipe import load_recipe
from tasks.pixels import detail, finish, imageio, renditions, skin
from tasks.pixels.faces import Face

HEIGHT, WIDTH = 3000, 2000     # 6 MP: a band of rows (imageio.BAND_ROWS) is a small share of it


def _picture(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(5)
    return (rng.random((height, width, 3), dtype=np.float32) * 0.3 + np.float32([0.6, 0.45, 0.35])).astype(np.float32)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    small = _picture(64, 48)           # every step once first: what it loads once per process is not its cost
    for space in OutputSpace:
        renditions.to_space(small, space)
    renditions.make_all(small, wedding())
    skin.apply(small, found=[Face(10, 10, 20, 20, "frontal")])
    detail.apply(small), finish.apply(small)
    return _picture(HEIGHT, WIDTH)


def wedding() -> list:
    """The wedding recipe's renditions, each with its colour space resolved (sRGB for "preset")."""
    return [r.model_copy(update={"colour_space": OutputSpace.SRGB if r.colour_space == "preset"
                                 else OutputSpace(r.colour_space)}) for r in load_recipe("wedding").renditions]


def peak(work: Callable[[], object], unit: int) -> float:
    """The most ``work`` held at once beyond what existed before it, in units of ``unit`` bytes."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        work()
        return (tracemalloc.get_traced_memory()[1] - before) / unit
    finally:
        tracemalloc.stop()


def test_retouch_operations_make_one_new_image_and_small_temporaries(photo):
    unit = photo.nbytes
    assert peak(lambda: detail.apply(photo), unit) < 1.5            # was 3.0: sum, clip and a float32 copy
    assert peak(lambda: finish.apply(photo), unit) < 1.5            # was 2.7
    face = [Face(300, 200, 500, 600, "frontal")]
    assert peak(lambda: skin.apply(photo, found=face), unit) < 1.6  # was 1.8 for this face: its region's steps


def test_working_files_are_converted_without_whole_frame_temporaries(photo):
    unit = photo.nbytes
    assert peak(lambda: imageio.to_u16(photo), unit) < 0.8         # the 16-bit array (0.5); was 2.5
    codes = imageio.to_u16(photo)
    assert peak(lambda: imageio.from_u16(codes), unit) < 1.2       # the float array (1.0); was 2.0


def test_renditions_are_made_without_whole_frame_temporaries(photo):
    unit = photo.nbytes
    assert peak(lambda: renditions.to_space(photo, OutputSpace.ADOBE_RGB), unit) < 1.6     # was 2.5
    copy = photo.copy()
    assert peak(lambda: renditions.sharpen_luma(copy, 60, 1.0, in_place=True), unit) < 0.8   # was 2.0
    codes = imageio.to_u16(photo)
    assert peak(lambda: renditions.make_all(photo, wedding(), codes=codes), unit) < 2.2     # was 3.1


def test_in_place_sharpening_gives_what_sharpening_a_copy_gives(photo):
    expected = renditions.sharpen_luma(photo, 60, 1.0)
    mine = photo.copy()
    out = renditions.sharpen_luma(mine, 60, 1.0, in_place=True)
    assert out is mine and np.array_equal(out, expected)
    assert not np.array_equal(photo, expected)          # sharpening changed it, and not the shared input
