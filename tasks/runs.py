"""An order's run: one live run per order, and the line it runs with.

The order flow runs inside :func:`order_run`: it takes the order's run lease (record/runs.py) with the
``start-order`` task, or is refused with a message naming the run that holds it (or, with ``wait``, waits
for that run to end); keeps the lease alive with a heartbeat thread while its process lives, paused or
not; and frees it when it ends. A run suspended from a deployment keeps the order: it has no process to
heartbeat, so before taking an expired lease this module asks Prefect whether its run is suspended (or
resumed and about to start again), and if so the order is still that run's.

The order's line is recorded the first time it starts (:func:`line_of` reads it);
:func:`use_current_line` moves an order to the current line file explicitly."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from prefect import task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound, PrefectSignal
from prefect.logging import get_logger, get_run_logger
from prefect.runtime import deployment, flow_run
from prefect.states import Crashed
from sqlmodel import col, select

from config.errors import PostlineError, Refused
from config.line import Line, get_line
from config.settings import get_settings
from record import runs, work
from record.db import transaction
from record.models import QC_GATE, OrderStatus, Photo, PhotoStatus, WorkItem, WorkStatus
from record.moves import IllegalMove, StaleMove

logger = get_logger("postline.runs")


def line_of(order_id: int) -> Line:
    """The line order ``order_id`` runs with (record.work.order_line), in a transaction of its own."""
    with transaction() as session:
        return work.order_line(session, order_id)


def current_run() -> str | None:
    """The flow run id of the order run this code runs in (the root of the sub-flows), None outside one."""
    try:
        return flow_run.root_flow_run_id
    except Exception:  # noqa: BLE001 - outside any flow run, or the server cannot say: no run
        return None


def _owner() -> str:
    return f"{socket.gethostname()} (pid {os.getpid()})"


def _lease() -> timedelta:
    return timedelta(seconds=get_settings().run_lease_seconds)


def _still_alive(lease: runs.RunLease, waiting_run: str | None) -> bool:
    """Whether a run whose hold has expired is alive all the same, by Prefect: the run (or the sub-run it
    waits in) is suspended, waiting for people with no process; or the run is scheduled or pending, that is
    resumed (or retried) and about to start again. A run Prefect does not know is gone."""
    with get_client(sync_client=True) as client:
        for run_id in dict.fromkeys(filter(None, (lease.flow_run_id, waiting_run))):
            try:
                state = client.read_flow_run(UUID(run_id)).state
            except (ObjectNotFound, ValueError):
                continue
            if state is None:
                continue
            if state.is_paused() and state.state_details.pause_reschedule:
                return True
            if run_id == lease.flow_run_id and (state.is_scheduled() or state.is_pending()):
                return True
    return False


def _ended(lease: runs.RunLease) -> bool:
    """Whether Prefect says the holder's flow run has ended (completed, failed, crashed or cancelled) although
    its hold has not expired: a run that stopped because the record itself failed (a full disk under it)
    could not clear its hold, and a finished run will not renew it. Unknown to this Prefect server: no."""
    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(lease.flow_run_id)).state
    except (ObjectNotFound, ValueError):
        return False
    return state is not None and state.is_final()


def _judge(order_id: int, run_id: str) -> tuple[str, bool] | None:
    """A holder of the order that is gone, so this run may take over: its flow run id, and whether Prefect
    says it ended (else its hold expired and Prefect has it neither suspended nor about to restart). None if
    nobody or this run holds it, or the holder is alive. :class:`record.runs.OrderRunLive` for a suspended
    holder."""
    with transaction() as session:
        standing = runs.holder(session, order_id)
        order = work.get_order(session, order_id)
        waiting_on, waiting_run = order.waiting_on, order.flow_run_id
    if standing is None or standing.flow_run_id == run_id:
        return None
    if not standing.expired():
        return (standing.flow_run_id, True) if _ended(standing) else None
    if _still_alive(standing, waiting_run if waiting_on else None):
        raise runs.OrderRunLive(standing, suspended=True, waiting_on=waiting_on)
    return standing.flow_run_id, False


def ensure_free(order_id: int) -> None:
    """:class:`record.runs.OrderRunLive` while a live run holds the order (a suspended one included)."""
    if _judge(order_id, run_id="") is not None:
        return
    with transaction() as session:
        standing = runs.holder(session, order_id)
    if standing is not None and not standing.expired():
        raise runs.OrderRunLive(standing)


def _mark_crashed(dead: str, order_id: int, run_name: str) -> None:
    """The Prefect UI should not show a dead run of the order as running or paused: mark it crashed, and so its
    stages' sub-runs it was in (`Cull & grade · order 8` stayed Running for good after a kill)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    message = f"its process stopped; '{run_name}' took order {order_id} over"
    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(dead)).state
            if state is not None and not state.is_final():
                client.set_flow_run_state(UUID(dead), Crashed(message=message), force=True)
            subs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[UUID(dead)])))
            for sub in subs:
                if sub.state is not None and not sub.state.is_final():
                    client.set_flow_run_state(sub.id, Crashed(message=message), force=True)
    except (ObjectNotFound, ValueError):
        pass  # recorded on another Prefect server (a temporary one): nothing to mark


