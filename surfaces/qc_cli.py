"""`postline qc` and `postline review`: the QC lead's and the senior photographer's decisions from the
command line — the same input as the forms of the paused runs in the Prefect UI."""

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


def decide_originals(order_id: int, decision) -> str:  # noqa: ANN001 - qc.originals.OriginalsDecision
    """The senior photographer's review of the originals, given to the order's waiting run (or the record)."""
    from qc import originals
    from record.models import ORIGINAL_REVIEW
    from tasks.handoff import wake_order

    if not originals.awaiting_review(order_id):
        raise originals.DecisionError(f"order {order_id} has no original waiting for review")
    if wake_order(order_id, ORIGINAL_REVIEW, run_input=decision.model_dump(mode="json")):
        return f"Review given to order {order_id}; its flow run carries on."
    counts = originals.apply_decision(order_id, decision)
    return (f"Order {order_id} has no run waiting, so the review was recorded directly ({counts['approved']} approved, "
            f"{counts['culled']} culled). Run `postline order run {order_id}` to carry on.")


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


def _cull(text: str) -> dict:
    parts = text.split(":", 2)
    if len(parts) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: write PHOTO:REASON[:NOTE], e.g. 'DSC_0007.dng:eyes_closed'")
    return {"photo": parts[0], "reason": parts[1], "note": parts[2] if len(parts) > 2 else ""}


def cmd_review_pending(args: argparse.Namespace) -> int:
    from qc import originals

    photos = originals.awaiting_review(args.order_id)
    print(f"Order {args.order_id}: {len(photos)} original(s) wait for review" + (":" if photos else "."))
    for name in photos:
        print(f"  {name}")
    if photos:
        print("Reasons to cull: " + ", ".join(r.value for r in originals.CullReason))
    return 0


def cmd_review_decide(args: argparse.Namespace) -> int:
    from qc import originals

    try:
        decision = originals.OriginalsDecision(approve_all=not args.cull, cull=args.cull or [], reviewer=args.reviewer)
        print(decide_originals(args.order_id, decision))
    except ValidationError as exc:
        print("error: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), file=sys.stderr)
        return 2
    except originals.DecisionError as exc:
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

    review = sub.add_parser("review", help="the senior photographer's review of an order's originals").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    pending_r = review.add_parser("pending", help="originals of an order waiting for review")
    pending_r.add_argument("order_id", type=int)
    pending_r.set_defaults(func=cmd_review_pending)
    decide_r = review.add_parser("decide", help="approve all originals, or cull listed ones with a reason")
    decide_r.add_argument("order_id", type=int)
    group_r = decide_r.add_mutually_exclusive_group(required=True)
    group_r.add_argument("--approve-all", action="store_true", help="every original goes on to the line")
    group_r.add_argument("--cull", type=_cull, action="append", metavar="PHOTO:REASON[:NOTE]",
                         help="leave a frame out (repeat for several); the others go on")
    decide_r.add_argument("--as", dest="reviewer", default="senior-photographer", help="who reviews (recorded)")
    decide_r.set_defaults(func=cmd_review_decide)
