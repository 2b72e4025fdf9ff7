"""One live run per order: the order's run lease.

Why a lease in the record, and not a lock or a Prefect concurrency limit: the runs of one order may be
processes on different machines (`postline order run` on a lead's laptop, a deployment run on a worker) that
share nothing but the production record, and a run's process may die at any moment without saying so (a
SIGKILL, a power cut). A database lock dies with its connection but cannot outlive a paused process's idle
hours without holding a connection open all that time; a Prefect tag limit is not released by a killed
process until someone looks. A lease is what the work items' claims already are (record/queue.py): the
holder's flow run id, where it runs (host, pid) and until when it holds the order, taken by one guarded
``UPDATE orders ... WHERE id = :id AND (nobody holds it OR the hold expired OR it is this very flow run)``,
which one taker wins on SQLite (one writer at a time) and PostgreSQL alike (the second UPDATE waits for the
first's row lock and re-reads the row, finding it held). The holder renews it with a heartbeat while its
process lives, paused or not, and clears it when it ends. A run whose process died stops renewing, and the
next run takes the order once the hold has ended: a killed process never blocks an order for longer than
``POSTLINE_RUN_LEASE_SECONDS``.

A run suspended from a deployment has no process, so no heartbeat: whether it is still alive is Prefect's
to say, and the tasks layer asks (tasks/runs.py) before taking an expired lease. The resumed run has the
same flow run id, so it takes its lease back. Only the holder may release the automatic worker's claims on
the order (record.work.release_interrupted) and move the order's status (record.moves.move_order).

Functions take ``session`` and do not commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlmodel import Session, col

from config.errors import Refused
from record.models import Order, OrderStatus, utcnow


@dataclass(frozen=True)
class RunLease:
    """Who holds an order: its flow run, where it runs, since and until when."""
    order_id: int
    flow_run_id: str
    name: str | None
    owner: str | None
    started_at: datetime | None
    expires_at: datetime | None

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is None or self.expires_at <= (now or utcnow())


class OrderRunLive(Refused):
    """Another run holds the order. The message names it, says since when, and what to do."""

    def __init__(self, lease: RunLease, *, suspended: bool = False, waiting_on: str | None = None) -> None:
        self.lease, self.suspended = lease, suspended
        super().__init__(describe(lease, suspended=suspended, waiting_on=waiting_on))


class NotTheHolder(Refused):
    """A run acted on an order that another run holds now (its own hold expired and was taken over)."""


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _when(moment: datetime | None) -> str:
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "an unknown time"


def describe(lease: RunLease, *, suspended: bool = False, waiting_on: str | None = None) -> str:
    """What a lead reads when a second run of the order is refused."""
    order, run = lease.order_id, f"flow run '{lease.name or '?'}' (id {lease.flow_run_id})"
    if suspended:
        return (f"order {order} is being run by {run}, suspended since it started waiting for people"
                f"{f' ({waiting_on})' if waiting_on else ''}; it took the order at {_when(lease.started_at)}. "
                f"It carries on by itself when they hand back. To start the order over instead, cancel that run "
                f"in the Prefect UI, then run `postline order run {order}` again.")
    return (f"order {order} is already being run by {run} on {lease.owner or 'an unknown machine'}, "
            f"since {_when(lease.started_at)}. Wait for it to end (`postline order run {order} --wait` starts "
            f"as soon as it does), or stop it (Ctrl-C where it runs, or cancel it in the Prefect UI). If its "
            f"process died, the order is free once its hold ends at {_when(lease.expires_at)}.")


def no_run_on(order: Order, now: datetime | None = None) -> bool:
    """Whether ``order`` is running with no run working on it: not waiting for anyone (people, a decision, the
    client) and no hold on it, or the hold ran out (its process was killed, its machine stopped, or the record was
    away when it stopped). Nothing moves such an order until it is run again."""
    if order.status is not OrderStatus.RUNNING or order.waiting_on:
        return False
    expires = _utc(order.run_expires_at)
    return order.run_flow_run_id is None or expires is None or expires <= (now or utcnow())


def holder(session: Session, order_id: int, *, lock: bool = False) -> RunLease | None:
    """The run holding the order (expired or not), or None. ``lock``: lock the order's row until the
    transaction ends (PostgreSQL), so the answer stays true while the caller acts on it."""
    query = select(Order.run_flow_run_id, Order.run_name, Order.run_owner, Order.run_started_at,
                   Order.run_expires_at).where(Order.id == order_id)
    if lock and session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()
    row = session.execute(query).first()
    if row is None or row.run_flow_run_id is None:
        return None
    return RunLease(order_id, row.run_flow_run_id, row.run_name, row.run_owner, _utc(row.run_started_at),
                    _utc(row.run_expires_at))


def take(session: Session, order_id: int, *, flow_run_id: str, name: str, owner: str, lease: timedelta,
         dead: str | None = None, dead_ended: bool = False, now: datetime | None = None) -> RunLease | None:
    """Take the order for ``flow_run_id`` until now + ``lease``, in one guarded UPDATE: if nobody holds it,
    if this flow run holds it already (a run resumed after a suspension, or taking it again), or if the
    holder is ``dead`` (a flow run the caller found gone) and its hold has expired, or ``dead_ended``: its
    run has ended by Prefect's word (it will not renew its hold). None when taken, else the lease that stands
    in the way."""
    now = now or utcnow()
    free = [col(Order.run_flow_run_id).is_(None), Order.run_flow_run_id == flow_run_id]
    if dead is not None:
        free.append((Order.run_flow_run_id == dead) if dead_ended
                    else (Order.run_flow_run_id == dead) & (col(Order.run_expires_at) <= now))
    result = session.execute(
        update(Order).where(Order.id == order_id, or_(*free))
        .values(run_flow_run_id=flow_run_id, run_name=name[:200], run_owner=owner[:200], run_expires_at=now + lease,
                run_started_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:
        return None
    standing = holder(session, order_id)
    if standing is None:
        if session.get(Order, order_id) is None:
            raise LookupError(f"no order {order_id}; `postline status` lists the orders")
        # Cleared between the UPDATE and this read (PostgreSQL): the order is free now.
        return take(session, order_id, flow_run_id=flow_run_id, name=name, owner=owner, lease=lease, now=now)
    return standing


def renew(session: Session, order_id: int, *, flow_run_id: str, lease: timedelta, now: datetime | None = None) -> bool:
    """The heartbeat: the order stays ``flow_run_id``'s until now + ``lease``. False if it is not its any more."""
    now = now or utcnow()
    result = session.execute(
        update(Order).where(Order.id == order_id, Order.run_flow_run_id == flow_run_id)
        .values(run_expires_at=now + lease).execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def clear(session: Session, order_id: int, *, flow_run_id: str) -> bool:
    """The run ends: the order is free. Only the holder clears it; False if ``flow_run_id`` did not hold it."""
    result = session.execute(
        update(Order).where(Order.id == order_id, Order.run_flow_run_id == flow_run_id)
        .values(run_flow_run_id=None, run_name=None, run_owner=None, run_started_at=None, run_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def ensure_holder(session: Session, order_id: int, flow_run_id: str) -> None:
    """:class:`NotTheHolder` unless ``flow_run_id`` holds the order now (its row locked until the transaction
    ends, on PostgreSQL, so it stays so while the caller acts)."""
    lease = holder(session, order_id, lock=True)
    if lease is None or lease.flow_run_id != flow_run_id:
        now_by = f"flow run '{lease.name}' (id {lease.flow_run_id})" if lease else "no run"
        raise NotTheHolder(f"order {order_id} is held by {now_by}, not by flow run {flow_run_id}: this run lost "
                           "the order (its heartbeat stopped for longer than its hold) and stops here")


def free_for(run: str | None, now: datetime | None = None):  # noqa: ANN201  (a SQL condition)
    """The SQL condition 'no live run holds the order, or ``run`` does': what an order's status move needs."""
    now = now or utcnow()
    conditions = [col(Order.run_flow_run_id).is_(None), col(Order.run_expires_at) <= now]
    if run is not None:
        conditions.append(Order.run_flow_run_id == run)
    return or_(*conditions)
