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

The commands are thin: :func:`pull_to_folder` and :func:`submit_work` are what the web page calls too, over
the functions of :mod:`record.queue` and :mod:`record.people`. On the CLI a person is named with ``--as``;
the web page signs people in with their password.

Exit codes: 0 done; 1 refused (not your claim, result checks failed, no skill, unknown person); 2 bad usage;
3 nothing to pull.
"""

from __future__ import annotations

import argparse
import getpass
import shutil
import sys
from datetime import datetime, timedelta
from pathlib import Path

from surfaces.terminal import has_control, shown

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_EMPTY = 3


# --- what the CLI and the web page share ------------------------------------------------------------------------

def human_stages() -> list[str]:
    """The stages people work in: the line's stages whose mode is not 'automatic', in line order, then any
    other stage an order waits on people in now (its own line, recorded when it started, has people there).
    Automatic stages are left to postline's workers: a person pulling from them would take work from a batch."""
    from config.line import get_line
    from record import work
    from record.db import transaction

    current = [s.key for s in get_line().stages if s.needs_people]
    with transaction() as session:
        waited = work.stages_waited_on(session)
    return current + sorted(waited - set(current))


def default_folder(person: str) -> Path:
    return Path.home() / "postline-work" / person


def pull_to_folder(*, person: str, stage: str | None = None, folder: Path | None = None,
                   lease: timedelta | None = None):  # noqa: ANN201 - (WorkItem, Path) | None
    """Claim ``person``'s next item (of ``stage``, else of all their skills among the people's stages) and
    copy its working file into ``folder`` (default ~/postline-work/PERSON) as ``<item>-<photo>-<stage>-r<round>``.
    Returns (item, copied path), or None when the queues are empty. If the copy fails, the claim is released."""
    from record import people, queue
    from record.db import transaction
    from record.models import Photo
    from tasks.files import safe_name

    with transaction() as session:
        skills = people.skills_named(session, person)
        skilled = queue.stages_for(session, person)
    open_stages = human_stages()
    if stage is not None:
        if stage not in open_stages:
            raise queue.QueueError(f"stage {stage!r} is not worked by people (the line's people stages: "
                                   f"{', '.join(open_stages) or 'none'}); `postline queue stages` lists them")
        stages = [stage]
    else:
        stages = [s for s in skilled if s in open_stages]
        if not stages:
            raise queue.NoSkill(f"{person} has the skills for none of the stages people work in (their skills: "
                                f"{', '.join(skills) or 'none'}; people's stages: {', '.join(open_stages) or 'none'}; "
                                f"`postline queue stages` shows what each needs)")
    item = queue.pull(person=person, stages=stages, lease=lease or queue.DEFAULT_LEASE)
    if item is None:
        return None
    with transaction() as session:
        photo = session.get(Photo, item.photo_id)
    source = Path(item.input_path or "")
    target_dir = Path(folder) if folder else default_folder(person)
    target = target_dir / f"{item.id}-{safe_name(Path(photo.source_name).stem)}-{item.stage}-r{item.round}{source.suffix}"
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    except OSError as exc:
        with transaction() as session:
            queue.release(session, item_id=item.id, person=person,
                          reason=f"the working file could not be copied: {exc}")
        raise queue.QueueError(f"work item {item.id}: cannot copy the working file {source} to {target_dir} "
                               f"({exc.strerror or exc}); the item went back to the queue. Check the folder, "
                               "or tell the lead if the working file is missing") from None
    return item, target


def submit_work(*, item_id: int, person: str, file: Path):  # noqa: ANN201 - record.queue.SubmitResult
    """Check ``file`` and record it as ``person``'s result for ``item_id``; the photo moves on to the next
    stage in the same transaction, and if that was the order's last open item of the stage, the order's
    waiting flow run is woken (:func:`tasks.handoff.hand_back`)."""
    from tasks.handoff import hand_back

    return hand_back(item_id=item_id, person=person, file=Path(file))


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
    from record import people, queue

    return (queue.QueueError, people.UnknownPerson, people.PeopleError)


