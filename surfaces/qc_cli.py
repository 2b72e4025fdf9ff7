"""`postline qc`: the QC lead's decision from the command line — the same form as in the Prefect UI."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError


def decide(order_id: int, decision) -> str:  # noqa: ANN001 - qc.review.QcDecision
    """Give the lead's decision to the order's waiting QC gate (resuming its flow run with it as the run
    input). If no run is waiting (it was stopped), apply it to the record directly; the next
    `postline order run` carries on from there. Returns a sentence for the lead."""
    from qc import review
    from record.models import QC_GATE
    from tasks.handoff import wake_order

    if not review.awaiting_review(order_id):
        raise review.DecisionError(f"order {order_id} has no photo waiting for QC review")
    if wake_order(order_id, QC_GATE, run_input=decision.model_dump(mode="json")):
        return f"Decision given to order {order_id}'s QC gate; its flow run carries on."
    counts = review.apply_decision(order_id, decision)
    return (f"Order {order_id} has no run waiting, so the decision was recorded directly ({counts['passed']} passed, "
            f"{counts['rejected']} sent back). Run `postline order run {order_id}` to carry on.")


def _rejection(text: str) -> dict:
    parts = text.split(":", 3)
    if len(parts) < 3:
        raise argparse.ArgumentTypeError(f"{text!r}: write PHOTO:REASON:STAGE[:NOTE], e.g. "
                                         "'DSC_0003.dng:colour_cast:fine_retouch:too green'")
    return {"photo": parts[0], "reason": parts[1], "send_back_to": parts[2], "note": parts[3] if len(parts) > 3 else ""}


def cmd_pending(args: argparse.Namespace) -> int:
    from qc import review

    photos = review.awaiting_review(args.order_id)
    if not photos:
        print(f"Order {args.order_id}: nothing waits for QC review.")
        return 0
    print(f"Order {args.order_id}: {len(photos)} photo(s) passed the automatic checks and wait for review:")
    for name in photos:
        print(f"  {name}")
    print("Reasons: " + ", ".join(r.value for r in review.ReviewReason))
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    from qc import review

    try:
        decision = review.QcDecision(approve_all=not args.reject, rejections=args.reject or [], lead=args.lead)
        print(decide(args.order_id, decision))
    except ValidationError as exc:
        print("error: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), file=sys.stderr)
        return 2
    except review.DecisionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    qc = sub.add_parser("qc", help="the QC lead's review: what waits, and the decision").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    pending = qc.add_parser("pending", help="photos of an order waiting for the QC lead")
    pending.add_argument("order_id", type=int)
    pending.set_defaults(func=cmd_pending)
    decide_p = qc.add_parser("decide", help="approve all, or send listed photos back with a reason and a stage")
    decide_p.add_argument("order_id", type=int)
    group = decide_p.add_mutually_exclusive_group(required=True)
    group.add_argument("--approve-all", action="store_true", help="approve every photo waiting for review")
    group.add_argument("--reject", type=_rejection, action="append", metavar="PHOTO:REASON:STAGE[:NOTE]",
                       help="send a photo back (repeat for several); the others pass")
    decide_p.add_argument("--as", dest="lead", default="qc-lead", help="the QC lead's name, recorded with each event")
    decide_p.set_defaults(func=cmd_decide)
