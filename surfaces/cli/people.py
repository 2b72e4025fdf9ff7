"""`postline people ...`: who works on the line, through :mod:`surfaces.actions.people`.

    postline people add ana --role retoucher --skills liquify_skin,fine_retouch   (asks for a password)
    postline people skills ana liquify_skin                                       (replaces their skills)
    postline people password ana
    postline people list
"""

from __future__ import annotations

import argparse
import getpass
import sys

from surfaces.cli import tables
from surfaces.cli.errors import CliError
from surfaces.terminal import shown


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to ask for the password: pipe it in with --password-stdin")
    try:
        password = getpass.getpass(f"Password for {args.name}: ")
        again = getpass.getpass("Again: ")
    except EOFError:                                        # Ctrl-D at the prompt
        raise CliError("no password given; run the command again (or pipe it in with --password-stdin)") from None
    if again != password:
        raise CliError("the two passwords differ; run the command again")
    return password


def cmd_people_add(args: argparse.Namespace) -> int:
    from surfaces.actions import people

    person = people.add(name=args.name, role=args.role, skills=args.skills, password=lambda: _read_password(args),
                        display_name=args.display_name)
    print(f"Added {shown(person.name)} ({person.role.value}; skills: {shown(person.skills.replace(',', ', ') or 'none')}).")
    return 0


def cmd_people_skills(args: argparse.Namespace) -> int:
    from surfaces.actions import people

    person, stages = people.set_skills(name=args.name, skills=args.skills)
    print(f"{shown(person.name)} now has the skills {shown(person.skills.replace(',', ', ') or '(none)')}: "
          f"works in {', '.join(stages) or 'no stage'}.")
    return 0


def cmd_people_password(args: argparse.Namespace) -> int:
    from surfaces.actions import people

    people.set_password(name=args.name, password=_read_password(args))
    print(f"New password set for {shown(args.name)}.")
    return 0


def cmd_people_list(_args: argparse.Namespace) -> int:
    from surfaces.actions import people

    rows = [[p.name, p.display_name, p.role.value, p.skills.replace(",", ", ") or "-",
             "yes" if p.password_hash else "no", p.created_at.strftime("%Y-%m-%d")] for p in people.everyone()]
    if not rows:
        print("Nobody yet. Add people with `postline people add NAME --role retoucher --skills STAGE,...`.")
        return 0
    print(tables.render(["name", "display name", "role", "skills", "password", "added"], rows))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("people", help="retouchers and leads: add, skills, password, list").add_subparsers(
        dest="action", required=True, metavar="ACTION")
    add = p.add_parser("add", help="add a person; asks for their password (or reads it with --password-stdin)")
    add.add_argument("name", help="sign-in name: lower-case letters, digits, . _ -")
    add.add_argument("--role", required=True, choices=["retoucher", "lead"])
    add.add_argument("--skills", default="", help="their skills, comma-separated, e.g. liquify_skin,fine_retouch: a "
                     "stage needs its key unless the line gives it `skills = [...]` (`postline queue stages` shows "
                     "what each needs)")
    add.add_argument("--display-name", help="name shown on the web page (default: NAME)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.set_defaults(func=cmd_people_add)
    skills = p.add_parser("skills", help="set a person's skills (replaces them); they work in every stage whose "
                          "skills they all have")
    skills.add_argument("name")
    skills.add_argument("skills", help="skills, comma-separated (empty string: none)")
    skills.set_defaults(func=cmd_people_skills)
    password = p.add_parser("password", help="set a new password (asked, or read with --password-stdin)")
    password.add_argument("name")
    password.add_argument("--password-stdin", action="store_true", help="read it from the first line of stdin")
    password.set_defaults(func=cmd_people_password)
    p.add_parser("list", help="everyone on the line, their role and skills").set_defaults(func=cmd_people_list)
