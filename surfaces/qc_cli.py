"""`postline qc` and `postline review`: the QC lead's and the senior photographer's decisions from the
command line — the same input as the forms of the paused runs in the Prefect UI."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from types import ModuleType

from pydantic import ValidationError

from config.settings import get_settings
from surfaces import cull_cli
from surfaces.terminal import shown


@dataclass(frozen=True)
class Gate:
    """A gate where a person decides on a list of photos: qc.review (QC lead) or qc.originals (senior review)."""
    stage: str            # what the order's run waits on (Order.waiting_on)
    module: str           # module with awaiting_review(), apply_decision(), DecisionError and the decision model
    waiting: str          # how to say what waits


QC = Gate("qc_gate", "qc.review", "photo waiting for QC review")
ORIGINALS = Gate("original_review", "qc.originals", "original waiting for review")


def _module(gate: Gate) -> ModuleType:
    import importlib

    return importlib.import_module(gate.module)


def give(gate: Gate, order_id: int, decision) -> str:  # noqa: ANN001 - the gate's RunInput model
    """Give a decision to the order's waiting run (resuming it with the decision as its run input), once it is
    checked against the record and the order's line (the gate's ``validate``: a :class:`DecisionError` says
    what is wrong, and nothing is given). If no run is waiting (it was stopped), apply it to the record
    directly; the next `postline order run` carries on. Returns a sentence saying what was done."""
    from tasks.handoff import Wake, WakeError, wake_order

    module = _module(gate)
    plan = module.validate(order_id, decision)
    try:
        woken = wake_order(order_id, gate.stage, run_input=decision.model_dump(mode="json"))
    except WakeError as exc:
        raise module.DecisionError(f"{exc}. Nothing was applied: try again in a minute.") from None
    if woken is Wake.BUSY:
        raise module.DecisionError(f"order {order_id}'s flow run is busy and did not stop for the decision; "
                                   "nothing was applied: try again in a minute")
    if woken is Wake.RESUMED:
        if _applied_soon(module, plan):
            return f"Order {order_id}'s flow run took the decision, applied it and carries on: {plan.summary()}."
        return (f"Order {order_id}'s flow run took the decision and carries on; it applies it when it next "
                f"looks (within {get_settings().pause_poll_seconds} s): {plan.summary()}.")
    module.apply_decision(order_id, decision)
    return (f"Order {order_id} has no run waiting, so the decision was recorded directly: {plan.summary()}. "
            f"Run `postline order run {order_id}` to carry on.")


def _applied_soon(module: ModuleType, plan) -> bool:  # noqa: ANN001 - the gate's Plan
    """Wait (a little longer than the paused run's poll) until the run has applied ``plan``."""
    deadline = time.monotonic() + get_settings().pause_poll_seconds + 10
    while not module.applied(plan):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def decide(order_id: int, decision) -> str:  # noqa: ANN001 - qc.review.QcDecision
    """The QC lead's decision (what `postline qc decide` and the web page give)."""
    return give(QC, order_id, decision)


def decide_originals(order_id: int, decision) -> str:  # noqa: ANN001 - qc.originals.OriginalsDecision
    """The senior photographer's review of the originals."""
    return give(ORIGINALS, order_id, decision)


def _parts(text: str, names: tuple[str, ...], example: str) -> dict:
    """'A:B[:NOTE]' -> {names[0]: A, names[1]: B, ..., 'note': NOTE}."""
    parts = text.split(":", len(names))
    if len(parts) < len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: write {':'.join(n.upper() for n in names)}[:NOTE], e.g. '{example}'")
    return dict(zip(names, parts)) | {"note": parts[len(names)] if len(parts) > len(names) else ""}


def _rejection(text: str) -> dict:
    return _parts(text, ("photo", "reason", "send_back_to"), "DSC_0003.dng:colour_cast:fine_retouch:too green")


def _cull(text: str) -> dict:
    return _parts(text, ("photo", "reason"), "DSC_0007.dng:eyes_closed")


def _pending(gate: Gate, args: argparse.Namespace) -> int:
    module = _module(gate)
    photos = module.awaiting_review(args.order_id)
    print(f"Order {args.order_id}: {len(photos)} {gate.waiting.split(' ')[0]}(s) waiting" + (":" if photos else "."))
    lines = (cull_cli.pending_lines(args.order_id, photos) if gate is ORIGINALS   # with the cull's suggestion
             else [f"  {shown(name)}" for name in photos])
    for line in lines:
        print(line)
    return 0


def _decide(gate: Gate, build, args: argparse.Namespace) -> int:  # noqa: ANN001
    module = _module(gate)
    try:
        print(shown(give(gate, args.order_id, build(module, args))))
    except ValidationError as exc:
        print("error: " + shown("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())),
              file=sys.stderr)
        return 2
    except module.DecisionError as exc:
        print(f"error: {shown(exc)}", file=sys.stderr)
        return 2
    return 0


def _qc_decision(module: ModuleType, args: argparse.Namespace):  # noqa: ANN202
    return module.QcDecision(approve_all=not args.reject, rejections=args.reject or [], lead=args.person)


def _originals_decision(module: ModuleType, args: argparse.Namespace):  # noqa: ANN202
    return cull_cli.review_decision(module, args)    # --cull, --approve-all, or --accept-suggestions


def _gate_parsers(sub: argparse._SubParsersAction, name: str, help_text: str, gate: Gate, build,  # noqa: ANN001
                  list_flag: str, parse, metavar: str, list_help: str, person: str):  # noqa: ANN202
    """The gate's `pending` and `decide`; returns the `decide` parser and its group of choices."""
    group = sub.add_parser(name, help=help_text).add_subparsers(dest="action", required=True, metavar="ACTION")
    pending = group.add_parser("pending", help=f"what waits for this decision in an order")
    pending.add_argument("order_id", type=int)
    pending.set_defaults(func=lambda args: _pending(gate, args))
    decide_p = group.add_parser("decide", help=f"approve all, or {list_help}")
    decide_p.add_argument("order_id", type=int)
    choice = decide_p.add_mutually_exclusive_group(required=True)
    choice.add_argument("--approve-all", action="store_true", help="approve every photo waiting")
    choice.add_argument(f"--{list_flag}", dest=list_flag, type=parse, action="append", metavar=metavar,
                        help=f"{list_help} (repeat for several); the others are approved")
    decide_p.add_argument("--as", dest="person", default=person, help="who decides (recorded with each event)")
    decide_p.set_defaults(func=lambda args: _decide(gate, build, args))
    return decide_p, choice


def add_parsers(sub: argparse._SubParsersAction) -> None:
    _gate_parsers(sub, "qc", "the QC lead's review: what waits, and the decision", QC, _qc_decision,
                  "reject", _rejection, "PHOTO:REASON:STAGE[:NOTE]",
                  "send photos back with a reason (over_smoothed_skin, liquify_distortion, colour_cast, exposure, "
                  "crop, dust_blemish_missed, layout, other) and the stage to redo them", "qc-lead")
    decide, choice = _gate_parsers(
        sub, "review", "the senior photographer's review of an order's originals", ORIGINALS, _originals_decision,
        "cull", _cull, "PHOTO:REASON[:NOTE]",
        "cull originals with a reason (blurred, eyes_closed, duplicate_pose, exposure, composition, other)",
        "senior-photographer")
    cull_cli.add_review_options(decide, choice, _cull)
