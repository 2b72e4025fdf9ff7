"""`postline queue ...` and `postline people ...`: the retouchers' command line over the stage queues.

    postline people add ana --role retoucher --skills liquify_skin,fine_retouch   (asks for a password)
    postline people skills ana liquify_skin                                       (replaces their skills)
    postline people password ana
    postline people list
    postline queue stages
    postline queue pull --as ana [--stage liquify_skin] [--to DIR]    -> copies the working file, prints its path
    postline queue submit ITEM FILE --as ana                          -> checks the file, records it
    postline queue release ITEM --as ana [--reason TEXT]
    postline queue extend ITEM --as ana                               -> a heartbeat: the lease starts again
    postline queue mine --as ana

The commands are thin: they parse, call :mod:`surfaces.actions.queue` and :mod:`surfaces.actions.people` (what
the web page calls too), and print. On the CLI a person is named with ``--as``;
the web page signs people in with their password.

Exit codes: 0 done; 1 refused (not your claim, result checks failed, no skill, unknown person); 2 bad usage;
3 nothing to pull.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime, timedelta
from pathlib import Path

from surfaces.terminal import shown

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_EMPTY = 3


# --- commands -----------------------------------------------------------------------------------------------------

def _refused(exc: Exception) -> int:
    print(f"error: {shown(exc)}", file=sys.stderr)
    return EXIT_REFUSED


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def _age(value: datetime | None) -> str:
    from record.models import utcnow

    if value is None:
        return "-"
    minutes = int((utcnow() - value).total_seconds() // 60)
    return f"{minutes // 1440}d {minutes % 1440 // 60}h" if minutes >= 1440 else f"{minutes // 60}h {minutes % 60:02d}m"


def _queue_errors() -> tuple[type[Exception], ...]:
    from qc.results import ResultRefused, WorkingFileUnreadable
    from record import people, queue

    return (queue.QueueError, people.UnknownPerson, people.PeopleError, ResultRefused, WorkingFileUnreadable)


def cmd_stages(_args: argparse.Namespace) -> int:
    from surfaces import tables
    from surfaces.actions import queue

    print(tables.render(
        ["stage", "who", "skills needed", "queued", "claimed", "oldest waiting", "earliest due"],
        [[title, "people" if people else "auto", ", ".join(skills) if people else "-", d.queued, d.claimed,
          _age(d.oldest), d.earliest_due or "-"] for d, title, people, skills in queue.depths()]))
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from record import queue
    from surfaces.actions.queue import pull_to_folder

    try:
        pulled = pull_to_folder(person=args.person, stage=args.stage, folder=args.to,
                                lease=timedelta(minutes=args.lease))
    except _queue_errors() as exc:
        return _refused(exc)
    if pulled is None:
        where = args.stage or "your stages"
        print(f"Nothing waiting in {shown(where)}. `postline queue stages` shows every queue.", file=sys.stderr)
        return EXIT_EMPTY
    item, path = pulled
    print(f"Work item {item.id}: stage {item.stage}, round {item.round}, order {item.order_id}.")
    print(f"Yours until {_when(queue.lease_expiry(item))} (`postline queue extend {item.id} --as {shown(args.person)}` "
          "starts the lease again).")
    print(f"When done: postline queue submit {item.id} {shown(path)} --as {shown(args.person)}")
    print(shown(path))
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    file = Path(args.file).expanduser()
    if not file.is_file():
        print(f"error: {shown(file)} is not a file; give the path of your edited photo", file=sys.stderr)
        return EXIT_USAGE
    from surfaces.actions.queue import hand_back

    try:
        result = hand_back(item_id=args.item_id, person=args.person, file=file)
    except _queue_errors() as exc:
        return _refused(exc)
    item = result.item
    took = f" after {result.seconds / 60:.1f} min" if result.seconds is not None else ""
    print(f"Work item {item.id} submitted{took}: stored as {shown(item.output_path)} (sha256 {item.output_sha256[:12]}...).")
    if result.stage_done:
        print(f"That was the last open {item.stage} item of order {item.order_id}: the order can move on.")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from surfaces.actions import queue

    try:
        queue.release(item_id=args.item_id, person=args.person, reason=args.reason)
    except _queue_errors() as exc:
        return _refused(exc)
    print(f"Work item {args.item_id} is back in the queue.")
    return 0


def cmd_extend(args: argparse.Namespace) -> int:
    from record.queue import lease_expiry
    from surfaces.actions import queue

    try:
        item = queue.extend(item_id=args.item_id, person=args.person, lease=timedelta(minutes=args.lease))
    except _queue_errors() as exc:
        return _refused(exc)
    print(f"Work item {item.id} is yours until {_when(lease_expiry(item))}.")
    return 0


def cmd_mine(args: argparse.Namespace) -> int:
    from record import queue
    from surfaces import tables
    from surfaces.actions.queue import held_by

    try:
        items = held_by(args.person)
    except _queue_errors() as exc:
        return _refused(exc)
    if not items:
        print(f"{shown(args.person)} holds no work. Pull some with `postline queue pull --as {shown(args.person)}`.")
        return 0
    print(tables.render(["item", "order", "stage", "round", "attempt", "lease until"],
                        [[i.id, i.order_id, i.stage, i.round, i.attempt, _when(queue.lease_expiry(i))] for i in items]))
    return 0


def cmd_reap(_args: argparse.Namespace) -> int:
    from surfaces.actions import queue

    n = queue.reap()
    print(f"{n} expired claim(s) went back to the queue.")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():
        raise ValueError("no terminal to ask for the password: pipe it in with --password-stdin")
    else:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Again: ") != password:
            raise ValueError("the two passwords differ; run the command again")
    return password


def cmd_people_add(args: argparse.Namespace) -> int:
    from surfaces.actions import people

    try:
        person = people.add(name=args.name, role=args.role, skills=args.skills, password=lambda: _read_password(args),
                            display_name=args.display_name)
    except ValueError as exc:  # PeopleError is a ValueError
        print(f"error: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
    print(f"Added {shown(person.name)} ({person.role.value}; skills: {shown(person.skills.replace(',', ', ') or 'none')}).")
    return 0


def cmd_people_skills(args: argparse.Namespace) -> int:
    from record.people import UnknownPerson
    from surfaces.actions import people

    try:
        person, stages = people.set_skills(name=args.name, skills=args.skills)
    except (ValueError, UnknownPerson) as exc:
        print(f"error: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{shown(person.name)} now has the skills {shown(person.skills.replace(',', ', ') or '(none)')}: "
          f"works in {', '.join(stages) or 'no stage'}.")
    return 0


def cmd_people_password(args: argparse.Namespace) -> int:
    from record.people import UnknownPerson
    from surfaces.actions import people

    try:
        people.set_password(name=args.name, password=_read_password(args))
    except (ValueError, UnknownPerson) as exc:
        print(f"error: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
    print(f"New password set for {shown(args.name)}.")
    return 0


def cmd_people_list(_args: argparse.Namespace) -> int:
    from surfaces import tables
    from surfaces.actions import people

    rows = [[p.name, p.display_name, p.role.value, p.skills.replace(",", ", ") or "-",
             "yes" if p.password_hash else "no", p.created_at.strftime("%Y-%m-%d")] for p in people.everyone()]
    if not rows:
        print("Nobody yet. Add people with `postline people add NAME --role retoucher --skills STAGE,...`.")
        return 0
    print(tables.render(["name", "display name", "role", "skills", "password", "added"], rows))
    return 0


# --- parsers -----------------------------------------------------------------------------------------------------

def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `queue` and `people` on the `postline` command's subparsers."""
    q = sub.add_parser("queue", help="retouchers' stage queues: pull, submit, release, mine",
                       description=__doc__.split("\n\n")[0]).add_subparsers(dest="action", required=True,
                                                                           metavar="ACTION")
    stages = q.add_parser("stages", help="every stage: queued, claimed, oldest waiting, earliest due")
    stages.set_defaults(func=cmd_stages)

    def person(p: argparse.ArgumentParser) -> None:
        p.add_argument("--as", dest="person", required=True, metavar="NAME", help="who you are (see `people list`)")

    pull = q.add_parser("pull", help="claim your next photo and copy its working file to your folder; "
                                     "prints the file's path last (exit 3: nothing waiting)")
    person(pull)
    pull.add_argument("--stage", help="only this stage (default: every stage you have the skill for)")
    pull.add_argument("--to", type=Path, metavar="DIR", help="where to copy the file (default ~/postline-work/NAME)")
    pull.add_argument("--lease", type=int, default=60, metavar="MIN", help="minutes the photo stays yours (default 60)")
    pull.set_defaults(func=cmd_pull)

    submit = q.add_parser("submit", help="hand back your edited photo (checked: decodes, same size, profile kept, "
                                         "really edited)")
    submit.add_argument("item_id", type=int, metavar="ITEM")
    submit.add_argument("file", metavar="FILE", help="your edited TIFF (16-bit) or JPEG/TIFF (8-bit)")
    person(submit)
    submit.set_defaults(func=cmd_submit)

    release = q.add_parser("release", help="give a photo back to the queue")
    release.add_argument("item_id", type=int, metavar="ITEM")
    person(release)
    release.add_argument("--reason", help="why, for the record (e.g. 'needs a lead's look')")
    release.set_defaults(func=cmd_release)

    extend = q.add_parser("extend", help="keep a photo longer: its lease starts again")
    extend.add_argument("item_id", type=int, metavar="ITEM")
    person(extend)
    extend.add_argument("--lease", type=int, default=60, metavar="MIN", help="minutes from now (default 60)")
    extend.set_defaults(func=cmd_extend)

    mine = q.add_parser("mine", help="the photos you hold and until when")
    person(mine)
    mine.set_defaults(func=cmd_mine)

    reap = q.add_parser("reap", help="return claims whose lease ran out to the queue (pull does this too)")
    reap.set_defaults(func=cmd_reap)

    p = sub.add_parser("people", help="retouchers and leads: add, skills, password, list").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    add = p.add_parser("add", help="add a person; asks for their password (or reads it with --password-stdin)")
    add.add_argument("name", help="sign-in name: lower-case letters, digits, . _ -")
    add.add_argument("--role", required=True, choices=["retoucher", "lead"])
    add.add_argument("--skills", default="", help="their skills, comma-separated, e.g. liquify_skin,fine_retouch: a stage needs its key unless the line gives it `skills = [...]` (`postline queue stages` shows what each needs)")
    add.add_argument("--display-name", help="name shown on the web page (default: NAME)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.set_defaults(func=cmd_people_add)
    skills = p.add_parser("skills", help="set a person's skills (replaces them); they work in every stage whose skills they all have")
    skills.add_argument("name")
    skills.add_argument("skills", help="skills, comma-separated (empty string: none)")
    skills.set_defaults(func=cmd_people_skills)
    password = p.add_parser("password", help="set a new password (asked, or read with --password-stdin)")
    password.add_argument("name")
    password.add_argument("--password-stdin", action="store_true", help="read it from the first line of stdin")
    password.set_defaults(func=cmd_people_password)
    ls = p.add_parser("list", help="everyone on the line, their role and skills")
    ls.set_defaults(func=cmd_people_list)
