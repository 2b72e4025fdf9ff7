"""The people on the line: add a retoucher or a lead, set their skills, set a password, list everyone.
`postline people ...` calls these; the web page signs people in with the passwords set here."""

from __future__ import annotations

from collections.abc import Callable

from record import people, queue, work
from record.db import transaction
from record.models import Person
from record.people import PeopleError
from surfaces.terminal import has_control, shown


def add(*, name: str, role: str, skills: str, password: Callable[[], str | None],
        display_name: str | None = None) -> Person:
    """Record a new person, their skills checked against the line's; ``password()`` is asked once the display
    name is known to be one line of visible text. :class:`PeopleError` names what is wrong."""
    if display_name and has_control(display_name):
        raise PeopleError(f"--display-name '{shown(display_name)}': a name is one line of visible text, without "
                          "control characters (newline, tab, escape codes, bidi overrides)")
    password = password()
    with transaction() as session:
        return people.add_person(session, name=name, role=role, skills=skills, password=password,
                                 display_name=display_name, known_skills=work.studio_line(session).known_skills)


def set_skills(*, name: str, skills: str) -> tuple[Person, list[str]]:
    """Replace ``name``'s skills; returns them and the stages they now work in."""
    with transaction() as session:
        person = people.set_skills(session, name=name, skills=skills, known_skills=work.studio_line(session).known_skills)
    with transaction() as session:
        return person, queue.stages_for(session, person.name)


def set_password(*, name: str, password: str) -> None:
    """A new password for ``name``; every web sign-in of theirs ends."""
    with transaction() as session:
        people.set_password(session, name=name, password=password)


def everyone() -> list[Person]:
    with transaction() as session:
        return people.list_people(session)
