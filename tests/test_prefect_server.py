"""How postline sets the Prefect servers it starts (surfaces/prefect_env.py, SERVER_SETTINGS), on a real server.
What the settings change (requests the server refuses, orders' wall time) is measured by bench/prefect_server.py,
not here: it is a matter of timing."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx

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
    assert os.environ["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE"] == "100"
    assert os.environ["PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL"] == "3"


def test_the_tests_server_writes_task_runs_and_events_in_batches_once_a_second(prefect_api):
    settings = httpx.get(f"{prefect_api}/admin/settings", timeout=30).json()["server"]
    services = settings["services"]
    assert (services["task_run_recorder"]["batch_size"], services["task_run_recorder"]["flush_interval"]) == (100, 1)
    assert (services["event_persister"]["batch_size"], services["event_persister"]["flush_interval"]) == (200, 1)
    assert settings["analytics_enabled"] is False


def test_only_a_command_that_started_a_temporary_server_waits_for_it_at_exit(prefect_api, monkeypatch):
    """settle_temporary_server waits only for a temporary server Prefect started for this command: not when the
    runs went to a server by URL, nor for a temporary server already running before the command chose (the
    tests' own: in-process commands waited 2 s each, and the suite took 6 minutes longer)."""
    import time

    from surfaces import prefect_env

    for url in (prefect_api, None):
        if url:
            monkeypatch.setenv("PREFECT_API_URL", url)
        else:
            monkeypatch.delenv("PREFECT_API_URL", raising=False)
        choose_prefect_server()
        start = time.perf_counter()
        prefect_env.settle_temporary_server(seconds=5)
        assert time.perf_counter() - start < 1, url


def test_a_machine_set_up_with_a_prefect_profile_sends_its_runs_to_the_profiles_server(tmp_path, monkeypatch):
    """README's several machines set the studio's server in each machine's Prefect profile (`prefect config set
    PREFECT_API_URL=...`). postline looked at the environment only: a command chose the local server when one was
    up (a hand-back woke nothing on the studio's), and `order run` a temporary one when none was."""
    from surfaces import prefect_env

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    monkeypatch.delenv("PREFECT_PROFILES_PATH", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    (tmp_path / "profiles.toml").write_text('active = "studio"\n\n[profiles.studio]\n'
                                            'PREFECT_API_URL = "http://studio-server:4200/api"\n')
    assert choose_prefect_server() == ("Prefect runs are recorded on http://studio-server:4200/api (the Prefect "
                                       "profile's server)")
    assert "PREFECT_API_URL" not in os.environ and not prefect_env._temporary     # Prefect reads the profile itself
    (tmp_path / "profiles.toml").write_text('active = "local"\n\n[profiles.local]\n'      # Prefect's own "local":
                                            'PREFECT_API_URL = "http://127.0.0.1:4200/api"\n')   # as before
    assert "profile" not in choose_prefect_server()
