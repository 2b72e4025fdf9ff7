"""A studio on several machines, with real parts only: a `prefect server start` process, the `order` deployment
of prefect.yaml on a process work pool, a `prefect worker start` process started from postline's folder with
the studio's settings (machine A), the production record on PostgreSQL and the studio's files in one shared
folder. This test's process is the other machine (B), where the senior photographer decides and the retoucher
hands back.

The order's run pauses in place for the senior photographer's review of the originals (a decision), suspends
at the people's stage (its process ends, the worker is free), the retoucher's last hand-back resumes it, the
worker picks it up again, and it is delivered."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import psutil
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import create_engine, text

from config.line import get_line
from config.settings import get_settings
from qc.originals import OriginalsDecision
from qc.review import PhotoRejection, QcDecision, ReviewReason
from record import people, work
from record.db import transaction
from record.models import ORIGINAL_REVIEW, QC_GATE, EventKind, PhotoStatus
from surfaces.actions.gates import decide
from surfaces.actions.orders import create_order
from surfaces.prefect_env import SERVER_SETTINGS
from tasks.synthetic.dng import DngMeta, write_dng
from tasks.synthetic.scenes import render_scene
from tests.flowkit import MANUAL_SKIN_LINE, Delivery, retouch_everything
from tests.pg import postgres_url  # noqa: F401  (the session's PostgreSQL)

ROOT = Path(__file__).resolve().parents[1]
LINE = MANUAL_SKIN_LINE + "\n[review_gate]\nenabled = true\n"
PREFECT = [sys.executable, "-m", "prefect", "--no-prompt"]
WAIT = 240          # seconds any one step may take on a loaded 2-core machine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env(**settings: str) -> dict[str, str]:
    """This machine's environment without the test session's Prefect and postline settings, plus ``settings``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "POSTLINE_"))}
    return {**kept, **SERVER_SETTINGS, **settings}


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def prefect_server(folder: Path) -> Iterator[str]:
    """`prefect server start` on a free port, its database in ``folder``; yields its API URL."""
    port, log = _free_port(), folder / "prefect-server.log"
    process = subprocess.Popen(PREFECT[:-1] + ["server", "start", "--host", "127.0.0.1", "--port", str(port)],
                               env=_clean_env(PREFECT_HOME=str(folder / "server-home")), stdout=log.open("w"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + WAIT
        while True:
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"`prefect server start` did not come up:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        yield api
    finally:
        _stop(process)


def _database(server_url: str, name: str) -> str:
    """A fresh database ``name`` on the session's PostgreSQL; returns its URL."""
    with create_engine(server_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return server_url.replace("@/postgres?", f"@/{name}?")


@pytest.fixture(scope="module")
def studio(tmp_path_factory, postgres_url, request):  # noqa: F811
    """The server, the deployment and machine A's worker, for this module; this process set up as machine B."""
    folder = tmp_path_factory.mktemp("studio")
    line_file = folder / "line.toml"
    line_file.write_text(LINE)
    settings = {"POSTLINE_HOME": str(folder / "shared" / "postline"),          # the studio's shared folder
                "POSTLINE_DATABASE_URL": _database(postgres_url, "studio"),
                "POSTLINE_LINE_FILE": str(line_file), "POSTLINE_PAUSE_POLL_SECONDS": "1"}
    monkeypatch = pytest.MonkeyPatch()
    request.addfinalizer(monkeypatch.undo)
    with prefect_server(folder) as api:
        setup = _clean_env(PREFECT_API_URL=api, PREFECT_HOME=str(folder / "admin-home"), POSTLINE_CODE_DIR=str(ROOT))
        for command in (["work-pool", "create", "postline-local", "--type", "process"],
                        ["deploy", "--name", "order", "--name", "production-report"]):
            done = subprocess.run(PREFECT + command, env=setup, cwd=ROOT, capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
        log = folder / "worker-a.log"
        worker = subprocess.Popen(PREFECT + ["worker", "start", "--pool", "postline-local", "--type", "process"],
                                  env=_clean_env(PREFECT_API_URL=api, PREFECT_HOME=str(folder / "machine-a"),
                                                 PREFECT_WORKER_QUERY_SECONDS="1", **settings),
                                  cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        try:
            for name, value in settings.items():                              # machine B: the same settings
                monkeypatch.setenv(name, value)
            get_settings.cache_clear()
            get_line.cache_clear()
            with temporary_settings({PREFECT_API_URL: api}):
                yield {"api": api, "worker": worker, "log": log}
        finally:
            _stop(worker)
            monkeypatch.undo()                  # before the caches are cleared: no setting or line of this studio
            get_settings.cache_clear()          # stays behind for the next tests
            get_line.cache_clear()


def _until(what: str, check: Callable[[], object], studio: dict) -> object:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if found := check():
            return found
        assert studio["worker"].poll() is None, "the worker died:\n" + studio["log"].read_text()[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"never {what}; worker's log:\n{studio['log'].read_text()[-3000:]}")


def _state(run_id: UUID):
    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state


def _sub_run(parent: UUID, name: str):
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent])))
    return next((r for r in runs if r.name == name), None)


def _flow_processes(worker: subprocess.Popen) -> list[str]:
    """The flow-run processes machine A's worker is running now (an ended one not yet reaped is not running)."""
    running = []
    for process in psutil.Process(worker.pid).children(recursive=True):
        try:
            if process.status() != psutil.STATUS_ZOMBIE and "prefect.engine" in " ".join(process.cmdline()):
                running.append(" ".join(process.cmdline()))
        except psutil.Error:      # it ended while being looked at
            pass
    return running


def test_an_order_deployment_suspends_for_people_frees_its_worker_resumes_on_hand_back_and_delivers(
        studio, tmp_path):
    card = tmp_path / "card"
    card.mkdir()
    for i, kind in enumerate(["portrait", "landscape", "interior"]):
        write_dng(card / f"DSC_{i + 1:04d}.dng", render_scene(kind, 480, 320, seed=i), DngMeta())
    order_id = create_order(client="Ines & Tom", shoot="wedding", card=card, preset_name=None, due=None).id
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password="s3cret-pass")
        people.add_person(session, name="sara", role="lead", skills="", password=None)
    started = time.monotonic()

    run = run_deployment("order/order", parameters={"order_id": order_id}, timeout=0)
    _until("paused for the review of the originals", lambda: (r := _sub_run(run.id, f"Review of originals · order "
                                                                         f"{order_id}")) and r.state.is_paused(), studio)
    assert len(_flow_processes(studio["worker"])) == 1              # a decision is awaited paused in place
    assert "carries on" in decide(order_id, OriginalsDecision(approve_all=True, reviewer="sara"))

    suspended = _until("suspended", lambda: (s := _state(run.id)).is_paused() and s.name == "Suspended" and s,
                       studio)
    assert suspended.state_details.pause_reschedule                 # Prefect starts it again once resumed
    _until("the worker was free", lambda: not _flow_processes(studio["worker"]), studio)
    with transaction() as session:                                  # what the record says the order waits on
        order = work.get_order(session, order_id)
        assert (order.waiting_on, order.flow_run_id) == ("liquify_skin", str(run.id))
    at_suspend = time.monotonic() - started

    assert len(retouch_everything("rita", tmp_path / "rita")) == 3      # the last hand-back resumes the run
    final = _until("ended", lambda: (s := _state(run.id)).is_final() and s, studio)
    print(f"suspended {at_suspend:.0f} s after run_deployment; delivered {time.monotonic() - started:.0f} s after")

    assert final.is_completed(), final
    with get_client(sync_client=True) as client:
        history = [s.name for s in client.read_flow_run_states(run.id)]
    assert history.index("Suspended") < history.index("Resuming") < history.index("Completed"), history
    assert history.count("Running") == 2                            # one process before the hand-back, one after
    with transaction() as session:
        photos = work.photos(session, order_id)
        events = work.events(session, order_id)
        order = work.get_order(session, order_id)
    assert order.waiting_on is None                                 # `postline status` shows no wait left
    assert {p.status for p in photos} == {PhotoStatus.DELIVERED} and len(photos) == 3
    assert {e.photo_id for e in events if e.stage == ORIGINAL_REVIEW and e.actor == "sara"} == {p.id for p in photos}
    assert sum(e.kind is EventKind.SUBMITTED and e.actor == "rita" for e in events) == 3
    delivery = Delivery(Path(order.delivery_path))
    assert delivery.mismatches() == [] and delivery.delivered_sources() == {p.name for p in card.iterdir()}
    assert delivery.path.is_relative_to(Path(os.environ["POSTLINE_HOME"]))   # written to the shared folder


