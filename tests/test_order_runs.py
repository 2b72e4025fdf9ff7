"""One live run per order, on a real Prefect server, real SQLite and real PostgreSQL: a second run of an order
is refused while the first lives (or waits for it with --wait), a killed run is taken over once its hold
ends, a run suspended for people keeps its order; and the order runs with the line it started with."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, FlowRunFilterParentFlowRunId
from prefect.states import Cancelled, Running, Suspended
from sqlmodel import col, select

from config.line import Line, get_line, load_line
from config.settings import get_settings
from flows.order import order_flow
from record import moves, people, runs, work
from record.db import transaction
from record.models import (EventKind, OrderStatus, Photo, PhotoStatus, ShootType, WorkItem, WorkStatus)
from surfaces.actions.orders import create_order
from surfaces.cli import main
from tasks.synthetic import write_card
from tasks.verify import verify
from surfaces.actions.queue import hand_back, pull_to_folder
from tasks.pixels import imageio
from tests.flowkit import MANUAL_SKIN_LINE, paused_run, retouch_everything
from tests.pg import postgres_url, use_empty_record  # noqa: F401  (the session's PostgreSQL)

ROOT = Path(__file__).resolve().parents[1]


# --- helpers ------------------------------------------------------------------------------------------------------

def _card(folder: Path, n: int, size: tuple[int, int] = (1200, 800)) -> Path:
    return write_card(folder, n, size=size)


class Run(subprocess.Popen):
    """`postline order run N` in a process of its own (the environment says which record, line, Prefect), its
    output in files (a pipe nobody reads would fill and stop it)."""

    def __init__(self, order_id: int, *extra: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.out, self.err = folder / f"out-{time.monotonic_ns()}", folder / f"err-{time.monotonic_ns()}"
        with self.out.open("w") as out, self.err.open("w") as err:
            super().__init__([sys.executable, "-m", "surfaces.cli", "order", "run", str(order_id), *extra],
                             cwd=ROOT, env=dict(os.environ), stdout=out, stderr=err, text=True,
                             start_new_session=True)

    def said(self) -> str:
        return self.out.read_text()

    def complained(self) -> str:
        return self.err.read_text()[-4000:]


def _until(what: str, condition, *, alive: list[Run] = (), timeout: float = 180):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        for proc in alive:
            if proc.poll() is not None:
                raise AssertionError(f"{what}: the run ended first ({proc.returncode}):\n{proc.complained()}")
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def _auto_claims(order_id: int) -> list[int]:
    with transaction() as session:
        return [i.id for i in session.exec(select(WorkItem).where(
            WorkItem.order_id == order_id, WorkItem.status == WorkStatus.CLAIMED,
            WorkItem.claimed_by == work.AUTO_WORKER)).all()]


def _runs_named(name: str):  # noqa: ANN202
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))


def _processed_once(order_id: int) -> Counter:
    """Each photo's work per (stage, round), counted from the SUBMITTED events; and every photo delivered."""
    with transaction() as session:
        assert {p.status for p in work.photos(session, order_id)} == {PhotoStatus.DELIVERED}
        events = work.events(session, order_id)
    submits = Counter((e.photo_id, e.stage, e.round) for e in events if e.kind is EventKind.SUBMITTED)
    assert max(submits.values()) == 1, f"processed twice: {[k for k, n in submits.items() if n > 1]}"
    return submits


@pytest.fixture(params=["sqlite", "postgres"])
def record_on(request, home, monkeypatch) -> str:
    """The production record on SQLite (the test's home) or on the session's PostgreSQL, emptied."""
    if request.param == "postgres":
        use_empty_record(request.getfixturevalue("postgres_url"), monkeypatch)
    return request.param


