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


def test_order_run_on_a_studio_machine_set_up_by_profile_gives_no_temporary_server_warning(
        prefect_api, home, tmp_path):
    """On a machine set up as README's several machines (the studio's server in the Prefect profile, nothing in the
    environment), `postline order run` on a line that waits for people printed, right under 'recorded on
    <the studio's server> (the Prefect profile's server)', that hand-backs would not reach the run from other
    machines and to stop it and start `make server`: false, and a lead stopping the run for it lost the wait."""
    import signal
    import subprocess
    import sys
    import time

    from surfaces.actions.orders import create_order
    from tasks.synthetic import write_card
    from tests.flowkit import MANUAL_SKIN_LINE

    line = tmp_path / "line.toml"
    line.write_text(MANUAL_SKIN_LINE)
    profile_home = tmp_path / "prefect-home"
    profile_home.mkdir()
    (profile_home / "profiles.toml").write_text(f'active = "studio"\n\n[profiles.studio]\n'
                                                f'PREFECT_API_URL = "{prefect_api}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "PREFECT_PROFILE"))}
    env.update(PREFECT_HOME=str(profile_home), POSTLINE_LINE_FILE=str(line), POSTLINE_HOME=str(home))
    os.environ["POSTLINE_LINE_FILE"] = str(line)
    try:
        from config.line import get_line

        get_line.cache_clear()
        order_id = create_order(client="Profile", shoot="portrait", card=write_card(tmp_path / "card", 2),
                                preset_name=None, due=None).id
    finally:
        del os.environ["POSTLINE_LINE_FILE"]
        get_line.cache_clear()
    run = subprocess.Popen([sys.executable, "-m", "surfaces.cli", "order", "run", str(order_id)], env=env, cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline, said = time.monotonic() + 240, ""
        while "Pausing flow" not in said and "Beginning subflow run 'Cull" not in said:
            assert run.poll() is None and time.monotonic() < deadline, said + run.stderr.read()
            said += run.stderr.readline()
    finally:
        os.killpg(run.pid, signal.SIGINT)
        run.wait(timeout=60)
    assert f"Prefect runs are recorded on {prefect_api} (the Prefect profile's server)" in said
    assert "note: this line waits for people" not in said
