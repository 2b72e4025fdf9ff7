"""`postline cull ORDER [--format table|json]`: per photo its cull signals, the suggestion and its reasons; and
the suggestion's part in `postline review` (the list of what waits, ``--accept-suggestions``)."""

from __future__ import annotations

import argparse
import json

from surfaces.terminal import shown



def _signals(s) -> dict | None:  # noqa: ANN001 - record.models.CullSignals
    if s is None or s.phash is None:
        return None
    return {"source": s.source, "width": s.width, "height": s.height, "subject": s.subject, "blur": s.blur,
            "motion": s.motion, "motion_angle": s.motion_angle, "highlights": s.highlights, "shadows": s.shadows,
            "median_luma": s.median_luma, "faces": s.faces, "eyes": [e for e in (s.eyes or "").split(",") if e],
            "phash": s.phash, "seconds": s.seconds}


def rows(order_id: int) -> list[dict]:
    """What `postline cull --format json` prints: one object per photo that entered the line."""
    from qc import cull
    from record import work
    from record.db import transaction

    with transaction() as session:
        work.get_order(session, order_id)
        suggestions = cull.suggest(session, order_id)
    return [{"photo": s.photo, "suggestion": s.verdict.value, "reasons": [r.value for r in s.reasons],
             "group": s.group, "best_of_group": s.best, "notes": list(s.notes), "signals": _signals(s.signals)}
            for s in suggestions]


def _table(items: list[dict]) -> str:
    from surfaces.cli.tables import num, render

    def cell(item: dict, key: str, fmt: str = "{:.2f}") -> str:
        return num(item["signals"][key], fmt) if item["signals"] else "-"

    table = render(["photo", "suggestion", "reasons", "group", "blur", "motion", "highlights", "shadows", "faces",
                    "eyes"],
                   [[item["photo"], item["suggestion"], ", ".join(item["reasons"]) or "-",
                     "-" if item["group"] is None else f"{item['group']}{' best' if item['best_of_group'] else ''}",
                     cell(item, "blur"), cell(item, "motion"), cell(item, "highlights", "{:.1%}"),
                     cell(item, "shadows", "{:.1%}"), cell(item, "faces", "{:d}"),
                     ",".join(item["signals"]["eyes"]) if item["signals"] else "-"] for item in items])
    notes = [f"  {shown(item['photo'])}: {shown('; '.join(item['notes']))}" for item in items if item["notes"]]
    return table + ("\n\nWhy:\n" + "\n".join(notes) if notes else "")


def cmd_cull(args: argparse.Namespace) -> int:
    items = rows(args.order_id)        # an unknown order: NotFound, exit 2 (surfaces/cli/errors.py)
    if args.format == "json":
        print(json.dumps(items, indent=2, ensure_ascii=True))
        return 0
    suggested = sum(item["suggestion"] == "reject" for item in items)
    print(f"Order {args.order_id}: {len(items)} photo(s); the cull suggests leaving out {suggested}.")
    if items:
        print(_table(items))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    cull = sub.add_parser("cull", help="per photo: the cull's signals, its suggestion (keep or reject) and why")
    cull.add_argument("order_id", type=int)
    cull.add_argument("--format", choices=["table", "json"], default="table",
                      help="table (default) or json: a list of {photo, suggestion, reasons, group, ...}")
    cull.set_defaults(func=cmd_cull)


# --- the suggestion in `postline review` ---------------------------------------------------------------------

def add_review_options(decide: argparse.ArgumentParser, choice: argparse._MutuallyExclusiveGroup, parse) -> None:  # noqa: ANN001
    """``postline review decide``'s options for the cull's suggestion; ``parse`` reads PHOTO:REASON[:NOTE]."""
    choice.add_argument("--accept-suggestions", action="store_true",
                        help="cull the frames the cull suggests (`postline review pending` lists them), with its reasons")
    decide.add_argument("--keep", action="append", metavar="PHOTO",
                        help="with --accept-suggestions: keep this suggested frame (repeat for several)")
    decide.add_argument("--also-cull", type=parse, action="append", metavar="PHOTO:REASON[:NOTE]",
                        help="with --accept-suggestions: cull this frame too (or with another reason)")


def review_decision(args: argparse.Namespace):  # noqa: ANN201 - qc.originals.OriginalsDecision
    """The OriginalsDecision `postline review decide` gives."""
    from qc import originals

    accept = getattr(args, "accept_suggestions", False)
    if not accept and (getattr(args, "keep", None) or getattr(args, "also_cull", None)):
        raise originals.DecisionError("--keep and --also-cull go with --accept-suggestions. Nothing was applied.")
    if accept:
        also = [originals.CulledPhoto.model_validate(c) for c in args.also_cull or []]
        return originals.suggested_decision(args.order_id, keep=args.keep or [], also_cull=also,
                                            reviewer=args.person)
    return originals.ORIGINALS.build(listed=args.cull, by=args.person)


def pending_lines(order_id: int, photos: list[str]) -> list[str]:
    """Each original waiting for review, with the cull's suggestion for it."""
    from qc import cull
    from record.db import transaction

    with transaction() as session:
        suggestions = {s.photo: s for s in cull.suggest(session, order_id)}
    width = max((len(shown(name)) for name in photos), default=0)
    lines = []
    for name in photos:
        s = suggestions.get(name)
        if s is None or s.signals is None:             # the cull did not measure it: nothing to suggest
            lines.append(f"  {shown(name)}")
            continue
        if s.verdict.value == "keep":
            what = "keep" + (f" (best of group {s.group})" if s is not None and s.best else "")
        else:
            what = f"cull: {', '.join(s.reasons)} ({'; '.join(s.notes)})"
        lines.append(f"  {shown(name).ljust(width)}  suggested: {shown(what)}")
    return lines
