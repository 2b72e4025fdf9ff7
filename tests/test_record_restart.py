"""The production record's PostgreSQL restarting while an order runs (an update, a reboot of the database
server): a real cluster of this test's own is stopped in the middle of a stage batch and started again seconds
later. Prefect's retries of the batch (two, 5 s apart) ride it out: the run goes on and every photo is delivered
once. Before, the retry's first query (the order's line, before the batch's own error mapping) raised the
driver's error, which the retry condition did not take for the machine's: the run stopped with two retries left
and the order sat 'running' with no run on it."""

from __future__ import annotations

import shlex
import subprocess
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tasks.synthetic import write_card
from tests.flowkit import cli, delivered_once
from tests.pg import _as_user, find_bin_dir, postgres_cluster

PHOTOS = 10
DOWN_SECONDS = 7     # longer than one retry delay (5 s), shorter than two


def _data_dir(url: str) -> Path:
    return Path(make_url(url).query["host"]) / "data"


def _restart(url: str, down: float) -> None:
    """Stop the cluster of ``url`` (fast: its connections are cut), wait ``down`` seconds, start it again with
    the options it ran with."""
    prefix, _, _ = _as_user()
    data, bin_dir = _data_dir(url), find_bin_dir()
    options = shlex.split((data / "postmaster.opts").read_text())[1:]     # the server's own command line
    options = [o for o, before in zip(options, [None, *options]) if o != "-D" and before != "-D"]
    subprocess.run(prefix + [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], check=True,
                   capture_output=True)
    time.sleep(down)
    subprocess.run(prefix + [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(data.parent / "server.log"),
                             "-o", shlex.join(options), "-w", "start"], check=True, capture_output=True)


@pytest.fixture
def record_on_postgres(home_on_server, monkeypatch):
    """The production record on a PostgreSQL cluster of this test's own (it is restarted), one batch of every
    photo on one thread, so the restart falls inside a batch."""
    from config.settings import get_settings

    with postgres_cluster() as url:
        monkeypatch.setenv("POSTLINE_DATABASE_URL", url)
        monkeypatch.setenv("POSTLINE_WORKERS", "1")
        monkeypatch.setenv("POSTLINE_BATCH_SIZE", str(PHOTOS))
        get_settings.cache_clear()
        yield url
        get_settings.cache_clear()


def test_postgres_restarting_in_the_middle_of_a_batch_is_ridden_out_and_every_photo_delivered_once(
        record_on_postgres, tmp_path):
    url = record_on_postgres
    card = write_card(tmp_path / "card", PHOTOS, size=(640, 480), names="IMG_{:04d}.dng", first_number=0)
    code, out = cli("order", "create", "--client", "Restart", "--shoot", "portrait", "--from", str(card),
                    "--no-selection")
    assert code == 0, out
    order_id = int(out.strip().splitlines()[-1])
    restarted = threading.Event()

    def restart_after_the_first_graded_photo() -> None:
        engine = create_engine(url)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(text("SELECT count(*) FROM stage_events WHERE kind = 'submitted' "
                                     "AND stage = 'cull_grade'")).scalar():
                    break
            time.sleep(0.02)
        engine.dispose()
        _restart(url, DOWN_SECONDS)
        restarted.set()

    watcher = threading.Thread(target=restart_after_the_first_graded_photo, daemon=True)
    watcher.start()
    code, out = cli("order", "run", str(order_id))
    watcher.join(timeout=60)

    assert restarted.is_set(), "the database was never restarted"
    assert code == 0, out
    delivered_once(order_id, PHOTOS)
