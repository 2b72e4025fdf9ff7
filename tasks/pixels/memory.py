"""Big image buffers, kept between photos.

A 24 MP photo is 144 MB as 16-bit RGB, and grading one allocates several buffers that size (LibRaw's
working image, the decode, the graded output, the sharpening's blur). glibc maps each allocation over
32 MB fresh from the kernel and unmaps it when freed, so every photo pays page faults over about half
a gigabyte again (measured here: 8-200 ms for one fresh 72 MB buffer, 3 ms when reused).
``keep_freed_memory`` has glibc serve them from the heap and keep what is freed, so the next buffer
reuses the last one's pages: 13-15% off a 24 MP render in a worker (``bench/README.md``).

That alone helps only the main thread. glibc gives every other thread an arena of its own, whose heaps
hold at most 64 MB, so a photo thread's big buffers are mapped fresh and unmapped whatever the threshold;
the line grades on photo threads. So all threads allocate from the main heap (one arena). This has to
happen before the process starts its first thread (a thread that has allocated keeps its arena): the
command line does it first thing, and a Prefect worker's flow-run processes get ``MALLOC_ARENA_MAX=1``
from ``prefect.yaml``. A 24 MP order on two photo threads: about 20% less wall time, the kernel's share of
the CPU time down from over a third to about a fifth, the same peak memory (``bench/README.md``, issue 12).

The price: a process that has graded a photo keeps its peak resident size until it exits, instead of
handing the memory back between photos (the peak is the same); the line gives it back after each photo
batch (``tasks.runners.give_back_memory``). A no-op where the C library is not glibc."""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
_DONE: list[bool] = []
_LOCK = threading.Lock()


def keep_freed_memory() -> bool:
    """Once per process: every thread allocates from the main heap, allocations up to 1 GiB come from it,
    and freed heap memory is kept. Call it before the process starts threads; later, threads that have
    allocated keep their own arenas. True if the C library took the settings."""
    with _LOCK:
        if not _DONE:
            ok = False
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                ok = (bool(libc.mallopt(M_ARENA_MAX, 1)) and bool(libc.mallopt(M_MMAP_THRESHOLD, 1 << 30))
                      and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)))
            except (OSError, AttributeError):
                pass
            _DONE.append(ok)
        return _DONE[0]
