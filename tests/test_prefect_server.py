"""How postline sets the Prefect servers it starts (surfaces/prefect_env.py, SERVER_SETTINGS), on a real server."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
from prefect import flow, task
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from surfaces.prefect_env import SERVER_SETTINGS, choose_prefect_server

REPO = Path(__file__).resolve().parents[1]


def test_make_server_is_set_as_every_other_server_postline_starts():
    exported = dict(re.findall(r"^export (PREFECT_\w+) \?= (\S+)$", (REPO / "Makefile").read_text(), re.M))
    assert exported == SERVER_SETTINGS


def test_the_cli_gives_its_temporary_server_the_settings_and_keeps_a_studios_own(monkeypatch):
    for key in SERVER_SETTINGS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL", "3")     # the studio's choice
    monkeypatch.setenv("PREFECT_API_URL", "http://studio-server:4200/api")                   # no probing
    choose_prefect_server()
    import os

    assert os.environ["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE"] == "100"
    assert os.environ["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL"] == "3"


def test_the_server_records_task_runs_in_batches(prefect_api):
    settings = httpx.get(f"{prefect_api}/admin/settings", timeout=30).json()["server"]
    assert settings["services"]["task_run_recorder"]["batch_size"] == 100
    assert settings["services"]["task_run_recorder"]["flush_interval"] == 1.0
    assert settings["analytics_enabled"] is False


@task
def _plan() -> int:
    return 1


@flow
def _sub_run(index: int) -> int:
    return index


@flow
def _order_like(starts: int) -> list[float]:
    """Each sub-run right after a task, as the order flow starts its steps (flows/order.py); the seconds each
    sub-run call took."""
    took = []
    for index in range(starts):
        _plan()
        start = time.perf_counter()
        _sub_run(index)
        took.append(time.perf_counter() - start)
    return took


def test_a_sub_run_started_right_after_a_task_does_not_wait_for_the_server(prefect_api):
    """With the server's default (each task run event written at once), SQLite refused a third to a half of these
    sub-runs' first write, and each waited 2 s for the client's retry (bench/prefect_server.py measures both)."""
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):   # as the order's sub-runs
        took = _order_like(20)
    slow = [round(seconds, 2) for seconds in took if seconds > 1.5]
    assert len(slow) <= 2, f"sub-runs that waited: {slow} of {[round(s, 2) for s in took]}"
