"""An order's photo work on a real local Dask cluster of two worker processes (POSTLINE_DASK_ADDRESS), through
prefect-dask: the same delivery, byte for byte, as the thread pool gives for the same card; and a cluster whose
workers would work elsewhere (another POSTLINE_HOME) or cannot be reached stops the run with a message saying so."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import pytest

from config.line import get_line
from presets.recipe import load_recipe
from config.settings import get_settings
from record import work
from record.db import transaction
from record.models import OrderStatus
from surfaces.actions.orders import create_order
from surfaces.cli import main
from tasks import runners
from tasks.pixels.cores import opencv_threads
from tasks.synthetic.dng import DngMeta, write_dng
from tasks.synthetic.scenes import render_scene
from tests.flowkit import Delivery


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A postline home, and a Dask cluster of two worker processes started with that home in their settings
    (as `POSTLINE_HOME=... dask worker ADDRESS` would be on each machine)."""
    from distributed import LocalCluster

    runners.quiet_distributed()
    home = tmp_path_factory.mktemp("studio") / "postline-home"
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                      local_directory=str(tmp_path_factory.mktemp("dask-scratch")),
                      env={"POSTLINE_HOME": str(home), "POSTLINE_DATABASE_URL": ""}) as cluster:
        yield {"home": home, "address": cluster.scheduler_address, "cluster": cluster}


@pytest.fixture
def in_studio(dask_cluster, prefect_api, monkeypatch):
    """This process as the machine that runs the order: the same POSTLINE_HOME as the cluster's workers."""
    monkeypatch.setenv("POSTLINE_HOME", str(dask_cluster["home"]))
    monkeypatch.delenv("POSTLINE_DATABASE_URL", raising=False)
    monkeypatch.delenv("POSTLINE_LINE_FILE", raising=False)  # the default line
    monkeypatch.setenv("POSTLINE_BATCH_SIZE", "1")        # one photo per batch: the batches spread over both workers
    get_settings.cache_clear()
    get_line.cache_clear()
    yield {**dask_cluster, "prefect_api": prefect_api}
    get_settings.cache_clear()
    get_line.cache_clear()


def _card(folder: Path) -> Path:
    folder.mkdir()
    for i, kind in enumerate(["portrait", "landscape", "interior", "portrait"]):
        write_dng(folder / f"DSC_{i + 1:04d}.dng", render_scene(kind, 480, 320, seed=i), DngMeta())
    return folder


def _run(card: Path, monkeypatch, address: str | None) -> tuple[int, Delivery]:
    from flows.order import order_flow

    if address:
        monkeypatch.setenv("POSTLINE_DASK_ADDRESS", address)
    else:
        monkeypatch.delenv("POSTLINE_DASK_ADDRESS", raising=False)
    get_settings.cache_clear()
    order_id = create_order(client="Mila & Jon", shoot="wedding", card=card, preset_name=None, due=None,
                            same_card=True).id              # the same card, on the thread pool and on Dask
    return order_id, Delivery(Path(order_flow(order_id)))


def _files(home: Path) -> set[Path]:
    """The archive, working files and deliveries under ``home`` (the record's own files aside)."""
    return {p for p in home.rglob("*") if p.is_file() and not p.name.startswith("postline.db")}


def _checksums(delivery: Delivery) -> dict[tuple[str, str], str]:
    return {(e["source_name"], e["rendition"]): e["sha256"] for e in delivery.manifest["files"]}


def test_photo_work_on_two_dask_worker_processes_delivers_the_same_bytes_as_the_thread_pool(
        in_studio, tmp_path, monkeypatch):
    from distributed import Client, get_task_stream

    card = _card(tmp_path / "card")
    started = time.monotonic()
    _, local = _run(card, monkeypatch, None)
    local_seconds = time.monotonic() - started
    with Client(in_studio["address"], set_as_default=False) as client, get_task_stream(client) as stream:
        client.wait_for_workers(2, timeout=120)
        started = time.monotonic()
        dask_id, on_dask = _run(card, monkeypatch, in_studio["address"])
        dask_seconds = time.monotonic() - started
    print(f"thread pool {local_seconds:.1f} s, Dask (2 worker processes) {dask_seconds:.1f} s")

    assert local.mismatches() == [] and on_dask.mismatches() == []
    assert len(_checksums(on_dask)) == 4 * len(load_recipe("wedding").renditions)     # every rendition of 4 photos
    assert _checksums(on_dask) == _checksums(local)
    workers = {task["worker"] for task in stream.data}
    assert len(workers) == 2, workers                       # both worker processes worked photos
    with Client(in_studio["address"], set_as_default=False) as client:     # two photos at once on this machine
        assert set(client.run(cv2.getNumThreads).values()) == {opencv_threads(2)}
    assert len(stream.data) >= 4 * 3                          # ingest, three automatic stages, QC: batches of one
    with transaction() as session:
        assert work.get_order(session, dask_id).status is OrderStatus.DELIVERED


def test_workers_that_see_another_postline_home_stop_the_run_before_any_photo_moves(
        in_studio, tmp_path, monkeypatch, capsys):
    other = tmp_path / "postline-elsewhere"                  # this machine's run, the workers' home differs
    monkeypatch.setenv("POSTLINE_HOME", str(other))
    monkeypatch.setenv("POSTLINE_DASK_ADDRESS", in_studio["address"])
    monkeypatch.setenv("PREFECT_API_URL", in_studio["prefect_api"])
    get_settings.cache_clear()
    order_id = create_order(client="Elsewhere", shoot="portrait", card=_card(tmp_path / "card"), preset_name=None,
                            due=None).id
    workers_files = _files(in_studio["home"])

    assert main(["order", "run", str(order_id)]) == 1
    error = capsys.readouterr().err
    assert f"the Dask cluster at {in_studio['address']} cannot work this run's photos" in error
    assert error.count(f"sees POSTLINE_HOME {in_studio['home']} (this run: {other})") == 2     # each worker named
    with transaction() as session:
        assert work.photos(session, order_id) == []          # nothing ingested, nothing written elsewhere
    assert _files(in_studio["home"]) == workers_files                # and nothing in the workers' home either


def test_an_unreachable_scheduler_stops_the_run_with_what_to_do(home, prefect_api, tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as sock:                            # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("POSTLINE_DASK_ADDRESS", address)
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.setattr(runners, "CONNECT_SECONDS", 2)
    get_settings.cache_clear()
    order_id = create_order(client="Nobody", shoot="portrait", card=_card(tmp_path / "card"), preset_name=None,
                            due=None).id

    assert main(["order", "run", str(order_id)]) == 1
    error = capsys.readouterr().err
    assert f"the Dask scheduler at {address} (POSTLINE_DASK_ADDRESS) cannot be reached" in error
    assert "unset POSTLINE_DASK_ADDRESS" in error
