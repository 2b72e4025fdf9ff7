"""A person's decision at a gate (qc/gates.py: the QC lead's review, the senior photographer's review of the
originals), given from the command line (`postline qc|review decide`) or the web page: the same input as the
form of the order's paused run in the Prefect UI."""

from __future__ import annotations

import time

from prefect.input import RunInput

from config.errors import Forbidden
from config.settings import get_settings
from qc.gates import Gate, NotTakenNow, Plan, gates
from record import people, runs, work
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
        raise NotTakenNow(f"{exc}. Nothing was applied: try again in a minute.") from None
    if woken is Wake.BUSY:
        raise NotTakenNow(f"order {order_id}'s flow run is busy and did not stop for the decision; "
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


def held(order_id: int) -> list[tuple[str, str]]:
    """The order's photos QC held for a lead after the allowed rework: (name on the card, why)."""
    from record.models import PhotoStatus

    with transaction() as session:
        work.get_order(session, order_id)
        return [(p.source_name, p.reason or "held by QC") for p in work.photos(session, order_id, PhotoStatus.HELD)]


def decide_held(order_id: int, *, passes: list[str], send_back: list[tuple[str, str, str]], lead: str) -> str:
    """A lead's decision on held photos (record.rounds.decide_held); what was done and what to run next."""
    from record import rounds
    from record.models import OrderStatus

    check_decider(lead)
    with transaction() as session:
        work.get_order(session, order_id)             # no such order: said so (NotFound), not "not held"
        passed, sent = rounds.decide_held(session, order_id=order_id, passes=passes, send_back=send_back,
                                          actor=lead)
        order = work.get_order(session, order_id)
        line = work.order_line(session, order_id)
        live = runs.holder(session, order_id)
    said = [f"{len(passed)} passed as it is" + (f" ({', '.join(p.source_name for p in passed)})" if passed else "")]
    said += [f"{photo.source_name} sent back to {line.stage(stage).title}" for photo, stage in sent]
    if alike := [photo.source_name for photo, stage in sent if line.remade_alike(stage)]:
        from qc.review import remade_said

        said[-1] += f" ({remade_said(alike)})"
    if live is not None and not live.expired():
        then = (f"The order's run, still going, takes them on; if it was already making its delivery, `postline "
                f"status {order_id}` says what is left to run once it ends.")
    elif sent:
        then = (f"Run `postline order run {order_id}` to work the photo(s) sent back"
                + (" and make the delivery again with them." if order.status is OrderStatus.DELIVERED else "."))
    elif order.status is OrderStatus.DELIVERED:
        then = f"Run `postline deliver {order_id}` to add the passed photo(s) to the order's package."
    else:
        then = f"They go with the order's delivery: `postline order run {order_id}` carries it on."
    return f"Order {order_id}: " + "; ".join(said) + ". " + then
