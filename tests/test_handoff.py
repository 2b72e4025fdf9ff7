"""Waking an order's paused run (tasks.handoff.wake_order) against a real Prefect server: a run a moment away
from pausing is waited for and then resumed with the decision; one that does not pause in time is BUSY (and
nothing was given to it); one that has finished is NOT_WAITING at once."""

from __future__ import annotations

import threading
import time

import pytest
from prefect import flow
from prefect.flow_runs import pause_flow_run
from prefect.runtime import flow_run

from qc.review import QcDecision
from record import work
from record.db import transaction
from record.models import QC_GATE, ShootType
from tasks.handoff import Wake, mark_waiting, wake_order


@flow(name="pauses-late")
def pauses_late(order_id: int, delay: float) -> dict:
    """Says it waits on the QC gate, then takes ``delay`` seconds before it actually pauses for the decision."""
    mark_waiting(order_id, QC_GATE, str(flow_run.id))
    time.sleep(delay)
    decision = pause_flow_run(wait_for_input=QcDecision, timeout=120, poll_interval=1)
    return decision.model_dump(mode="json")


@pytest.fixture
def order_id(home, prefect_api, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    with transaction() as session:
        order = work.create_order(session, client="Wake", shoot=ShootType.PORTRAIT, preset_name="neutral",
                                  preset_version=1, preset_hash="0" * 64, preset_json="{}", due=None,
                                  card_folder=str(home / "card"))
    return order.id


def _start(order_id: int, delay: float) -> tuple[threading.Thread, dict]:
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("decision", pauses_late(order_id, delay)),
                              daemon=True)
    runner.start()
    deadline = time.monotonic() + 60
    while True:                                 # until the run has said it waits (it has not paused yet)
        with transaction() as session:
            if work.get_order(session, order_id).waiting_on == QC_GATE:
                return runner, result
        assert runner.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)


def test_a_run_about_to_pause_is_waited_for_and_resumed_with_the_decision(order_id):
    runner, result = _start(order_id, delay=6)
    started = time.monotonic()
    woken = wake_order(order_id, QC_GATE, run_input=QcDecision(lead="maria").model_dump(mode="json"), patience=30)
    waited = time.monotonic() - started
    assert woken is Wake.RESUMED and waited > 3          # it kept asking while Prefect said "not paused"
    runner.join(timeout=60)
    assert result["decision"]["lead"] == "maria" and result["decision"]["approve_all"] is True

    started = time.monotonic()                           # the run has finished: nothing waits, said at once
    assert wake_order(order_id, QC_GATE, run_input={}, patience=30) is Wake.NOT_WAITING
    assert time.monotonic() - started < 15               # not the 30 s of patience


def test_a_run_that_does_not_pause_in_time_is_busy_and_gets_nothing(order_id):
    runner, result = _start(order_id, delay=6)
    started = time.monotonic()
    assert wake_order(order_id, QC_GATE, run_input=QcDecision(lead="early").model_dump(mode="json"),
                      patience=1) is Wake.BUSY
    assert time.monotonic() - started < 15               # not the 30 s of patience the next call has
    assert wake_order(order_id, QC_GATE, run_input=QcDecision(lead="later").model_dump(mode="json"),
                      patience=30) is Wake.RESUMED
    runner.join(timeout=60)
    assert result["decision"]["lead"] == "later"