@pytest.fixture
def prefect_env(prefect_api, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.setenv("POSTLINE_PAUSE_POLL_SECONDS", "1")
    monkeypatch.setenv("POSTLINE_BATCH_SIZE", "1")
    yield prefect_api
    get_settings.cache_clear()


# --- two runs of one order ----------------------------------------------------------------------------------------

def test_a_second_run_is_refused_while_the_first_lives_and_waits_for_it_with_wait(
        record_on, prefect_env, line_file, tmp_path, capsys, monkeypatch):
    line_file(MANUAL_SKIN_LINE)                     # grading, then a stage worked by people: run 1 pauses there
    monkeypatch.setenv("POSTLINE_RUN_HEARTBEAT_SECONDS", "1")
    monkeypatch.setenv("POSTLINE_RUN_LEASE_SECONDS", "60")     # no run dies here: a starved heartbeat must not matter
    get_settings.cache_clear()
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password=None)
    client = f"Two Runs on {record_on}"             # run names stay unique on the session's Prefect server
    order_id = create_order(client=client, shoot="portrait", card=_card(tmp_path / "card", 4),
                            preset_name=None, due=None).id
    title = f"{client} · order {order_id}"

    logs = tmp_path / "logs"
    first = Run(order_id, folder=logs)
    held = _until("run 1 grades, holding claims", lambda: _auto_claims(order_id), alive=[first])
    (run1,) = _runs_named(title)

    # Run 2 from the command line: refused before it starts a flow run, naming run 1.
    assert main(["order", "run", str(order_id)]) == 1
    refusal = capsys.readouterr().err
    assert f"flow run '{title}' (id {run1.id})" in refusal and "since 20" in refusal and "--wait" in refusal
    # Run 2 as the deployment starts it (straight into the flow): its start-order task refuses, the same way.
    with pytest.raises(runs.OrderRunLive, match=str(run1.id)):
        order_flow(order_id)
    with transaction() as session:
        assert work.get_order(session, order_id).status is OrderStatus.RUNNING      # not marked failed by run 2
        statuses = {i.id: i.status for i in session.exec(select(WorkItem).where(col(WorkItem.id).in_(held))).all()}
    assert set(statuses.values()) <= {WorkStatus.CLAIMED, WorkStatus.SUBMITTED}, "run 1's claims were released"

    _until("run 1 waits for people", lambda: paused_run(order_id, "liquify_skin") is not None, alive=[first])
    refused = Run(order_id, folder=logs)             # the real command's exit code, while run 1 is paused
    assert refused.wait(timeout=120) == 1
    assert f"(id {run1.id})" in refused.complained()
    waiting = Run(order_id, "--wait", folder=logs)
    time.sleep(5)
    assert waiting.poll() is None, f"--wait did not wait for run 1: {waiting.complained()}"

    assert len(retouch_everything("rita", tmp_path / "rita")) == 4
    assert first.wait(timeout=300) == 0, first.complained()
    assert waiting.wait(timeout=120) == 0, waiting.complained()
    package = Path(first.said().strip().splitlines()[-1])
    assert verify(package) == [] and waiting.said().strip().splitlines()[-1] == str(package)   # run 3 found it done

    submits = _processed_once(order_id)
    assert len(submits) == 4 * 4                     # 4 photos x 4 stages, once each
    with transaction() as session:
        events = work.events(session, order_id)
        assert runs.holder(session, order_id) is None                                # the last run freed it
    assert not [e for e in events if e.kind is EventKind.RELEASED]


def test_a_killed_run_is_taken_over_when_its_hold_ends(home, prefect_env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("POSTLINE_RUN_LEASE_SECONDS", "8")
    monkeypatch.setenv("POSTLINE_RUN_HEARTBEAT_SECONDS", "1")
    get_settings.cache_clear()
    order_id = create_order(client="Killed", shoot="portrait", card=_card(tmp_path / "card", 6),
                            preset_name=None, due=None).id
    first = Run(order_id, folder=tmp_path / "logs")
    _until("run 1 is mid-way", lambda: _auto_claims(order_id) and _submitted(order_id) >= 3, alive=[first])
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    held = _auto_claims(order_id)
    with transaction() as session:
        hold = runs.holder(session, order_id)
        assert held and hold is not None
        # the dead run's last heartbeat held the order for 8 s; a loaded machine can take longer than that to get
        # to the refusal below, so its hold is made to last a minute (only its end moves), and then to end soon
        assert runs.renew(session, order_id, flow_run_id=hold.flow_run_id, lease=timedelta(seconds=60))
    with transaction() as session:
        hold = runs.holder(session, order_id)

    assert main(["order", "run", str(order_id)]) == 1          # its hold has not ended: refused, saying until when
    assert f"once its hold ends at {hold.expires_at:%Y-%m-%d %H:%M:%S} UTC" in capsys.readouterr().err

    assert main(["status"]) == 0                                # its hold lives: it looks running, as it may be
    listed = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(f"{order_id} "))
    assert "running" in listed and "NO RUN" not in listed

    with transaction() as session:
        assert runs.renew(session, order_id, flow_run_id=hold.flow_run_id, lease=timedelta(seconds=3))
    with transaction() as session:
        hold = runs.holder(session, order_id)
    _until("its hold ended", lambda: hold.expired())
    assert main(["status"]) == 0                                # the list of orders says nothing moves it
    listed = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(f"{order_id} "))
    assert f"running · NO RUN: `postline order run {order_id}`" in listed
    assert main(["order", "run", str(order_id), "--wait"]) == 0
    with get_client(sync_client=True) as client:                # the Prefect UI no longer shows it running
        assert client.read_flow_run(UUID(hold.flow_run_id)).state.is_crashed()
        subs = client.read_flow_runs(flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(
            any_=[UUID(hold.flow_run_id)])))                        # nor the stage it was killed in
        assert subs and all(sub.state.is_final() for sub in subs), [(s.name, s.state.type) for s in subs]
    with transaction() as session:
        events = work.events(session, order_id)
    released = [e for e in events if e.kind is EventKind.RELEASED]
    assert {e.work_item_id for e in released} == set(held)      # the dead run's claims, by the run that took over
    assert all("stopped before finishing" in e.reason for e in released)
    assert min(e.at for e in released).replace(tzinfo=hold.expires_at.tzinfo) >= hold.expires_at
    _processed_once(order_id)


