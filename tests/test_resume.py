"""Kill `postline order run` mid-way, run it again: the order completes and no finished photo is redone.
(The killed run holds the order until its short lease ends; the new run waits for that.)"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlmodel import select

from config.settings import get_settings
from flows.order import order_flow
from record import work
from record.db import transaction
from record.models import EventKind, PhotoStatus, WorkItem, WorkStatus
from surfaces.actions.orders import create_order
from tasks.synthetic import write_card
from tasks.verify import verify

PHOTOS = 8


def _submitted(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute("SELECT count(*) FROM stage_events WHERE kind = 'submitted'").fetchone()[0]


def test_a_killed_run_resumes_without_redoing_finished_photos(prefect_api, home, tmp_path, monkeypatch):
    card = write_card(tmp_path / "card", PHOTOS, size=(1600, 1066), names="IMG_{:04d}.dng", first_number=0)
    order_id = create_order(client="Interrupted", shoot="portrait", card=card, preset_name=None, due=None).id

    env = {**os.environ, "PREFECT_API_URL": prefect_api, "POSTLINE_HOME": str(home), "POSTLINE_BATCH_SIZE": "1",
           "POSTLINE_RUN_LEASE_SECONDS": "3", "POSTLINE_RUN_HEARTBEAT_SECONDS": "1"}
    run = subprocess.Popen([sys.executable, "-m", "surfaces.cli", "order", "run", str(order_id)], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    db = home / "postline.db"
    deadline = time.monotonic() + 180
    while _submitted(db) < PHOTOS + 3:          # mid-way: grading done, the next stage under way
        assert run.poll() is None, "the run finished before it could be killed; make the order bigger"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()

    with transaction() as session:
        finished = {(i.photo_id, i.stage, i.round): (i.output_path, Path(i.output_path).stat().st_mtime_ns)
                    for i in session.exec(select(WorkItem)
                                          .where(WorkItem.status == WorkStatus.SUBMITTED)).all()}
        held = [i.id for i in session.exec(select(WorkItem)
                                           .where(WorkItem.status == WorkStatus.CLAIMED)).all()]
    assert len(finished) >= PHOTOS + 3

    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.setenv("POSTLINE_RUN_HEARTBEAT_SECONDS", "0.5")
    monkeypatch.setenv("POSTLINE_KEEP_REMAKEABLE_FILES", "true")     # to see that no finished file was rewritten
    get_settings.cache_clear()
    package = Path(order_flow(order_id, wait=True))

    with transaction() as session:
        assert all(p.status is PhotoStatus.DELIVERED for p in work.photos(session, order_id))
        events = work.events(session, order_id)
    submits = Counter((e.photo_id, e.stage, e.round) for e in events if e.kind is EventKind.SUBMITTED)
    assert max(submits.values()) == 1, "a finished photo was processed again"
    for key, (path, mtime) in finished.items():
        assert Path(path).stat().st_mtime_ns == mtime, f"{path} was rewritten"
    released = [e for e in events if e.kind is EventKind.RELEASED]
    assert {e.work_item_id for e in released} == set(held)
    assert all("stopped before finishing" in e.reason for e in released)
    assert verify(package) == []