def _copied_again(order_id: int) -> list[str]:
    """The order's card files refused before and copied again since (tasks.ingest.copied_again), when it is
    delivered: its next run takes them in (none otherwise: any run's ingest does)."""
    from tasks.ingest import copied_again     # tasks.ingest reads the order's line through this module

    with transaction() as session:
        order = work.get_order(session, order_id)
        if order.status is not OrderStatus.DELIVERED:
            return []
        card = Path(order.card_folder)
    return sorted(copied_again(order_id, card))


def _take_order(order_id: int, run_id: str, run_name: str) -> dict:
    """Take the order for this run, in one transaction with what a run's start does: record the line on the
    order's first start, put back the claims a dead run left, mark it running. A delivered order runs again when
    card files its ingest refused have been copied again since (:func:`_copied_again`): its delivery is made
    again with them, in place (not a client's revision: the order's revision rounds stay)."""
    gone = _judge(order_id, run_id)
    dead = gone[0] if gone else None
    late = _copied_again(order_id)
    with transaction() as session:
        standing = runs.take(session, order_id, flow_run_id=run_id, name=run_name, owner=_owner(), lease=_lease(),
                             dead=dead, dead_ended=bool(gone and gone[1]))
        if standing is not None:
            raise runs.OrderRunLive(standing)
        order = work.get_order(session, order_id)
        if order.line_json is None:
            work.record_line(session, order, get_line())
        if order.waiting_on is not None:    # what an earlier wait marked: a suspended run starts again from the
            order.waiting_on = None         # top, and skips the stage it waited in once people are done there
            session.add(order)
        delivered = order.status is OrderStatus.DELIVERED and order.delivery_path and Path(order.delivery_path).exists()
        again = ""
        if delivered and late:      # the same delivery, made again whole: not a client's revision
            delivered = False
            again = (f": {len(late)} card file(s) refused before were copied again since the delivery "
                     f"({', '.join(late[:5])}{', ...' if len(late) > 5 else ''}); the delivery is made again with them")
        elif delivered and work.stages_with_work(session, order_id):   # failed photos put back (`order retry`)
            delivered = False
            again = ": photos were put back in the line since the delivery (failed ones retried, or held ones a " \
                    "lead sent back); the delivery is made again with them"
        released = 0
        if not delivered:
            released = work.release_interrupted(session, order_id, run=run_id)
            work.set_order_status(session, order, OrderStatus.RUNNING, run=run_id, reason=(
                f"run '{run_name}' started" + (f", taking over from flow run {dead}" if dead else "") + again))
        started = {"client": order.client, "card_folder": order.card_folder, "delivered": bool(delivered),
                   "delivery_path": order.delivery_path, "released": released, "copied_again": late if again else [],
                   "review_gate": work.order_line(session, order_id).review_gate.enabled}
    if dead is not None:
        _mark_crashed(dead, order_id, run_name)
    return started


@task(name="start-order")
def start_order(order_id: int, run_id: str, run_name: str, wait: bool = False) -> dict:
    """Take the order for this run, or refuse (:class:`record.runs.OrderRunLive`, naming the run that holds
    it); with ``wait``, wait for that run to end first. Puts back any photo a dead run was holding."""
    announced = False
    while True:
        try:
            started = _take_order(order_id, run_id, run_name)
        except runs.OrderRunLive as refusal:
            if not wait:
                raise
            if not announced:
                get_run_logger().info("Waiting for the order to be free: %s", refusal)
                announced = True
            time.sleep(get_settings().run_heartbeat_seconds)
            continue
        if started["copied_again"]:
            get_run_logger().warning("order %s was delivered; it runs again, and its delivery is made again, for the "
                                     "card files refused before and copied again since: %s", order_id,
                                     ", ".join(started["copied_again"]))
        if started["released"]:
            get_run_logger().warning("order %s: %d photo(s) a stopped run was holding are queued again",
                                     order_id, started["released"])
        return started


