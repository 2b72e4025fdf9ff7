"""OpenCV's own threads, when the line already works one photo per core.

OpenCV splits a call (a resize, a blur, each scale of the face detector) over threads of its own, by default
one per core. The line works several photos at once: ``POSTLINE_WORKERS`` photo threads in an order's process,
or a Dask worker process per core. On a 2-core machine, two photos whose calls each take both cores make four
busy threads for two cores.

``share_cores`` gives each OpenCV call ``cores // photos worked at once`` threads (at least 1). Measured here
(2 cores, two photo threads: one OpenCV thread a call against two, alternately in one run, ``bench/cores.py``):
a 100-photo 1 MP order 1.3% less wall time, through the line and in its bare image work alike (each of six pairs
0.2-2.5% less); a 24 MP order's bare image work 6% less (3-9%), its CPU time 7% less. Every file the same, bit
for bit (the 20-photo and 24 MP cards of bench/scale.py, 314 files). A studio's own ``OPENCV_FOR_THREADS_NUM`` is
left as it is.

OpenCV's setting is the process's: it is set before the photo threads start (``tasks.runners``)."""

from __future__ import annotations

import os

import cv2


def machine_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # not Linux
        return os.cpu_count() or 1


def opencv_threads(photos_at_once: int, cores: int | None = None) -> int:
    """OpenCV's threads a call, for ``photos_at_once`` photos worked side by side on ``cores`` cores."""
    return max(1, (cores or machine_cores()) // max(1, photos_at_once))


def share_cores(photos_at_once: int) -> int:
    """Set OpenCV's threads a call for ``photos_at_once`` photos worked side by side on this machine, unless the
    studio set ``OPENCV_FOR_THREADS_NUM``; returns OpenCV's threads a call now. Call it before those photos
    start: the setting is the process's."""
    if "OPENCV_FOR_THREADS_NUM" not in os.environ:
        threads = opencv_threads(photos_at_once)
        if cv2.getNumThreads() != threads:
            cv2.setNumThreads(threads)
    return cv2.getNumThreads()


__all__ = ["machine_cores", "opencv_threads", "share_cores"]
