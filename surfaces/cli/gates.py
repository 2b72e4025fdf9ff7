"""`postline qc` and `postline review`: the QC lead's and the senior photographer's decisions from the
command line — the same input as the forms of the paused runs in the Prefect UI. One command group per gate
(qc/gates.py); what differs between them is said in :data:`COMMANDS`."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import PurePosixPath

from typing import TYPE_CHECKING

from pydantic import ValidationError

from qc.reasons import CullReason, ReviewReason
from surfaces.cli import cull, regions
from surfaces.cli.errors import CliError, order_argument
from surfaces.terminal import shown

if TYPE_CHECKING:
    from qc.gates import Gate


@dataclass(frozen=True)
class GateCommand:
    """How a gate reads on the command line."""
    key: str                   # the gate's (qc.gates.gates()), loaded when the command runs, not when it is parsed
    name: str                  # `postline NAME pending|decide`
    help: str
    flag: str                  # the option listing exceptions: --reject, --cull
    fields: tuple[str, ...]    # what one listed exception names, before its optional note
    metavar: str
    example: str
    list_help: str
    person: str                # who decides, by default


COMMANDS = (
    GateCommand("qc_gate", "qc", "the QC lead's review: what waits, and the decision", "reject",
                ("photo", "reason", "send_back_to"), "PHOTO:REASON:STAGE[:NOTE]", "DSC_0003.dng:colour_cast:fine_retouch:too green",
                f"send photos back with a reason ({', '.join(r.value for r in ReviewReason)}) and the stage to redo "
                "them", "qc-lead"),
    GateCommand("original_review", "review", "the senior photographer's review of an order's originals", "cull",
                ("photo", "reason"), "PHOTO:REASON[:NOTE]", "DSC_0007.dng:eyes_closed",
                f"cull originals with a reason ({', '.join(r.value for r in CullReason)})",
                "senior-photographer"),
)


def _gate(command: GateCommand) -> Gate:
    from qc.originals import ORIGINALS
    from qc.review import QC

    return {QC.key: QC, ORIGINALS.key: ORIGINALS}[command.key]


def _listed(command: GateCommand):  # noqa: ANN202 - argparse type: 'A:B[:NOTE]' -> {fields..., 'note': NOTE}
    def parse(text: str) -> dict:
        names = command.fields
        parts = text.split(":", len(names))
        if len(parts) < len(names):
            raise argparse.ArgumentTypeError(f"{text!r}: write {':'.join(n.upper() for n in names)}[:NOTE], "
                                             f"e.g. '{command.example}'")
        return dict(zip(names, parts)) | {"note": parts[len(names)] if len(parts) > len(names) else ""}
    return parse


def _pending(command: GateCommand, args: argparse.Namespace) -> int:
    from surfaces.actions import gates as actions

    gate = _gate(command)
    photos = actions.pending(gate, args.order_id)
    print(f"Order {args.order_id}: {len(photos)} {gate.waits.split(' ')[0]}(s) waiting" + (":" if photos else "."))
    lines = (cull.pending_lines(args.order_id, photos) if command.name == "review"    # with the cull's suggestion
             else [f"  {shown(name)}" for name in photos])
    for line in lines:
        print(line)
    return 0


def _by_waiting_names(command: GateCommand, args: argparse.Namespace) -> None:
    """The photos ``args`` names, each by its name on the card as the gate lists it (`pending`): a file name alone
    (any case) names the one waiting photo of that name, as `order revise` and `order bw` take it. A name that
    is not one waiting photo's is left as given, for the decision's check to refuse with what waits."""
    from surfaces.actions import gates as actions

    waiting = actions.pending(_gate(command), args.order_id)
    by_file: dict[str, list[str]] = {}
    for name in waiting:
        by_file.setdefault(PurePosixPath(name).name.lower(), []).append(name)
    known = set(waiting)

    def named(name: str) -> str:
        found = by_file.get(PurePosixPath(name).name.lower(), [])
        return found[0] if name not in known and len(found) == 1 else name

    for row in [*(getattr(args, command.flag) or []), *(getattr(args, "also_cull", None) or [])]:
        row["photo"] = named(row["photo"])
    if getattr(args, "keep", None):
        args.keep = [named(name) for name in args.keep]
    for option in ("region", "outline"):        # (PHOTO, BOX), (PHOTO, POINTS), as argparse read them
        if getattr(args, option, None):
            setattr(args, option, [(named(photo), value) for photo, value in getattr(args, option)])


def _decide(command: GateCommand, args: argparse.Namespace) -> int:
    """A decision that does not fit the form (pydantic) or the record (DecisionError) is a usage error, exit 2; so is
    one given ``--as`` somebody the studio's people do not name (once it has listed them)."""
    from surfaces.actions import gates as actions

    actions.check_decider(args.person)
    _by_waiting_names(command, args)
    gate = _gate(command)
    if command.name == "review":
        decision = cull.review_decision(args)        # --cull, --approve-all, or --accept-suggestions
    else:
        listed = regions.with_regions(args)                       # --reject, --region
        try:
            decision = gate.build(listed=listed, by=args.person)
        except ValidationError as exc:
            raise CliError("; ".join(_row_said(command, listed, e) for e in exc.errors())
                           + ". Nothing was applied.") from None
    print(shown(actions.decide(args.order_id, decision)))
    return 0


