"""`postline cull ORDER [--format table|json]`: per photo its cull signals, the suggestion and its reasons; and
the suggestion's part in `postline review` (the list of what waits, ``--accept-suggestions``)."""

from __future__ import annotations

import argparse
import json

from surfaces.cli.errors import order_argument
from surfaces.terminal import shown



def _signals(s) -> dict | None:  # noqa: ANN001 - record.models.CullSignals
    if s is None or s.phash is None:
        return None
    return {"source": s.source, "width": s.width, "height": s.height, "subject": s.subject, "blur": s.blur,
            "motion": s.motion, "motion_angle": s.motion_angle, "highlights": s.highlights, "shadows": s.shadows,
            "median_luma": s.median_luma, "faces": s.faces, "eyes": [e for e in (s.eyes or "").split(",") if e],
            "phash": s.phash, "seconds": s.seconds}


def _rating(r) -> dict | None:  # noqa: ANN001 - record.models.PhotoRating
    if r is None:
        return None
    from record import ratings

    return {"stars": r.stars, "label": r.label, "tagged": r.tagged, "from": ratings.where(r), "note": r.note,
            "shown": ratings.describe(r)}


def rows(order_id: int) -> list[dict]:
    """What `postline cull --format json` prints: one object per photo that entered the line."""
    from qc import cull
    from record import ratings, work
    from record.db import transaction

    with transaction() as session:
        work.get_order(session, order_id)
        suggestions = cull.suggest(session, order_id)
        rated = ratings.of_order(session, order_id)
    return [{"photo": s.photo, "suggestion": s.verdict.value, "reasons": [r.value for r in s.reasons],
             "group": s.group, "best_of_group": s.best, "notes": list(s.notes), "signals": _signals(s.signals),
             "rating": _rating(rated.get(s.photo_id))}
            for s in suggestions]


def _table(items: list[dict]) -> str:
    from surfaces.cli.tables import num, render

    def cell(item: dict, key: str, fmt: str = "{:.2f}") -> str:
        return num(item["signals"][key], fmt) if item["signals"] else "-"

    table = render(["photo", "rating", "suggestion", "reasons", "group", "blur", "motion", "highlights", "shadows",
                    "faces", "eyes"],
                   [[item["photo"], item["rating"]["shown"] if item["rating"] else "-", item["suggestion"],
                     ", ".join(item["reasons"]) or "-",
                     "-" if item["group"] is None else f"{item['group']}{' best' if item['best_of_group'] else ''}",
                     cell(item, "blur"), cell(item, "motion"), cell(item, "highlights", "{:.1%}"),
                     cell(item, "shadows", "{:.1%}"), cell(item, "faces", "{:d}"),
                     ",".join(item["signals"]["eyes"]) if item["signals"] else "-"] for item in items])
    notes = [f"  {shown(item['photo'])}: {shown('; '.join(item['notes'] + _rating_notes(item)))}" for item in items
             if item["notes"] or _rating_notes(item)]
    return table + ("\n\nWhy:\n" + "\n".join(notes) if notes else "")


def _rating_notes(item: dict) -> list[str]:
    rating = item["rating"]
    return [] if not rating else [f"rated {rating['shown']} in {rating['from']}"] + ([rating["note"]] if rating["note"] else [])


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
    cull = sub.add_parser("cull", help="per photo: the photographer's rating, the cull's signals, its suggestion "
                                       "(keep or reject) and why")
    order_argument(cull)
    cull.add_argument("--format", choices=["table", "json"], default="table",
                      help="table (default) or json: a list of {photo, suggestion, reasons, group, ...}")
    cull.set_defaults(func=cmd_cull)


# --- the suggestion in `postline review` ---------------------------------------------------------------------

def add_review_options(decide: argparse.ArgumentParser, choice: argparse._MutuallyExclusiveGroup, parse) -> None:  # noqa: ANN001
    """``postline review decide``'s options for the cull's suggestion; ``parse`` reads PHOTO:REASON[:NOTE]."""
    choice.add_argument("--accept-suggestions", action="store_true",
                        help="cull what pre-fills the review (`postline review pending` lists it): the frames the "
                             "photographer rejected, and those the cull suggests that they did not pick")
    decide.add_argument("--keep", action="append", metavar="PHOTO",
                        help="with --accept-suggestions: keep this suggested frame (repeat for several)")
    decide.add_argument("--also-cull", type=parse, action="append", metavar="PHOTO:REASON[:NOTE]",
                        help="with --accept-suggestions: cull this frame too (or with another reason)")
    decide.add_argument("--only-picks", action="store_true",
                        help="with --accept-suggestions: also cull every frame the photographer did not pick "
                             "(`not_picked`), whatever the line's [cull] unpicked says")


def review_decision(args: argparse.Namespace):  # noqa: ANN201 - qc.originals.OriginalsDecision
    """The OriginalsDecision `postline review decide` gives."""
    from qc import originals

    accept = getattr(args, "accept_suggestions", False)
    if not accept and (getattr(args, "keep", None) or getattr(args, "also_cull", None)
                       or getattr(args, "only_picks", False)):
        raise originals.DecisionError("--keep, --also-cull and --only-picks go with --accept-suggestions. "
                                      "Nothing was applied.")
    if accept:
        also = [originals.CulledPhoto.model_validate(c) for c in args.also_cull or []]
        return originals.suggested_decision(args.order_id, keep=args.keep or [], also_cull=also,
                                            reviewer=args.person, cull_unpicked=args.only_picks or None)
    return originals.ORIGINALS.build(listed=args.cull, by=args.person)


def pending_lines(order_id: int, photos: list[str]) -> list[str]:
    """Each original waiting for review, with the photographer's rating of it, the cull's suggestion for it, and
    where the two differ, what ``--accept-suggestions`` does."""
    from qc import cull
    from qc.originals import CullReason, suggested_culls
    from record import ratings, work
    from record.db import transaction

    with transaction() as session:
        suggestions = {s.photo: s for s in cull.suggest(session, order_id)}
        rated = ratings.of_order(session, order_id)
        culls = {c.photo: c for c in suggested_culls(session, order_id, photos)}
        spec = work.order_line(session, order_id).cull
    width = max((len(shown(name)) for name in photos), default=0)
    lines = []
    for name in photos:
        s = suggestions.get(name)
        r = rated.get(s.photo_id) if s is not None else None
        parts = [f"rated: {ratings.describe(r)}"] if ratings.rated(r) else []
        if s is not None and s.signals is not None:             # measured: the cull suggests
            if s.verdict.value == "keep":
                parts.append("suggested: keep" + (f" (best of group {s.group})" if s.best else ""))
            else:
                parts.append(f"suggested: cull: {', '.join(s.reasons)} ({'; '.join(s.notes)})")
        c = culls.get(name)
        if c is not None and c.reason in (CullReason.REJECTED_BY_PHOTOGRAPHER, CullReason.NOT_PICKED):
            parts.append(f"-> cull: {c.reason.value}")
        elif c is None and s is not None and s.verdict.value == "reject":
            parts.append("-> kept: the photographer picked it")
        if r is not None and r.note and spec.ratings:
            parts.append(f"({r.note})")
        lines.append(f"  {shown(name).ljust(width)}  {shown('  '.join(parts))}".rstrip())
    return lines