def test_a_deployment_run_waits_for_the_qc_lead_again_after_a_send_back_to_people(studio, tmp_path):
    """The QC lead sent a photo back to the retoucher; after the hand-back the resumed run died at the second QC
    review: Prefect gave the new process round 1's QC sub-run again, and its pause took round 1's key, whose
    input form was saved already (`409 Conflict ... A flow run input with this key already exists`). Each pause
    has a key of its own."""
    line_file = Path(os.environ["POSTLINE_LINE_FILE"])
    line_file.write_text(MANUAL_SKIN_LINE + "\n[qc_gate]\nhuman_review = true\n")   # read when the order starts
    get_line.cache_clear()
    try:
        card = tmp_path / "card"
        card.mkdir()
        for i, kind in enumerate(["portrait", "landscape"]):
            write_dng(card / f"DSC_{i + 1:04d}.dng", render_scene(kind, 360, 240, seed=i + 5), DngMeta())
        order_id = create_order(client="Again", shoot="portrait", card=card, preset_name=None, due=None).id
        with transaction() as session:                          # the other test of the module may have added them
            known = {person.name for person in people.list_people(session)}
            for name, role, skills in (("rita", "retoucher", "liquify_skin"), ("sara", "lead", "")):
                if name not in known:
                    people.add_person(session, name=name, role=role, skills=skills, password=None)
        run = run_deployment("order/order", parameters={"order_id": order_id}, timeout=0)

        def waiting_on(stage: str):  # noqa: ANN202
            with transaction() as session:
                order = work.get_order(session, order_id)
            return order.waiting_on == stage and _paused_sub_run(run.id)

        _until("suspended for the retoucher", lambda: _state(run.id).name == "Suspended", studio)
        assert len(retouch_everything("rita", tmp_path / "rita")) == 2
        _until("paused for the QC lead", lambda: waiting_on(QC_GATE), studio)
        said = decide(order_id, QcDecision(approve_all=False, lead="sara", rejections=[PhotoRejection(
            photo="DSC_0002.dng", reason=ReviewReason.OTHER, send_back_to="liquify_skin", note="the left cheek")]))
        assert "carries on" in said, said
        _until("suspended for the retoucher again", lambda: _state(run.id).name == "Suspended", studio)
        assert retouch_everything("rita", tmp_path / "rita")
        _until("paused for the QC lead again", lambda: waiting_on(QC_GATE) or _state(run.id).is_final(), studio)
        assert not _state(run.id).is_final(), studio["log"].read_text()[-3000:]
        assert "carries on" in decide(order_id, QcDecision(approve_all=True, lead="sara"))
        final = _until("ended", lambda: (s := _state(run.id)).is_final() and s, studio)
        assert final.is_completed(), studio["log"].read_text()[-3000:]
        with transaction() as session:
            order = work.get_order(session, order_id)
        assert Delivery(Path(order.delivery_path)).mismatches() == []
    finally:
        line_file.write_text(LINE)
        get_line.cache_clear()


def _paused_sub_run(parent: UUID) -> bool:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent])))
    return any(r.state and r.state.is_paused() for r in runs)


def test_the_server_schedules_the_deployments_that_have_a_schedule(studio):
    """prefect.yaml's monthly report (and the five-minute housekeeping) run only if the server's scheduler
    makes their runs: with SQLAlchemy 2.1 Prefect 3.8.8's scheduler failed on every pass and made none."""
    with get_client(sync_client=True) as client:
        report = client.read_deployment_by_name("production-report/production-report")

        def scheduled():
            return [r for r in client.read_flow_runs(limit=50) if r.deployment_id == report.id
                    and r.state is not None and r.state.is_scheduled()]
        runs = _until("scheduled a run of the monthly report", scheduled, studio)
    assert all(r.expected_start_time.day == 1 and r.expected_start_time.hour == 6 for r in runs)   # "0 6 1 * *" UTC