class _Heartbeat(threading.Thread):
    """Renews the run's hold on the order every POSTLINE_RUN_HEARTBEAT_SECONDS while the process lives."""

    def __init__(self, order_id: int, run_id: str) -> None:
        super().__init__(name=f"postline-run-heartbeat-{order_id}", daemon=True)
        self.order_id, self.run_id = order_id, run_id
        self.lost = False
        self._stop_now = threading.Event()
        self._by_hand = not deployment.id          # read here, in the run's thread: Prefect's runtime is its

    def run(self) -> None:
        while not self._stop_now.wait(get_settings().run_heartbeat_seconds):
            try:
                with transaction() as session:
                    held = runs.renew(session, self.order_id, flow_run_id=self.run_id, lease=_lease())
                    waiting = work.get_order(session, self.order_id).flow_run_id   # a stage's run, paused
            except Exception as exc:  # noqa: BLE001 - the record was busy or away: try again at the next beat
                logger.warning("order %s: could not renew this run's hold on the order: %s", self.order_id, exc)
                continue
            if not held:
                self.lost = True
                logger.error("order %s: this run no longer holds the order (another run took it over); it stops "
                             "at the next stage", self.order_id)
                return
            if self._cancelled({self.run_id, waiting or self.run_id}):
                with _ctrl_c_owner_lock:                # still this run's Ctrl-C to give (not ended meanwhile)
                    if _ctrl_c_owner[0] != self.run_id:
                        return
                    logger.warning("order %s: its run was cancelled in the Prefect UI: it stops, as with Ctrl-C",
                                   self.order_id)
                    _cancelled.set()
                    os.kill(os.getpid(), signal.SIGINT)     # handled in the main thread, as a Ctrl-C (_ctrl_c_kept)
                return

    def _cancelled(self, run_ids: set[str]) -> bool:
        """Whether the order's run, or the stage's run it waits in (the one the Prefect UI shows Paused), was
        cancelled in the Prefect UI, and stopping it is this process's to do: a run started by hand (`postline
        order run`) whose Ctrl-C this process keeps (:func:`_ctrl_c_kept`). Prefect stops a deployment's run
        through its worker; a run started by hand went on grading and waiting, 'Cancelling'."""
        if not self._by_hand or _ctrl_c_owner[0] != self.run_id:
            return False
        try:
            with get_client(sync_client=True) as client:
                found = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(any_=[UUID(run_id) for run_id in run_ids])))
        except Exception:  # noqa: BLE001 - the Prefect server away a moment: look again at the next beat
            return False
        return any(run.state is not None and run.state.type in (StateType.CANCELLING, StateType.CANCELLED)
                   for run in found)

    def stop(self) -> None:
        self._stop_now.set()
        self.join(timeout=30)


def end_order_run(order_id: int, run_id: str, *, failed: bool, reason: str | None = None) -> None:
    """The run ends: mark the order stopped (failed) if it did, with ``reason`` (only while this run holds it),
    and free it."""
    with transaction() as session:
        if failed:
            try:
                work.set_order_status(session, work.get_order(session, order_id), OrderStatus.FAILED, run=run_id,
                                      reason=(reason or "the run stopped with an error")[:1000])
            except (IllegalMove, StaleMove):
                pass  # delivered already, or another run holds the order now: its status is that run's
        runs.clear(session, order_id, flow_run_id=run_id)


_interrupted = threading.Event()
_ctrl_c_owner: list[str | None] = [None]    # the run whose Ctrl-C this process keeps now (_ctrl_c_kept)
_ctrl_c_owner_lock = threading.Lock()
_cancelled = threading.Event()       # the Ctrl-C was the heartbeat's: the run was cancelled in the Prefect UI


def _on_ctrl_c(signum: int, frame: object) -> None:
    _interrupted.set()
    raise KeyboardInterrupt


