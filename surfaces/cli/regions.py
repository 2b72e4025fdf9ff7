"""`postline qc decide`'s marked regions: ``--region PHOTO:X,Y,W,H`` (and ``--outline PHOTO:"X,Y X,Y ..."`` for a
freehand one inside it) on a photo sent back with ``--reject``, as the review page's form marks one (its
``region-N`` and ``outline-N``): read by the same :meth:`qc.review.Region.parse`, given through the same
:func:`surfaces.actions.gates.decide`, recorded with the new round and written as a mask beside the working file
the retoucher pulls."""

from __future__ import annotations

import argparse


BOX_EXAMPLE = "DSC_0003.dng:0.25,0.1,0.5,0.3"
OUTLINE_EXAMPLE = "DSC_0003.dng:0.3,0.15 0.7,0.2 0.5,0.35"


def _placed(flag: str, example: str):  # noqa: ANN202 - argparse type: 'PHOTO:VALUE' -> (PHOTO, VALUE)
    def parse(text: str) -> tuple[str, str]:
        photo, colon, value = text.rpartition(":")       # a box or an outline has no ':', a photo's name might
        if not colon or not photo or not value.strip():
            raise argparse.ArgumentTypeError(f"{text!r}: write PHOTO:{flag}, e.g. '{example}'")
        return photo, value.strip()
    return parse


def add_options(decide: argparse.ArgumentParser) -> None:
    """``postline qc decide``'s options marking where on a rejected photo the retoucher should look."""
    decide.add_argument("--region", type=_placed("X,Y,W,H", BOX_EXAMPLE), action="append", metavar="PHOTO:X,Y,W,H",
                        help="with --reject: where on that photo to fix, a box in fractions 0..1 of the frame from "
                             "its top left (X,Y its corner, W,H its size, X+W and Y+H at most 1), as the review "
                             "page marks one; recorded with the new round and written as a mask beside the working "
                             f"file the retoucher pulls (repeat for several photos), e.g. '{BOX_EXAMPLE}'")
    decide.add_argument("--outline", type=_placed('"X,Y X,Y ..."', OUTLINE_EXAMPLE), action="append",
                        metavar='PHOTO:"X,Y X,Y ..."',
                        help="with --region: a freehand region inside that photo's box instead of the whole box, "
                             "its outline's points (3 or more, fractions of the frame), e.g. "
                             f"'{OUTLINE_EXAMPLE}'")
    decide.epilog = ("A region goes with a rejection of the same photo, e.g. postline qc decide 7 --reject "
                     "'DSC_0003.dng:dust_blemish_missed:fine_retouch:a speck on the collar' --region "
                     f"{BOX_EXAMPLE} --outline '{OUTLINE_EXAMPLE}'")


def with_regions(args: argparse.Namespace) -> list[dict]:
    """The rejections listed with ``--reject``, each with its ``--region`` (and ``--outline``), ready for
    :meth:`qc.gates.Gate.build`. Raises :class:`DecisionError` naming every region that is wrong (not on a photo
    rejected here, given twice, an outline without its box, not a box inside the frame); nothing is decided."""
    from qc.gates import DecisionError, shown
    from qc.review import Region

    rejections = [dict(row) for row in args.reject or []]
    boxes, problems = _one_each(args.region, "--region")
    outlines, twice = _one_each(args.outline, "--outline")
    problems += twice
    rejected = {row["photo"] for row in rejections}
    passing = [photo for photo in boxes if photo not in rejected]
    if passing:
        names = ", ".join(map(shown, passing))
        which = passing[0] if len(passing) == 1 else "PHOTO"
        instead = " instead of --approve-all" if args.approve_all else ""
        problems.append(f"a marked region goes with a rejection: {names} would pass with one; send it back with "
                        f"--reject {which}:REASON:STAGE{instead}, or leave out its --region")
    loose = [photo for photo in outlines if photo not in boxes]
    if loose:
        problems.append(f"--outline for {', '.join(map(shown, loose))} without its box: give --region "
                        "PHOTO:X,Y,W,H too, the box the outline lies in")
    regions = {}
    for photo, box in boxes.items():
        try:
            regions[photo] = Region.parse(box, outlines.get(photo, ""))
        except ValueError as exc:
            given = f"--region {shown(box)}" + (f" and --outline {shown(outlines[photo])}" if photo in outlines else "")
            also = ", and the outline's points X,Y inside that box" if photo in outlines else ""
            problems.append(f"the region of {shown(photo)} ({given}) is not a box inside the photo ({exc}): write "
                            f"X,Y,W,H in fractions 0..1 of the frame with X+W and Y+H at most 1, e.g. "
                            f"'{BOX_EXAMPLE}'{also}")
    if problems:
        raise DecisionError(f"order {args.order_id}: " + "; ".join(problems) + ". Nothing was applied.")
    return [row | {"region": regions.get(row["photo"])} for row in rejections]


def _one_each(given: list[tuple[str, str]] | None, flag: str) -> tuple[dict[str, str], list[str]]:
    """``given`` by photo, and the problem of a photo given more than once."""
    from qc.gates import shown

    by_photo: dict[str, str] = {}
    twice = []
    for photo, value in given or []:
        if photo in by_photo and photo not in twice:
            twice.append(photo)
        by_photo.setdefault(photo, value)
    return by_photo, ([f"{flag} given more than once for {', '.join(map(shown, twice))}: one each"] if twice else [])
