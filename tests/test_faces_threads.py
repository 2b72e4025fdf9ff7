"""Face detection gives the same boxes whatever else runs at the same time: the order's photo batches run on a
thread pool (POSTLINE_WORKERS), and a face cascade shared between threads found other faces, so the skin pass of
the same photo came out differently from run to run (seen as different delivery checksums between the thread
pool and a Dask cluster for the same card)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from skimage import data

from tasks.pixels import faces
from tasks.synthetic.scenes import render_scene


def test_faces_found_in_threads_at_once_are_those_found_one_at_a_time():
    photos = [data.astronaut().astype(np.float32) / 255,                        # a real portrait
              np.clip(render_scene("portrait", 480, 320, seed=0), 0, 1) ** (1 / 2.2),
              np.clip(render_scene("interior", 480, 320, seed=2), 0, 1) ** (1 / 2.2)]
    alone = [faces.detect(photo) for photo in photos]
    assert alone[0], "the astronaut's face is found"
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(faces.detect, photos * 4))
    assert together == alone * 4