def test_a_run_stopped_with_ctrl_c_is_shown_stopped_and_the_next_run_carries_on(home, prefect_env, tmp_path, capsys):
    """Ctrl-C in the middle of a run: `postline status` said the order was running and "Nothing: postline's own
    workers are on it", and nobody was. It says the run stopped, why, and what to run; the next run delivers."""
    order_id = create_order(client="Stopped", shoot="portrait", card=_card(tmp_path / "card", 6),
                            preset_name=None, due=None).id
    first = Run(order_id, folder=tmp_path / "logs")
    _until("the run is mid-way", lambda: _submitted(order_id) >= 2, alive=[first])
    os.killpg(first.pid, signal.SIGINT)                            # Ctrl-C reaches the terminal's process group
    assert first.wait(timeout=120) == 130, first.complained()
    assert f"order {order_id} stopped (interrupted)" in first.complained()
    assert main(["status", str(order_id)]) == 0
    status = capsys.readouterr().out
    assert f"Order {order_id} · Stopped · portrait" in status and status.splitlines()[0].endswith("· failed")
    assert "Stopped: interrupted (Ctrl-C, or its process was asked to stop)" in status
    assert f"`postline order run {order_id}` carries on" in status and "own workers are on it" not in status
    assert main(["order", "run", str(order_id)]) == 0
    _processed_once(order_id)


