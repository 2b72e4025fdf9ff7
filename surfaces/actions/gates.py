"""A person's decision at a gate (qc/gates.py: the QC lead's review, the senior photographer's review of the
originals), given from the command line (`postline qc|review decide`) or the web page: the same input as the
form of the order's paused run in the Prefect UI."""

from __future__ import annotations

import time

from prefect.input import RunInput

from config.errors import Forbidden
from config.settings import get_settings
from qc.gates import DecisionError, Gate, Plan, gates
from record import people, work
from record.db import transaction
from surfaces.terminal import shown
from tasks.handoff import Wake, WakeError


def check_decider(name: str) -> None:
    """Who gives a decision from the command line (``--as``), recorded with each event and counted in the report's
    figures per person: once the studio has listed its people (`postline people add`), a lead of theirs, as on the
    web page and the Prefect UI's form (record.people.check_lead); before, the name as given (a studio of one)."""
    with transaction() as session:
        try:
            people.check_lead(session, name)
        except (people.UnknownPerson, Forbidden) as exc:
            raise type(exc)(f"--as {shown(name)}: {exc}") from None


def gate_of(decision: RunInput) -> Gate:
    """The gate a decision is for (each gate has its own decision model)."""
    return next(gate for gate in gates().values() if isinstance(decision, gate.decision))


def pending(gate: Gate, order_id: int) -> list[str]:
    """The order's photos awaiting ``gate``, by card name; NotFound (a usage error) for
    an order the record does not have."""
    with transaction() as session:
        work.get_order(session, order_id)
    return gate.awaiting(order_id)


def decide(order_id: int, decision: RunInput) -> str:
    """Give a decision (for the gate its model is, :func:`gate_of`) to the order's waiting run (resuming it with the decision as its run input), once it is
    checked against the record and the order's line (:meth:`Gate.validate`: a :class:`DecisionError` says what
    is wrong, and nothing is given). If no run is waiting (it was stopped), apply it to the record directly; the
    next `postline order run` carries on. Returns a sentence saying what was done."""
    gate = gate_of(decision)
    plan = gate.validate(order_id, decision)
    try:
        woken = gate.wake(order_id, decision)
    except WakeError as exc:
        raise DecisionError(f"{exc}. Nothing was applied: try again in a minute.") from None
    if woken is Wake.BUSY:
        raise DecisionError(f"order {order_id}'s flow run is busy and did not stop for the decision; "
                            "nothing was applied: try again in a minute")
    if woken is Wake.RESUMED:
        if _applied_soon(gate, plan):
            return f"Order {order_id}'s flow run took the decision, applied it and carries on: {plan.summary()}."
        return (f"Order {order_id}'s flow run took the decision and carries on; it applies it when it next "
                f"looks (within {get_settings().pause_poll_seconds} s): {plan.summary()}.")
    gate.apply(order_id, decision)
    return (f"Order {order_id} has no run waiting, so the decision was recorded directly: {plan.summary()}. "
            f"Run `postline order run {order_id}` to carry on.")


def _applied_soon(gate: Gate, plan: Plan) -> bool:
    """Wait (a little longer than the paused run's poll) until the run has applied ``plan``."""
    deadline = time.monotonic() + get_settings().pause_poll_seconds + 10
    while not gate.applied(plan):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True
