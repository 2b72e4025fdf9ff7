"""`postline queue ...`: the retouchers' command line over the stage queues.

    postline queue stages
    postline queue pull --as ana [--stage liquify_skin] [--to DIR]    -> copies the working file, prints its path
    postline queue submit ITEM FILE --as ana                          -> checks the file, records it
    postline queue release ITEM --as ana [--reason TEXT]
    postline queue extend ITEM --as ana                               -> a heartbeat: the lease starts again
    postline queue mine --as ana

The commands parse, call :mod:`surfaces.actions.queue` (what the web page calls too), and print. On the CLI a
person is named with ``--as``; the web page signs people in with their password.

Exit codes: 0 done; 1 refused (not your claim, result checks failed, no skill, unknown person); 2 bad usage
(an unknown work item); 3 nothing to pull.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import datetime, timedelta
from pathlib import Path

from surfaces.cli import tables
from surfaces.cli.errors import EXIT_EMPTY, CliError, whole_number
from surfaces.terminal import shown

MAX_LEASE_MINUTES = 7 * 24 * 60


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _age(value: datetime | None) -> str:
    from record.models import utcnow

    if value is None:
        return "-"
    minutes = int((utcnow() - value).total_seconds() // 60)
    return f"{minutes // 1440}d {minutes % 1440 // 60}h" if minutes >= 1440 else f"{minutes // 60}h {minutes % 60:02d}m"


def cmd_stages(_args: argparse.Namespace) -> int:
    from surfaces.actions import queue

    found = queue.depths()
    print(tables.render(
        ["stage", "who", "skills needed", "queued", "claimed", "oldest waiting", "earliest due"],
        [[title, who, ", ".join(skills) or "-", d.queued, d.claimed, _age(d.oldest), d.earliest_due or "-"]
         for d, title, who, skills in found]))
    waiting = [(title, who, d.claimed) for d, title, who, _ in found if d.stage in queue.GATES and d.claimed and who != "auto"]
    for title, who, count in waiting:
        print(f"{title}: {count} photo(s) claimed there wait for the {who}'s decision (`postline status ORDER` "
              "says whose and how to give it).")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from record.queue import lease_expiry
    from surfaces.actions import queue

    pulled = queue.pull_to_folder(person=args.person, stage=args.stage, folder=args.to,
                                  lease=timedelta(minutes=args.lease))
    if pulled is None:
        if held := queue.held_at_wip_limit(args.person, args.stage):
            print(f"Nothing you can take now: {'; '.join(held)}. A photo is free to take once one of those is "
                  "handed back or released (the line's wip_limit keeps the stage from taking on more).",
                  file=sys.stderr)
            return EXIT_EMPTY
        where = args.stage or "your stages"
        print(f"Nothing waiting in {shown(where)}. `postline queue stages` shows every queue.", file=sys.stderr)
        return EXIT_EMPTY
    item, path = pulled
    print(f"Work item {item.id}: stage {item.stage}, round {item.round}, order {item.order_id}.")
    if queue.worked_on(path, Path(item.input_path or "")):
        print(f"Your work on it so far is kept: {shown(path)} was there already, and differs from the working file, "
              "so it was not written over.")
    if (why := queue.rework_note(item)) is not None:
        print(f"Sent back by QC: {shown(why)}")
    note = queue.client_notes([item]).get(item.id)
    if note:
        print(f"The client asks: {shown(note)}")
    print(f"Yours until {_when(lease_expiry(item))} (`postline queue extend {item.id} --as {shown(args.person)}` "
          "starts the lease again).")
    if (earlier := queue.earlier_hand_back(item)) is not None:
        whose = "your" if earlier.claimed_by == args.person else f"{shown(earlier.claimed_by)}'s"
        print(f"The working file is what the stage started from; {whose} hand-back of round {earlier.round} is "
              f"beside it, to go on from: {shown(queue.hand_back_beside(path))}.")
    marked = queue.mask_beside(path)
    if marked.is_file():
        print(f"QC marked where to look: {shown(marked)} is a mask of the working file's size (white = marked); "
              "load it as a selection.")
    print(f"When done: postline queue submit {item.id} {shown(shlex.quote(str(path)))} "
          f"--as {shown(shlex.quote(args.person))}")                       # a command to paste: quoted
    print(shown(path))
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from surfaces.actions import queue

    file = Path(args.file).expanduser()
    if not file.is_file():
        raise CliError(f"{file} is not a file; give the path of your edited photo")
    result = queue.hand_back(item_id=args.item_id, person=args.person, file=file)
    item = result.item
    took = f" after {result.seconds / 60:.1f} min" if result.seconds is not None else ""
    print(f"Work item {item.id} submitted{took}: stored as {shown(item.output_path)} (sha256 {item.output_sha256[:12]}...).")
    coming = queue.still_coming(item.order_id, item.stage) if result.stage_done else []
    if coming:
        print(f"That was the last open {item.stage} item of order {item.order_id} for now: more come from "
              + ", ".join(f"{shown(title)} ({n} photo(s))" for title, n in coming) + ".")
    elif result.stage_done and not result.run_stopped:
        print(f"That was the last open {item.stage} item of order {item.order_id}: the order can move on.")
    if result.stage_done and result.run_stopped:
        nobody = (f"no run is working on the order (it stopped, or none was started): `postline order run "
                  f"{item.order_id}` carries it on.")
        print(f"No{nobody[2:]}" if coming else
              f"That was the last open {item.stage} item of order {item.order_id}, but {nobody}")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from surfaces.actions import queue

    queue.release(item_id=args.item_id, person=args.person, reason=args.reason)
    print(f"Work item {args.item_id} is back in the queue.")
    return 0


def cmd_extend(args: argparse.Namespace) -> int:
    from record.queue import lease_expiry
    from surfaces.actions import queue

    item = queue.extend(item_id=args.item_id, person=args.person, lease=timedelta(minutes=args.lease))
    print(f"Work item {item.id} is yours until {_when(lease_expiry(item))}.")
    return 0


def cmd_mine(args: argparse.Namespace) -> int:
    from record.models import utcnow
    from record.queue import lease_expiry
    from surfaces.actions import queue

    items = queue.held_by(args.person)
    if not items:
        print(f"{shown(args.person)} holds no work. Pull some with `postline queue pull --as {shown(args.person)}`.")
        return 0
    notes, now = queue.client_notes(items), utcnow()
    lapsed = [i for i in items if (ends := lease_expiry(i)) is not None and ends <= now]
    print(tables.render(["item", "order", "stage", "round", "attempt", "lease until", "the client asks"],
                        [[i.id, i.order_id, i.stage, i.round, i.attempt,
                          _when(lease_expiry(i)) + (" LAPSED" if i in lapsed else ""), notes.get(i.id, "-")]
                         for i in items]))
    if lapsed:           # still theirs until someone else pulls it: a submit is taken while nobody has
        print(f"{len(lapsed)} lease(s) LAPSED: anyone with the skills may pull those now. `postline queue extend ITEM "
              f"--as {shown(args.person)}` keeps one yours; a submit is taken while nobody else has pulled it.")
    return 0


def cmd_reap(_args: argparse.Namespace) -> int:
    from surfaces.actions import queue

    print(f"{queue.reap()} expired claim(s) went back to the queue.")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser("queue", help="retouchers' stage queues: pull, submit, release, mine",
                       description=__doc__.split("\n\n")[0]).add_subparsers(dest="action", required=True,
                                                                           metavar="ACTION")
    q.add_parser("stages", help="every stage: queued, claimed, oldest waiting, earliest due").set_defaults(
        func=cmd_stages)

    def command(name: str, func, help_text: str, *, item: bool = True, lease: str | None = None):  # noqa: ANN001, ANN202
        p = q.add_parser(name, help=help_text)
        if item:
            p.add_argument("item_id", type=int, metavar="ITEM",
                           help="the work item's number, as `queue pull` and `queue mine` print it")
        p.add_argument("--as", dest="person", required=True, metavar="NAME", help="who you are (see `people list`)")
        if lease:
            p.add_argument("--lease", type=whole_number(1, MAX_LEASE_MINUTES, "minutes"), default=60, metavar="MIN",
                           help=f"{lease} (default 60, at most {MAX_LEASE_MINUTES}: a week)")
        p.set_defaults(func=func)
        return p

    pull = command("pull", cmd_pull, "claim your next photo and copy its working file to your folder; prints the "
                   "file's path last (exit 3: nothing waiting)", item=False, lease="minutes the photo stays yours")
    pull.add_argument("--stage", help="only this stage (default: every stage you have the skill for)")
    pull.add_argument("--to", type=Path, metavar="DIR", help="where to copy the file (default ~/postline-work/NAME)")
    submit = command("submit", cmd_submit, "hand back your edited photo (checked: decodes, same size, bit depth and "
                     "profile kept, not black/white/clipped, really edited)")
    submit.add_argument("file", metavar="FILE",
                        help="your edited TIFF, as deep as the working file (16-bit), its profile embedded")
    release = command("release", cmd_release, "give a photo back to the queue")
    release.add_argument("--reason", help="why, for the record (e.g. 'needs a lead's look')")
    command("extend", cmd_extend, "keep a photo longer: its lease starts again", lease="minutes from now")
    command("mine", cmd_mine, "the photos you hold and until when", item=False)
    q.add_parser("reap", help="return claims whose lease ran out to the queue (pull does this too)").set_defaults(
        func=cmd_reap)