def cmd_stages(_args: argparse.Namespace) -> int:
    from config.line import get_line
    from record import queue
    from record.db import transaction
    from surfaces import tables

    line = get_line()
    titles = {s.key: s.title for s in line.stages}
    people_stages = set(human_stages())
    with transaction() as session:
        depths = queue.queue_depths(session, [s.key for s in line.stages])
    print(tables.render(
        ["stage", "who", "skills needed", "queued", "claimed", "oldest waiting", "earliest due"],
        [[titles.get(d.stage, d.stage), "people" if d.stage in people_stages else "auto",
          ", ".join(line.required_skills(d.stage)) if d.stage in people_stages else "-", d.queued, d.claimed,
          _age(d.oldest), d.earliest_due or "-"] for d in depths]))
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from record import queue

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
    try:
        result = submit_work(item_id=args.item_id, person=args.person, file=file)
    except _queue_errors() as exc:
        return _refused(exc)
    item = result.item
    took = f" after {result.seconds / 60:.1f} min" if result.seconds is not None else ""
    print(f"Work item {item.id} submitted{took}: stored as {shown(item.output_path)} (sha256 {item.output_sha256[:12]}...).")
    if result.stage_done:
        print(f"That was the last open {item.stage} item of order {item.order_id}: the order can move on.")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from record import queue
    from record.db import transaction

    try:
        with transaction() as session:
            queue.release(session, item_id=args.item_id, person=args.person, reason=args.reason)
    except _queue_errors() as exc:
        return _refused(exc)
    print(f"Work item {args.item_id} is back in the queue.")
    return 0


def cmd_extend(args: argparse.Namespace) -> int:
    from record import queue
    from record.db import transaction

    try:
        with transaction() as session:
            item = queue.heartbeat(session, item_id=args.item_id, person=args.person,
                                   lease=timedelta(minutes=args.lease))
    except _queue_errors() as exc:
        return _refused(exc)
    print(f"Work item {item.id} is yours until {_when(queue.lease_expiry(item))}.")
    return 0


def cmd_mine(args: argparse.Namespace) -> int:
    from record import people, queue
    from record.db import transaction
    from surfaces import tables

    try:
        with transaction() as session:
            people.get_person(session, args.person)
            items = queue.mine(session, args.person)
    except _queue_errors() as exc:
        return _refused(exc)
    if not items:
        print(f"{shown(args.person)} holds no work. Pull some with `postline queue pull --as {shown(args.person)}`.")
        return 0
    print(tables.render(["item", "order", "stage", "round", "attempt", "lease until"],
                        [[i.id, i.order_id, i.stage, i.round, i.attempt, _when(queue.lease_expiry(i))] for i in items]))
    return 0


def cmd_reap(_args: argparse.Namespace) -> int:
    from record import queue
    from record.db import transaction

    with transaction() as session:
        n = queue.reap_expired(session)
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
    from config.line import get_line
    from record import people
    from record.db import transaction

    if args.display_name and has_control(args.display_name):
        print(f"error: --display-name '{shown(args.display_name)}': a name is one line of visible text, without "
              "control characters (newline, tab, escape codes, bidi overrides)", file=sys.stderr)
        return EXIT_USAGE
    try:
        password = _read_password(args)
        with transaction() as session:
            person = people.add_person(session, name=args.name, role=args.role, skills=args.skills,
                                       password=password, display_name=args.display_name,
                                       known_skills=get_line().known_skills)
    except ValueError as exc:  # PeopleError is a ValueError
        print(f"error: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
    print(f"Added {shown(person.name)} ({person.role.value}; skills: {shown(person.skills.replace(',', ', ') or 'none')}).")
    return 0


def cmd_people_skills(args: argparse.Namespace) -> int:
    from config.line import get_line
    from record import people, queue
    from record.db import transaction

    try:
        with transaction() as session:
            person = people.set_skills(session, name=args.name, skills=args.skills,
                                       known_skills=get_line().known_skills)
    except (ValueError, people.UnknownPerson) as exc:
        print(f"error: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
    with transaction() as session:
        stages = queue.stages_for(session, person.name)
    print(f"{shown(person.name)} now has the skills {shown(person.skills.replace(',', ', ') or '(none)')}: "
          f"works in {', '.join(stages) or 'no stage'}.")
    return 0


def cmd_people_password(args: argparse.Namespace) -> int:
    from record import people
    from record.db import transaction

    try:
        password = _read_password(args)
        with transaction() as session:
            people.set_password(session, name=args.name, password=password)
    except (ValueError, people.UnknownPerson) as exc:
        print(f"error: {shown(exc)}", file=sys.stderr)
        return EXIT_USAGE
    print(f"New password set for {shown(args.name)}.")
    return 0


def cmd_people_list(_args: argparse.Namespace) -> int:
    from record import people
    from record.db import transaction
    from surfaces import tables

    with transaction() as session:
        rows = [[p.name, p.display_name, p.role.value, p.skills.replace(",", ", ") or "-",
                 "yes" if p.password_hash else "no", p.created_at.strftime("%Y-%m-%d")]
                for p in people.list_people(session)]
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