def test_ctrl_c_as_a_sub_run_ends_still_stops_the_run(home, prefect_env, tmp_path, monkeypatch, capsys):
    """Prefect drops a KeyboardInterrupt that lands once a sub-run's state is final (flow_engine: "BaseException
    was raised after user code finished executing", logged at debug only): a Ctrl-C landing there was lost, and
    the run went on to deliver, exit 0 (1 in 7 runs of the terminal test below). A real SIGINT, sent to this
    process just as ingest's sub-run is recorded Completed, stops the run before the next step."""
    from prefect.flow_engine import FlowRunEngine

    order_id = create_order(client="Late Ctrl C", shoot="portrait", card=_card(tmp_path / "card", 2, (300, 200)),
                            preset_name=None, due=None).id
    completed = FlowRunEngine.handle_success

    def then_ctrl_c(engine, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        result = completed(engine, *args, **kwargs)
        if engine.flow.name == "ingest":
            assert engine.state.is_final()
            os.kill(os.getpid(), signal.SIGINT)                 # handled at the next bytecode, in this (main) thread
        return result

    monkeypatch.setattr(FlowRunEngine, "handle_success", then_ctrl_c)
    assert main(["order", "run", str(order_id)]) == 130
    assert f"order {order_id} stopped (interrupted)" in capsys.readouterr().err
    with transaction() as session:
        assert work.get_order(session, order_id).status is OrderStatus.FAILED
        assert not any(e.kind is EventKind.SUBMITTED for e in work.events(session, order_id))   # nothing graded
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler     # Ctrl-C as it was after the run
    monkeypatch.undo()
    assert main(["order", "run", str(order_id)]) == 0
    _processed_once(order_id)


def _servers_of(pid: int) -> list[int]:
    """The temporary Prefect servers (uvicorn) process ``pid`` started."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid and b"prefect.server.api.server:create_app" in command:
            found.append(int(entry.name))
    return found


def _hold_ended(order_id: int) -> bool:
    with transaction() as session:
        hold = runs.holder(session, order_id)
    return hold is not None and hold.expired()


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def test_ctrl_c_in_a_terminal_stops_a_run_on_a_temporary_server_and_a_killed_run_takes_its_server_along(
        home, tmp_path, monkeypatch, capsys):
    """With no Prefect server running, a run starts a temporary one. Ctrl-C in its terminal (SIGINT to the whole
    foreground process group) killed that server too: the run went on for about 5 minutes on a server that was
    gone, printing tracebacks, then stopped with "Connection refused", exit 1, and status said so. And a run killed
    outright (SIGKILL) left its server running for good."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))      # the temporary server's own database
    monkeypatch.setenv("POSTLINE_BATCH_SIZE", "1")
    monkeypatch.setenv("POSTLINE_RUN_LEASE_SECONDS", "8")
    monkeypatch.setenv("POSTLINE_RUN_HEARTBEAT_SECONDS", "1")
    order_id = create_order(client="Ctrl C", shoot="portrait", card=_card(tmp_path / "card", 12),
                            preset_name=None, due=None).id
    first = Run(order_id, folder=tmp_path / "logs")
    _until("the run is mid-way", lambda: _submitted(order_id) >= 2, alive=[first], timeout=300)
    servers = _servers_of(first.pid)
    assert servers, "the run started no temporary server"
    os.killpg(first.pid, signal.SIGINT)                            # Ctrl-C: the terminal's whole process group
    # (once in four clean-clone runs of 2026-12-02 the run then waited 60 s on the record's write lock before it
    # stopped, 93 s in all: a defect not found yet, in the closing note; the run did stop, with 130)
    assert first.wait(timeout=180) == 130, first.complained()
    assert f"order {order_id} stopped (interrupted)" in first.complained()
    assert "Connection refused" not in first.complained()
    _until("its server stopped with it", lambda: not any(map(_alive, servers)), timeout=30)
    assert main(["status", str(order_id)]) == 0
    assert "Stopped: interrupted (Ctrl-C, or its process was asked to stop)" in capsys.readouterr().out

    before = _submitted(order_id)
    second = Run(order_id, folder=tmp_path / "logs")
    _until("the second run works", lambda: _servers_of(second.pid) and _submitted(order_id) > before,
           alive=[second], timeout=300)
    servers = _servers_of(second.pid)
    second.kill()                                                   # SIGKILL to the command alone
    second.wait()
    _until("its server ended with it", lambda: not any(map(_alive, servers)), timeout=30)

    _until("the killed run's hold ends", lambda: _hold_ended(order_id), timeout=60)
    before = _submitted(order_id)
    third = Run(order_id, folder=tmp_path / "logs")   # takes the killed run's order over, asking Prefect first
    # whether that run lives: that started the temporary server before it was started in a session of its own
    _until("the third run works", lambda: _servers_of(third.pid) and _submitted(order_id) > before, alive=[third],
           timeout=300)
    servers = _servers_of(third.pid)
    os.killpg(third.pid, signal.SIGINT)
    assert third.wait(timeout=180) == 130, third.complained()
    _until("its server stopped with it", lambda: not any(map(_alive, servers)), timeout=30)


def test_a_run_stopped_while_it_waits_for_retouchers_says_so_to_them_and_to_status(
        home, prefect_env, line_file, tmp_path, capsys):
    """The run was stopped (SIGTERM) while it waited for retouchers: status said it waited and "the run goes on by
    itself when the last one is handed back", and the last hand-back "the order can move on"; nothing did. Both
    say the run stopped and what to run; the work handed back meanwhile is kept and the next run delivers it."""
    line_file(MANUAL_SKIN_LINE)
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password=None)
    order_id = create_order(client="Stopped While Waiting", shoot="portrait", card=_card(tmp_path / "card", 2),
                            preset_name=None, due=None).id
    first = Run(order_id, folder=tmp_path / "logs")
    _until("the run waits for people", lambda: paused_run(order_id, "liquify_skin") is not None, alive=[first])
    os.killpg(first.pid, signal.SIGTERM)
    first.wait(timeout=120)
    assert main(["status", str(order_id)]) == 0
    status = capsys.readouterr().out
    assert "Stopped: interrupted" in status and "goes on by itself" not in status, status
    assert (f"Next: The run stopped: `postline status {order_id}` says why; `postline order run {order_id}` carries "
            "on (work handed back meanwhile is kept).") in status

    folder = tmp_path / "rita"
    item, path = pull_to_folder(person="rita", folder=folder)
    out = path.with_name(path.stem + "-done.tif")
    imageio.write_working_tiff(out, imageio.read_working_tiff(path) * 0.97)
    hand_back(item_id=item.id, person="rita", file=out)
    item, path = pull_to_folder(person="rita", folder=folder)
    out = path.with_name(path.stem + "-done.tif")
    imageio.write_working_tiff(out, imageio.read_working_tiff(path) * 0.97)
    assert main(["queue", "submit", str(item.id), str(out), "--as", "rita"]) == 0
    said = capsys.readouterr().out
    assert (f"That was the last open liquify_skin item of order {order_id}, but no run is working on the order (it "
            f"stopped, or none was started): `postline order run {order_id}` carries it on.") in said
    assert main(["order", "run", str(order_id)]) == 0
    assert verify(Path(capsys.readouterr().out.strip().splitlines()[-1])) == []


