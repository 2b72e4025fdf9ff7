"""Where an order's photo work runs: the task runner its ingest, stage and QC batches are submitted to.

Without ``POSTLINE_DASK_ADDRESS`` (the embedded default), a thread pool of ``POSTLINE_WORKERS`` threads in
the run's own process. With it, the Dask cluster whose scheduler is at that address, through prefect-dask:
each batch is a Prefect task run on one of the cluster's workers, reported to the run's Prefect server (the
run hands its Prefect settings to the task), while the worker reads and writes through its own postline
settings. So before the first batch goes, every worker is asked what it sees, and a worker with another
POSTLINE_HOME, another production record or another version of postline's code stops the run with a message
naming that worker: its photos would otherwise be worked from other files, into another record.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
from collections import Counter
from functools import lru_cache
from pathlib import Path

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from config.settings import get_settings, url_without_password
from tasks.errors import Permanent
from tasks.pixels.cores import share_cores

CONNECT_SECONDS = 10          # how long to try to reach the scheduler, and to wait for a first worker
CODE_ROOT = Path(__file__).resolve().parents[1]
CODE_PACKAGES = ("config", "flows", "presets", "qc", "record", "surfaces", "tasks")


class ClusterUnfit(Permanent):
    """The Dask cluster cannot take this run's photo work: unreachable, no worker, or a worker that sees
    other settings or runs other code. The message names the scheduler, the worker and what to change."""


@lru_cache(maxsize=1)
def _libc():  # noqa: ANN202 - ctypes.CDLL, or None away from glibc
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def give_back_memory() -> None:
    """At the end of a photo batch: the memory its photos freed handed back to the system. glibc keeps freed heap
    in each thread's arena, so without this an order's process grows batch after batch (measured with
    bench/scale.py); a no-op away from glibc."""
    if (libc := _libc()) is not None:
        libc.malloc_trim(0)


def photo_runner() -> TaskRunner:
    """The task runner for the photo batches of one order run (see the module's docstring)."""
    settings = get_settings()
    if settings.dask_address is None:
        share_cores(settings.workers)      # the pool works a photo per thread: OpenCV's calls split no further
        return ThreadPoolTaskRunner(max_workers=settings.workers)
    return dask_runner(settings.dask_address)


def dask_runner(address: str) -> TaskRunner:
    """prefect-dask's runner on the cluster at ``address``, once its workers are found fit for this run."""
    quiet_distributed()
    from prefect_dask import DaskTaskRunner

    check_workers(address)
    return DaskTaskRunner(address=address)


def quiet_distributed() -> None:
    """distributed logs every connection and worker at INFO (hundreds of lines per cluster's life): keep
    its loggers at WARNING, in this process; workers started with `dask worker` are quieted by their own
    configuration (DASK_LOGGING__DISTRIBUTED=warning, as the README shows)."""
    import distributed  # noqa: F401 - its import configures its loggers; set their level after that

    logging.getLogger("distributed").setLevel(logging.WARNING)


def code_fingerprint() -> str:
    """SHA-256 over postline's Python sources (and the grading kernel's C) as this process sees them: two
    processes with the same fingerprint run the same code."""
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((CODE_ROOT / package).rglob("*")):
            if path.suffix in (".py", ".c") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(CODE_ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def what_this_process_sees() -> dict[str, str]:
    """The settings a photo task depends on, as this process sees them (run on each Dask worker too)."""
    settings = get_settings()
    return {"POSTLINE_HOME": str(settings.home),
            "production record (POSTLINE_DATABASE_URL)": url_without_password(settings.db_url),
            "postline code": code_fingerprint()[:12]}


def share_workers_cores(client) -> None:  # noqa: ANN001 - a distributed.Client
    """On each worker, OpenCV's threads a call for the photos its machine's workers work at once (the threads of
    every worker process on that host): :func:`tasks.pixels.cores.share_cores`, before the run's first batch."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    on_host = Counter()
    for info in workers.values():
        on_host[info["host"]] += info["nthreads"]
    by_count: dict[int, list[str]] = {}
    for address, info in workers.items():
        by_count.setdefault(on_host[info["host"]], []).append(address)
    for photos_at_once, addresses in by_count.items():
        client.run(share_cores, photos_at_once, workers=addresses)


def _unfit(seen: dict[str, dict | BaseException], here: dict[str, str]) -> list[str]:
    """What is wrong with each worker whose view (:func:`what_this_process_sees`) is not ``here``."""
    problems = []
    for worker, view in sorted(seen.items()):
        if isinstance(view, BaseException):
            problems.append(f"worker {worker} cannot run postline's code ({type(view).__name__}: {view}): start it "
                            "from postline's folder, in postline's Python environment")
            continue
        differs = [f"{name} {view.get(name)} (this run: {value})" for name, value in here.items()
                   if view.get(name) != value]
        if differs:
            problems.append(f"worker {worker} sees " + ", ".join(differs))
    return problems


def check_workers(address: str) -> int:
    """Ask every worker of the cluster at ``address`` what it sees; :class:`ClusterUnfit` if the scheduler
    cannot be reached, has no worker, or a worker differs from this process. Then, on each worker, OpenCV's
    threads a call (:func:`share_workers_cores`). Returns the number of workers."""
    from distributed import Client

    try:
        client = Client(address, timeout=f"{CONNECT_SECONDS}s", set_as_default=False)
    except OSError as exc:
        raise ClusterUnfit(f"the Dask scheduler at {address} (POSTLINE_DASK_ADDRESS) cannot be reached ({exc}): "
                           "start it (`dask scheduler`), check the address and the network, or unset "
                           "POSTLINE_DASK_ADDRESS to work the photos in this process") from None
    with client:
        try:
            client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        except TimeoutError:
            raise ClusterUnfit(f"the Dask scheduler at {address} has no worker (none joined within "
                               f"{CONNECT_SECONDS} s): start one on each machine with `dask worker {address}`, from "
                               "postline's folder with the studio's settings") from None
        seen = client.run(what_this_process_sees, on_error="return")
        problems = _unfit(seen, what_this_process_sees())
        if problems:
            raise ClusterUnfit(f"the Dask cluster at {address} cannot work this run's photos: " + "; ".join(problems)
                               + ". Every worker must run the same version of postline's code and see the same "
                               "POSTLINE_HOME (the shared folder, at the same path) and POSTLINE_DATABASE_URL as "
                               "the order's run: restart those workers with the studio's settings (README: "
                               "\"Running a studio on several machines\")")
        share_workers_cores(client)
    return len(seen)
