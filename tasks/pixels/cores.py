"""OpenCV's own threads, when the line already works one photo per core.

OpenCV splits a call (a resize, a blur, each scale of the face detector) over threads of its own, by default
one per core. The line works several photos at once: ``POSTLINE_WORKERS`` photo threads in an order's process,
or a Dask worker process per core. On a 2-core machine, two photos whose calls each take both cores make four
busy threads for two cores.

``share_cores`` gives each OpenCV call ``cores // photos worked at once`` threads (at least 1). Measured here
(2 cores, two photo threads, one OpenCV thread a call against two, alternately in one run): the 100-photo
order through the line 0.0-3.3% less wall time (four pairs), its bare image work 1.4-2.1% less (three pairs,
100 and 300 photos), the 24 MP order's bare run 3-4% less; every file the same, bit for bit (the 20-photo and
24 MP cards, 314 files). A studio's own ``OPENCV_FOR_THREADS_NUM`` is left as it is.

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