def _sent_back(text: str) -> tuple[str, str, str]:
    """`--send-back PHOTO:STAGE[:NOTE]` -> (photo, stage, note)."""
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: write PHOTO:STAGE[:NOTE], e.g. 'DSC_0003.dng:liquify_skin:"
                                         "bring the highlights back by hand'")
    return parts[0], parts[1], parts[2] if len(parts) > 2 else ""


def _held(args: argparse.Namespace) -> int:
    """`postline qc held N`: the photos QC held for a lead, with why; with --pass / --send-back, the lead's
    decision on them."""
    from surfaces.actions import gates as actions

    if args.passes or args.send_back:
        print(shown(actions.decide_held(args.order_id, passes=args.passes, send_back=args.send_back,
                                        lead=args.person)))
        return 0
    photos = actions.held(args.order_id)
    print(f"Order {args.order_id}: {len(photos)} photo(s) held by QC after the allowed rework" +
          (", for a QC lead to decide:" if photos else "."))
    for name, why in photos:
        print(f"  {shown(name)}: {shown(why)}")
    if photos:
        print(f"Pass one as it is: `postline qc held {args.order_id} --pass PHOTO --as LEAD`; or send it back a round "
              f"with a note: `--send-back PHOTO:STAGE[:NOTE]`.")
    return 0


def _row_said(command: GateCommand, listed: list[dict], error: dict) -> str:
    """One error of a decision's validation, naming the photo and the value given: `--reject DSC_0003.dng: reason
    'dust': Input should be 'over_smoothed_skin', ...` (not pydantic's `rejections.0.reason: ...`)."""
    loc = error["loc"]
    if len(loc) >= 3 and isinstance(loc[1], int) and loc[1] < len(listed):
        field = ".".join(map(str, loc[2:]))
        given = error.get("input")
        return (f"--{command.flag} {listed[loc[1]].get(command.fields[0], '?')}: {field}"
                + (f" {given!r}" if isinstance(given, (str, int, float)) else "")
                + f": {error['msg'].removeprefix('Value error, ')}")
    return f"{'.'.join(map(str, loc))}: {error['msg']}" if loc else error["msg"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `postline qc ...` and `postline review ...`."""
    for command in COMMANDS:
        group = sub.add_parser(command.name, help=command.help).add_subparsers(dest="action", required=True,
                                                                               metavar="ACTION")
        pending = group.add_parser("pending", help="what waits for this decision in an order")
        order_argument(pending)
        pending.set_defaults(func=lambda args, command=command: _pending(command, args))
        decide = group.add_parser("decide", help=f"approve all, or {command.list_help}")
        order_argument(decide)
        choice = decide.add_mutually_exclusive_group(required=True)
        choice.add_argument("--approve-all", action="store_true", help="approve every photo waiting")
        choice.add_argument(f"--{command.flag}", dest=command.flag, type=_listed(command), action="append",
                            metavar=command.metavar,
                            help=f"{command.list_help} (repeat for several); the others are approved")
        decide.add_argument("--as", dest="person", default=command.person, help="who decides (recorded with each event)")
        if command.name == "review":
            cull.add_review_options(decide, choice, _listed(command))
        else:
            regions.add_options(decide)
        decide.set_defaults(func=lambda args, command=command: _decide(command, args))
        if command.name == "qc":
            held = group.add_parser("held", help="photos QC held after the allowed rework: list them, or pass them "
                                                 "as they are, or send them back a round")
            order_argument(held)
            held.add_argument("--pass", dest="passes", action="append", default=[], metavar="PHOTO",
                              help="pass this held photo as it is (repeat for several)")
            held.add_argument("--send-back", dest="send_back", action="append", default=[], type=_sent_back,
                              metavar="PHOTO:STAGE[:NOTE]", help="send it back to a stage as a new round, with a note "
                                                                 "for whoever works it (repeat for several)")
            held.add_argument("--as", dest="person", default=command.person, help="who decides (recorded)")
            held.set_defaults(func=_held)