@contextmanager
def _ctrl_c_kept(run_id: str) -> Iterator[None]:
    """Ctrl-C (SIGINT) during the run is remembered as well as raised: Prefect drops a KeyboardInterrupt that
    lands once a sub-run's state is final (its flow engine logs it at debug, "BaseException was raised after user
    code finished executing"), and the run went on to deliver. :func:`stop_if_interrupted` raises it again at the
    order flow's next step. Only where Python's own Ctrl-C handler is in place, in the main thread."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    _interrupted.clear()
    signal.signal(signal.SIGINT, _on_ctrl_c)
    with _ctrl_c_owner_lock:
        _ctrl_c_owner[0] = run_id
    try:
        yield
    finally:
        with _ctrl_c_owner_lock:                  # no heartbeat gives this run's Ctrl-C once it has ended
            _ctrl_c_owner[0] = None
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _interrupted.clear()


def cancelled_in_the_ui() -> bool:
    """Whether the last order run of this process was stopped by its cancelling in the Prefect UI."""
    return _cancelled.is_set()


def stop_if_interrupted() -> None:
    """Raise KeyboardInterrupt if Ctrl-C reached this run and was lost on the way (:func:`_ctrl_c_kept`): in the
    main thread only, where the run that remembers it runs (an order flow in another thread is not stopped)."""
    if _interrupted.is_set() and threading.current_thread() is threading.main_thread():
        raise KeyboardInterrupt


@contextmanager
def order_run(order_id: int, *, wait: bool = False) -> Iterator[dict]:
    """The order flow's hold on the order, from its start to its end (see the module's docstring). Yields
    what ``start-order`` says, with ``run_id``: the flow run id holding the order."""
    run_id = str(flow_run.id)
    started = start_order(order_id, run_id, flow_run.name or f"order {order_id}", wait)
    heartbeat = _Heartbeat(order_id, run_id)
    heartbeat.start()
    try:
        _cancelled.clear()
        with _ctrl_c_kept(run_id):
            yield {**started, "run_id": run_id}
    except PrefectSignal:
        heartbeat.stop()       # suspended: no process until resumed, and the resumed run takes the order back
        raise
    except Exception as exc:
        heartbeat.stop()
        _end_failed(order_id, run_id, failed=True, reason=_stop_reason(order_id, exc))
        raise
    except BaseException:      # Ctrl-C, the process asked to stop: stopped, and the order free at once
        heartbeat.stop()
        _end_failed(order_id, run_id, failed=True, reason="cancelled in the Prefect UI" if _cancelled.is_set() else
                    "interrupted (Ctrl-C, or its process was asked to stop)")
        raise
    heartbeat.stop()
    end_order_run(order_id, run_id, failed=False)


def _stop_reason(order_id: int, exc: BaseException) -> str:
    """Why the run stopped, as the order's status says it: a postline error says it all; the machine's failure
    (a full disk, the record away) as the studio acts on it; anything else is named too."""
    from tasks.errors import as_retryable

    stop = exc if isinstance(exc, PostlineError) else as_retryable(exc, order_id=order_id,
                                                                   folder=get_settings().work_dir)
    said = " ".join(str(stop if stop is not None else exc).split())
    return said if stop is not None and said else f"{type(exc).__name__}: {said}"


def _end_failed(order_id: int, run_id: str, *, failed: bool, reason: str) -> None:
    """:func:`end_order_run` on the way out of a failed run: when the record cannot take it either (its disk is
    full, it is away), one line says so, not a second traceback over the first error; the run's hold on the
    order then runs out by itself."""
    try:
        end_order_run(order_id, run_id, failed=failed, reason=reason)
    except Exception as exc:  # noqa: BLE001 - the error that stopped the run is raised next
        logger.warning("order %s: could not record that this run stopped (%s); its hold on the order runs out "
                       "by itself", order_id, " ".join(str(exc).split())[:300])


# --- moving an order to the current line file ---------------------------------------------------------------

class LineChangeRefused(Refused):
    """The order cannot move to the new line: photos sit where the new line has no stage."""


def _listing(names: list[str], most: int = 10) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _stranded(session, order_id: int, old: Line, new: Line) -> list[str]:  # noqa: ANN001
    """Why the order's photos cannot move from ``old`` to ``new``, one sentence per cause."""
    kept = {s.key for s in new.stages} | {QC_GATE}
    open_items = session.exec(select(WorkItem, Photo.source_name).join(Photo, Photo.id == WorkItem.photo_id).where(
        WorkItem.order_id == order_id, col(WorkItem.status).in_([WorkStatus.QUEUED, WorkStatus.CLAIMED]),
        col(WorkItem.stage).not_in(kept))).all()
    problems = []
    if open_items:
        problems.append("photos sit in stages the new line does not have: " + _listing(
            [f"{name} ({item.stage}, {item.status.value})" for item, name in open_items])
            + "; finish them (or let the order run to the end) first")
    if old.last.key != new.last.key:
        finished = session.exec(select(Photo.source_name).where(
            Photo.order_id == order_id, col(Photo.status).in_([PhotoStatus.PASSED, PhotoStatus.DELIVERED]))).all()
        if finished:
            problems.append(f"photos passed QC with their finished files made by {old.last.key}, which would no "
                            f"longer be the last stage (the new line ends with {new.last.key}), so a delivery "
                            f"would pack other files: {_listing(list(finished))}")
    return problems


def use_current_line(order_id: int) -> list[str]:
    """Move order ``order_id`` to the current line file; returns what changes (empty: nothing). Refused with
    :class:`record.runs.OrderRunLive` while a run holds the order, and with :class:`LineChangeRefused` when
    photos sit where the new line has no stage."""
    new = get_line()
    ensure_free(order_id)
    with transaction() as session:
        standing = runs.holder(session, order_id, lock=True)   # no run can take the order until this commits
        if standing is not None and not standing.expired():
            raise runs.OrderRunLive(standing)
        order = work.get_order(session, order_id)
        old = work.order_line(session, order_id)
        changes = old.changes_to(new)
        if order.line_json is not None and not changes:
            return []
        problems = _stranded(session, order_id, old, new)
        if problems:
            raise LineChangeRefused(f"order {order_id} stays on its line: " + "; ".join(problems) + ".")
        work.record_line(session, order, new)
    return changes