def _waiting_for_rita(line_file, tmp_path: Path, client: str) -> tuple[int, Run]:  # noqa: ANN001 - the fixture
    """An order of one photo on a line with a people's stage, its run (`order run`, a process of its own) paused
    there for rita: (the order's id, the run)."""
    line_file(MANUAL_SKIN_LINE)
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password=None)
    order_id = create_order(client=client, shoot="portrait", card=_card(tmp_path / "card", 1),
                            preset_name=None, due=None).id
    run = Run(order_id, folder=tmp_path / "logs")
    _until("the run waits for people", lambda: paused_run(order_id, "liquify_skin") is not None, alive=[run])
    return order_id, run


def test_a_hand_back_says_what_postline_did_and_no_prefect_chatter(home, prefect_env, line_file, tmp_path):
    """`postline queue submit` ended with Prefect's "EventsWorker - Still processing items: 1 items remaining..."
    (the order's progress artifact being sent to the Prefect server as the command ends), a WARNING a retoucher
    reads, at every hand-back, as something gone wrong. The hand-back says what postline did, and the run moves on."""
    order_id, run = _waiting_for_rita(line_file, tmp_path, "Quiet Hand-back")
    item, path = pull_to_folder(person="rita", folder=tmp_path / "rita")
    out = path.with_name(path.stem + "-done.tif")
    imageio.write_working_tiff(out, imageio.read_working_tiff(path) * 0.97)
    done = subprocess.run([sys.executable, "-m", "surfaces.cli", "queue", "submit", str(item.id), str(out),
                           "--as", "rita"], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"Work item {item.id} submitted" in done.stdout
    assert done.stderr == "", done.stderr
    assert run.wait(timeout=240) == 0, run.complained()


def test_a_last_hand_back_whose_wake_did_not_get_through_still_moves_the_run_on(
        home, prefect_env, line_file, tmp_path):
    """The last hand-back is recorded, then wakes the run: with the Prefect server unreachable at that moment the
    wake failed, and the run waited on an empty stage for POSTLINE_HUMAN_WAIT_SECONDS (two weeks), status saying
    it "goes on by itself". A run paused in place looks at the record itself every LOOK_AGAIN_POLLS polls."""
    from tasks.handoff import LOOK_AGAIN_POLLS

    order_id, run = _waiting_for_rita(line_file, tmp_path, "Lost Wake")
    item, path = pull_to_folder(person="rita", folder=tmp_path / "rita")
    out = path.with_name(path.stem + "-done.tif")
    imageio.write_working_tiff(out, imageio.read_working_tiff(path) * 0.97)
    nobody = socket.socket()
    nobody.bind(("127.0.0.1", 0))                                # a port nobody listens on: the server "down"
    done = subprocess.run([sys.executable, "-m", "surfaces.cli", "queue", "submit", str(item.id), str(out),
                           "--as", "rita"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PREFECT_API_URL=f"http://127.0.0.1:{nobody.getsockname()[1]}/api"))
    nobody.close()
    assert done.returncode == 0, done.stderr
    assert "looks again by itself" in done.stderr                # what the retoucher is told
    handed = time.monotonic()
    assert run.wait(timeout=180) == 0, run.complained()          # no one resumed it: it looked, and went on
    assert time.monotonic() - handed < LOOK_AGAIN_POLLS * 1 + 90
    with transaction() as session:
        assert work.get_order(session, order_id).status is OrderStatus.DELIVERED


@pytest.mark.parametrize("cancelled", ["the order's run", "the stage's paused run"])
def test_a_run_started_by_hand_and_cancelled_in_the_prefect_ui_stops(home, prefect_env, line_file, tmp_path,
                                                                     monkeypatch, capsys, cancelled):
    """A lead cancelled a run waiting for retouchers in the Prefect UI (as `order run`'s refusal offers): it stayed
    'Cancelling', its process waiting, retouchers pulling and handing back, and it went on to the next stage.
    Prefect stops a deployment's run through its worker; a run started by hand looks at its state each heartbeat
    and stops as with Ctrl-C, its status saying why."""
    from prefect.states import Cancelling

    monkeypatch.setenv("POSTLINE_RUN_HEARTBEAT_SECONDS", "1")
    order_id, run = _waiting_for_rita(line_file, tmp_path, f"Cancelled in the UI: {cancelled}")
    with transaction() as session:
        order = work.get_order(session, order_id)
        run_id = order.run_flow_run_id if cancelled == "the order's run" else order.flow_run_id   # the one Paused
    with get_client(sync_client=True) as client:                 # what the UI's Cancel does
        client.set_flow_run_state(UUID(run_id), Cancelling(), force=True)
    assert run.wait(timeout=90) == 130, run.complained()
    assert f"order {order_id} stopped (cancelled in the Prefect UI)" in run.complained()
    with transaction() as session:
        order = work.get_order(session, order_id)
    assert order.status is OrderStatus.FAILED and order.run_flow_run_id is None
    assert main(["status", str(order_id)]) == 0
    assert "Stopped: cancelled in the Prefect UI" in capsys.readouterr().out


def test_a_run_that_waited_too_long_says_who_did_not_answer_and_what_carries_on(
        home, prefect_env, line_file, tmp_path, monkeypatch, capsys):
    """A run that waited longer than POSTLINE_HUMAN_WAIT_SECONDS stopped with Prefect's own words, "Flow run was
    paused and never resumed", in the command's error and in status. It says who did not answer, for how long,
    and what carries on."""
    monkeypatch.setenv("POSTLINE_HUMAN_WAIT_SECONDS", "60")
    monkeypatch.setenv("POSTLINE_PAUSE_POLL_SECONDS", "1")
    line_file(MANUAL_SKIN_LINE)
    order_id = create_order(client="Nobody There", shoot="portrait", card=_card(tmp_path / "card", 1, (300, 200)),
                            preset_name=None, due=None).id
    assert main(["order", "run", str(order_id)]) == 1
    said = (f"the run waited 60 seconds for the retouchers of Liquify & skin (POSTLINE_HUMAN_WAIT_SECONDS) and "
            f"stopped waiting; what is handed back or decided meanwhile is kept: `postline order run {order_id}` "
            "carries on from it")
    err = capsys.readouterr().err
    assert said in err and "never resumed" not in err, err
    assert main(["status", str(order_id)]) == 0
    assert f"Stopped: {said}" in capsys.readouterr().out


def _submitted(order_id: int) -> int:
    with transaction() as session:
        return sum(e.kind is EventKind.SUBMITTED for e in work.events(session, order_id))


def test_a_run_suspended_for_people_keeps_its_order_until_prefect_says_it_is_gone(
        home, prefect_env, tmp_path, capsys):
    order_id = create_order(client="Suspended", shoot="portrait", card=_card(tmp_path / "card", 2, (300, 200)),
                            preset_name=None, due=None).id
    with get_client(sync_client=True) as client:     # a deployment run that suspended in its stage's sub-run
        parent = client.create_flow_run(order_flow, name=f"Suspended · order {order_id}",
                                        parameters={"order_id": order_id}, state=Running())
        child = client.create_flow_run(order_flow, name=f"Liquify & skin · order {order_id}",
                                       parameters={"order_id": order_id}, state=Running())
        client.set_flow_run_state(child.id, Suspended(timeout_seconds=3600), force=True)
    with transaction() as session:                   # its process is gone: no heartbeat, the hold has ended
        runs.take(session, order_id, flow_run_id=str(parent.id), name=parent.name, owner="worker-3 (pid 77)",
                  lease=timedelta(seconds=-1))
        order = work.get_order(session, order_id)
        order.waiting_on, order.flow_run_id = "liquify_skin", str(child.id)
        session.add(order)

    assert main(["order", "run", str(order_id)]) == 1
    refusal = capsys.readouterr().err
    assert "suspended since it started waiting for people (liquify_skin)" in refusal and str(parent.id) in refusal
    with transaction() as session:                   # resumed, the same flow run takes its order back
        assert runs.take(session, order_id, flow_run_id=str(parent.id), name=parent.name, owner="worker-1 (pid 9)",
                         lease=timedelta(seconds=-1)) is None

    with get_client(sync_client=True) as client:     # the lead cancels it in the Prefect UI: the order is free
        client.set_flow_run_state(child.id, Cancelled(), force=True)
    assert main(["order", "run", str(order_id)]) == 0
    _processed_once(order_id)
    with transaction() as session:                   # the wait the suspended run marked is over
        assert work.get_order(session, order_id).waiting_on is None


def test_the_lease_update_has_one_winner(record_on):
    with transaction() as session:
        order_id = work.create_order(session, client="Lease", shoot=ShootType.PORTRAIT, preset_name="neutral",
                                     preset_version=1, preset_hash="x", preset_json="{}", due=None,
                                     card_folder="/card").id

    def race(tag: str, dead: str | None = None) -> dict[str, runs.RunLease | None]:
        start, results = threading.Barrier(8), {}

        def take(name: str) -> None:
            start.wait()
            with transaction() as session:
                results[name] = runs.take(session, order_id, flow_run_id=name, name=name, owner="test",
                                          lease=timedelta(minutes=1), dead=dead)
        threads = [threading.Thread(target=take, args=(f"{tag}-{i}",)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    results = race("first")
    (winner,) = [name for name, standing in results.items() if standing is None]
    assert {standing.flow_run_id for standing in results.values() if standing} == {winner}
    with transaction() as session:
        assert not runs.renew(session, order_id, flow_run_id="run-x", lease=timedelta(minutes=1))
        assert not runs.clear(session, order_id, flow_run_id="run-x")
    with transaction() as session, pytest.raises(moves.StaleMove, match="another run holds it"):
        work.set_order_status(session, work.get_order(session, order_id), OrderStatus.RUNNING, run="run-x")
    with transaction() as session:
        work.set_order_status(session, work.get_order(session, order_id), OrderStatus.RUNNING, run=winner)
        assert runs.renew(session, order_id, flow_run_id=winner, lease=timedelta(seconds=-1))   # its process dies

    assert all(standing is not None for standing in race("blind").values())    # an ended hold is not taken blindly
    results = race("heir", dead=winner)                  # ...but by one of those who found its holder dead
    (heir,) = [name for name, standing in results.items() if standing is None]
    with transaction() as session:
        assert runs.holder(session, order_id).flow_run_id == heir
        with pytest.raises(runs.NotTheHolder):
            work.release_interrupted(session, order_id, run=winner)


# --- the line recorded with the order ----------------------------------------------------------------------------

AUTOMATIC_WITHOUT_FINE_RETOUCH = MANUAL_SKIN_LINE.replace('mode = "manual"', 'operation = "skin"').replace(
    '''[[stages]]
key = "fine_retouch"
title = "Fine retouch & colour"
operation = "detail"
''', "")


def test_an_order_runs_with_the_line_it_started_with_until_moved(home, prefect_env, line_file, tmp_path, capsys):
    assert "fine_retouch" not in AUTOMATIC_WITHOUT_FINE_RETOUCH
    path = line_file(MANUAL_SKIN_LINE)
    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify_skin", password=None)
    first = create_order(client="Old Line", shoot="portrait", card=_card(tmp_path / "card", 3, (400, 300)),
                         preset_name=None, due=None).id
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("package", order_flow(first)), daemon=True)
    runner.start()
    _until("the order waits for people", lambda: paused_run(first, "liquify_skin") is not None or not runner.is_alive())
    assert runner.is_alive(), "the order's run ended instead of waiting for people"

    path.write_text(AUTOMATIC_WITHOUT_FINE_RETOUCH)       # the studio edits its line while the order runs
    get_line.cache_clear()
    assert main(["order", "use-line", str(first)]) == 1  # not while it runs
    assert f"order {first} is already being run by flow run 'Old Line · order {first}'" in capsys.readouterr().err
    assert len(retouch_everything("rita", tmp_path / "rita")) == 3
    runner.join(timeout=300)
    assert verify(Path(result["package"])) == []
    with transaction() as session:
        done = Counter(e.stage for e in work.events(session, first) if e.kind is EventKind.SUBMITTED)
    assert done == {"cull_grade": 3, "liquify_skin": 3, "fine_retouch": 3, "design_layout": 3}

    second = create_order(client="New Line", shoot="portrait", card=_card(tmp_path / "card2", 2, (400, 300)),
                          preset_name=None, due=None).id
    assert main(["order", "run", str(second)]) == 0        # the new line: automatic, no fine retouch
    with transaction() as session:
        done = Counter(e.stage for e in work.events(session, second) if e.kind is EventKind.SUBMITTED)
    assert done == {"cull_grade": 2, "liquify_skin": 2, "design_layout": 2}
    capsys.readouterr()
    assert main(["status", str(first)]) == 0
    assert ("Line: cull_grade (automatic) > liquify_skin (manual) > fine_retouch (automatic) > design_layout "
            "(automatic)") in capsys.readouterr().out

    assert main(["order", "use-line", str(first)]) == 0
    said = capsys.readouterr().out
    assert f"Order {first} now runs with the line in {path}:" in said
    assert "stage removed: fine_retouch (Fine retouch & colour)" in said
    assert "stage changed: liquify_skin: mode manual -> automatic, operation None -> skin" in said
    assert "stage added" not in said
    with transaction() as session:
        assert work.order_line(session, first) == load_line(path)
    assert main(["order", "use-line", str(first)]) == 0
    assert "nothing changes" in capsys.readouterr().out


def test_an_order_is_not_moved_to_a_line_without_the_stage_its_photos_sit_in(home, line_file, capsys):
    line_file(MANUAL_SKIN_LINE)
    with transaction() as session:
        order = work.create_order(session, client="Stuck", shoot=ShootType.PORTRAIT, preset_name="neutral",
                                  preset_version=1, preset_hash="x", preset_json="{}", due=None, card_folder="/card")
        work.record_line(session, order, get_line())
        for name in ("DSC_0001.dng", "DSC_0002.dng"):
            work.add_photo(session, Photo(order_id=order.id, source_name=name, sha256=name.ljust(64, "0"),
                                          size_bytes=1, status=PhotoStatus.INGESTED, original_path=f"/{name}"),
                           first_stage="liquify_skin")
    line_file(MANUAL_SKIN_LINE.replace('''[[stages]]
key = "liquify_skin"
title = "Liquify & skin"
mode = "manual"
''', ""))
    assert "liquify_skin" not in [s.key for s in get_line().stages]
    assert main(["order", "use-line", str(order.id)]) == 1
    err = capsys.readouterr().err
    assert "photos sit in stages the new line does not have" in err
    assert "DSC_0001.dng (liquify_skin, queued), DSC_0002.dng (liquify_skin, queued)" in err
    with transaction() as session:
        assert "liquify_skin" in [s.key for s in work.order_line(session, order.id).stages]   # unchanged


def test_the_line_names_its_first_last_and_next_stages():
    line = Line.model_validate(load_line(ROOT / "config" / "line.toml").model_dump())
    assert (line.first.key, line.last.key) == ("cull_grade", "design_layout")
    assert line.next_after("cull_grade").key == "liquify_skin" and line.next_after("design_layout") is None


# --- the record stays free while Prefect is asked ---------------------------------------------------------------

def _record_free(record: Path, patience: float = 3.0) -> bool:
    """Whether another program can start writing to the SQLite record within ``patience`` seconds (a run's own
    short writes, its hold's heartbeat, end in milliseconds; a write transaction left open across a call does not)."""
    import sqlite3

    deadline = time.monotonic() + patience
    connection = sqlite3.connect(record, timeout=0, isolation_level=None)
    try:
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
                return True
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    return False
            time.sleep(0.01)
    finally:
        connection.close()


def test_the_delivery_asks_prefect_which_run_it_is_with_the_record_free(home, prefect_env, tmp_path, monkeypatch):
    """Asking Prefect which order run a sub-run belongs to takes requests; a busy Prefect server once made them
    last a minute inside the delivery's write transaction, and every other writer of the record (a retoucher, a
    second run waiting with --wait) gave up with "database is locked". Asked before the transaction now."""
    import tasks.runs as runs_module
    from tasks import deliver

    asked = []

    def current_run():              # the real question, and whether the record was free when it was asked
        asked.append(_record_free(home / "postline.db"))
        return runs_module.current_run()

    monkeypatch.setattr(deliver, "current_run", current_run)
    order_id = create_order(client="Free Record", shoot="portrait", card=_card(tmp_path / "card", 2),
                            preset_name=None, due=None).id
    package = Path(order_flow(order_id))
    assert verify(package) == []
    assert asked == [True]          # package-delivery asked once, with nobody holding the record
    with transaction() as session:
        assert work.get_order(session, order_id).status is OrderStatus.DELIVERED
        delivered = [e for e in work.events(session, order_id) if e.kind is EventKind.ORDER_DELIVERED]
    assert delivered and UUID(delivered[-1].actor)          # marked by the order's run, as before
