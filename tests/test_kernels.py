"""The one-pass kernels give the very bits of the numpy expressions they stand for (tasks/pixels/kernels.py)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tasks.pixels import fastlut, kernels

U16 = np.float32(65535.0)


def _display(shape=(181, 243, 3), seed=7) -> np.ndarray:
    """Values in and out of [0, 1], some exactly half-way between two 16-bit codes (where rounding ties)."""
    rng = np.random.default_rng(seed)
    image = rng.uniform(-0.05, 1.05, shape).astype(np.float32)
    flat = image.reshape(-1)
    ties = rng.choice(flat.size, flat.size // 10, replace=False)
    flat[ties] = ((rng.integers(0, 65535, ties.size) + 0.5) / 65535.0).astype(np.float32)
    flat[:4] = [0.0, 1.0, -0.0, np.float32(1 / 65535.0)]
    return image


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), f"{np.count_nonzero(a != b)} values differ"


def test_the_c_kernels_are_built_here():
    assert kernels.native(), "kernels.c did not build: every step below would test numpy against itself"


def test_rounding_to_the_stored_16_bits_gives_numpys_bits_in_place():
    image = _display()
    expected = np.rint(np.clip(image * U16, 0.0, U16)) / U16
    result = kernels.round_stored(image)
    assert result is image
    _same(result, expected)


def test_16_bit_codes_of_a_display_image_and_back_give_numpys_values():
    image = _display()
    codes = kernels.to_u16(image, np.empty(image.shape, np.uint16))
    _same(codes, np.rint(np.clip(image, 0.0, 1.0) * U16).astype(np.uint16))
    every = np.arange(65536, dtype=np.uint16).reshape(256, 256, 1).repeat(3, axis=2)
    _same(kernels.from_u16(every), every.astype(np.float32) / U16)
    _same(kernels.to_u16(kernels.from_u16(every), np.empty(every.shape, np.uint16)), every)
    scaled = every.astype(np.float32)
    scaled *= 1.0 / 65535.0                                  # as the delivery had it: not quite from_u16's
    _same(kernels.times_u16(every, 1.0 / 65535.0), scaled)


def test_a_code_table_looked_up_and_a_plane_added_and_clipped_give_numpys_values():
    rng = np.random.default_rng(3)
    table = rng.uniform(0, 1, 65536).astype(np.float32)
    codes = rng.integers(0, 65536, (97, 131, 3)).astype(np.uint16)
    _same(kernels.look_up(table, codes, np.empty(codes.shape, np.float32)), np.take(table, codes))

    image = _display()
    plane = rng.normal(0, 0.2, image.shape[:2]).astype(np.float32)
    expected = np.clip(image + plane[..., None], 0.0, 1.0)
    _same(kernels.add_clipped(image, plane), expected)
    in_place = image.copy()
    assert kernels.add_clipped(in_place, plane, out=in_place) is in_place
    _same(in_place, expected)


def test_an_array_a_kernel_cannot_take_goes_through_numpy_with_the_same_result():
    image = _display((64, 80, 3))
    view = image[:, ::2]                                    # not C-contiguous: written in place all the same
    expected = np.rint(np.clip(view * U16, 0.0, U16)) / U16
    _same(kernels.round_stored(view), expected)
    _same(image[:, ::2], expected)
    codes = np.arange(64 * 40 * 3, dtype=np.uint16).reshape(64, 40, 3)
    _same(kernels.from_u16(codes[:, ::2]), codes[:, ::2].astype(np.float32) / U16)
    plane = np.full((64, 80), 0.5, np.float64)              # another dtype
    _same(kernels.add_clipped(image, plane), np.clip(image + plane[..., None].astype(np.float32), 0.0, 1.0))


def test_photo_threads_run_the_kernels_at_once_with_the_same_results():
    images = [_display((400, 300, 3), seed) for seed in range(6)]
    expected = [np.rint(np.clip(image * U16, 0.0, U16)) / U16 for image in images]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda image: kernels.round_stored(image.copy()), images))
    for result, wanted in zip(results, expected):
        _same(result, wanted)


@pytest.mark.parametrize("shape", [(0, 5, 3), (1, 1, 3)])
def test_empty_and_single_pixel_images(shape):
    image = np.full(shape, 0.25, np.float32)
    _same(kernels.round_stored(image.copy()), np.rint(np.clip(image * U16, 0.0, U16)) / U16)
    _same(kernels.add_clipped(image, np.ones(shape[:2], np.float32)), np.ones(shape, np.float32))


def test_without_a_c_compiler_the_steps_run_on_numpy_with_the_same_values(monkeypatch, tmp_path, caplog):
    image = _display()
    plane = np.random.default_rng(4).normal(0, 0.2, image.shape[:2]).astype(np.float32)
    with_c = (kernels.round_stored(image.copy()), kernels.add_clipped(image, plane),
              kernels.to_u16(image, np.empty(image.shape, np.uint16)))
    monkeypatch.setattr(fastlut, "_LIBRARIES", {})
    monkeypatch.setattr(fastlut, "_library_path", lambda source: tmp_path / f"{source.stem}-test.so")
    monkeypatch.setenv("CC", "no-such-compiler")
    kernels._library.cache_clear()
    try:
        with caplog.at_level("INFO", logger="tasks.pixels.fastlut"):
            assert not kernels.native()
        assert "kernels runs on numpy (its C kernels are not available: no C compiler" in caplog.text
        without = (kernels.round_stored(image.copy()), kernels.add_clipped(image, plane),
                   kernels.to_u16(image, np.empty(image.shape, np.uint16)))
    finally:
        kernels._library.cache_clear()
    for a, b in zip(with_c, without):
        _same(a, b)
