"""OpenCV's own threads when the line works a photo per core (tasks/pixels/cores.py): the order's thread pool
sets them before its photos start, a studio's OPENCV_FOR_THREADS_NUM stays, and the files an order delivers do
not depend on them."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from config.line import get_line
from config.settings import get_settings
from presets.recipe import load_recipe
from surfaces.actions.orders import create_order
from tasks import runners
from tasks.pixels.cores import machine_cores, opencv_threads, share_cores
from tasks.synthetic.dng import DngMeta, write_dng
from tasks.synthetic.scenes import render_scene
from tests.flowkit import Delivery


@pytest.fixture
def opencv_as_it_was():
    before = cv2.getNumThreads()
    yield
    cv2.setNumThreads(before)


def test_each_photo_worked_at_once_gets_its_share_of_the_cores():
    assert opencv_threads(2, cores=2) == 1          # two photo threads on two cores: no more threads than cores
    assert opencv_threads(2, cores=8) == 4
    assert opencv_threads(3, cores=8) == 2
    assert opencv_threads(16, cores=8) == 1         # more photo threads than cores: never fewer than one
    assert opencv_threads(0, cores=4) == 4
    assert 1 <= opencv_threads(1) == machine_cores()


def test_the_order_thread_pool_sets_opencv_threads_before_its_photos_start(home, monkeypatch, opencv_as_it_was):
    monkeypatch.delenv("OPENCV_FOR_THREADS_NUM", raising=False)
    monkeypatch.delenv("POSTLINE_DASK_ADDRESS", raising=False)
    for workers in (1, 2, 3):
        monkeypatch.setenv("POSTLINE_WORKERS", str(workers))
        get_settings.cache_clear()
        runners.photo_runner()
        assert cv2.getNumThreads() == opencv_threads(workers)


def test_a_studio_that_set_opencv_threads_keeps_them(monkeypatch, opencv_as_it_was):
    monkeypatch.setenv("OPENCV_FOR_THREADS_NUM", "3")
    cv2.setNumThreads(3)
    assert share_cores(2) == 3
    assert cv2.getNumThreads() == 3


def _card(folder: Path) -> Path:
    folder.mkdir()
    for i, kind in enumerate(["portrait", "landscape", "portrait"]):
        write_dng(folder / f"DSC_{i + 1:04d}.dng", render_scene(kind, 640, 426, seed=i + 3), DngMeta())
    return folder


def test_the_delivered_files_do_not_depend_on_opencv_threads(home, prefect_api, tmp_path, monkeypatch,
                                                               opencv_as_it_was):
    """One photo thread (OpenCV takes every core) and as many photo threads as cores (OpenCV one thread a call):
    the same files, bit for bit: the faces found, the skin smoothed, every rendition."""
    from flows.order import order_flow

    if machine_cores() < 2:
        pytest.skip("one core: OpenCV has one thread either way")
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.delenv("OPENCV_FOR_THREADS_NUM", raising=False)
    monkeypatch.delenv("POSTLINE_DASK_ADDRESS", raising=False)
    monkeypatch.delenv("POSTLINE_LINE_FILE", raising=False)
    get_line.cache_clear()
    card, sums, threads = _card(tmp_path / "card"), [], []
    for workers in (1, machine_cores()):
        monkeypatch.setenv("POSTLINE_WORKERS", str(workers))
        get_settings.cache_clear()
        order_id = create_order(client="Ines & Tom", shoot="wedding", card=card, preset_name=None, due=None,
                                same_card=True).id          # the same card, once per number of workers
        delivery = Delivery(Path(order_flow(order_id)))
        threads.append(cv2.getNumThreads())
        assert delivery.mismatches() == []
        sums.append({(e["source_name"], e["rendition"]): e["sha256"] for e in delivery.manifest["files"]})
    get_settings.cache_clear()

    assert threads == [machine_cores(), 1]
    assert len(sums[0]) == 3 * len(load_recipe("wedding").renditions) and sums[0] == sums[1]
