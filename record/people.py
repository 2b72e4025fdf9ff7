"""The people who work on the line: retouchers and leads, their skills (stage keys) and passwords.

Passwords are kept only as ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (hashlib.scrypt, a random 16-byte salt per
person), compared in constant time. There are no default passwords: a person added without one cannot sign
in to the web page (the CLI identifies people with ``--as NAME``).

Data functions take ``session`` and do not commit; the caller owns the transaction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam
from sqlmodel import Session, select

from config.errors import Forbidden, Invalid, NotFound
from record import signins
from record.models import Person, PersonRole, SignInEnd

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{1,39}$")
MIN_PASSWORD_LENGTH = 10
# scrypt cost: n=2**15, r=8 -> 32 MiB and ~0.1 s per check on a laptop; recorded in each hash so it can grow.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2 ** 15, 8, 1
_MAXMEM = 64 * 1024 * 1024


class PeopleError(Invalid):
    """A bad name, role, skill or password; the message says which and what to do."""


class UnknownPerson(NotFound):
    """Nobody of that name works on the line."""


# --- passwords -----------------------------------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password``. Refuses passwords shorter than MIN_PASSWORD_LENGTH."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PeopleError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} characters")
    return hash_secret(password)


def hash_secret(password: str) -> str:
    """A new salted scrypt hash of any secret (a password, a client link's PIN), checked by :func:`verify_password`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P,
                            maxmem=_MAXMEM, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time). A missing or malformed hash never matches."""
    try:
        scheme, n, r, p, salt, digest = (stored or "").split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                                maxmem=_MAXMEM, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY_HASH: str | None = None


def _burn_time(password: str) -> None:
    """Spend the time of one real check, so an unknown name cannot be told apart by timing."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    verify_password(_DUMMY_HASH, password)


# --- skills ----------------------------------------------------------------------------------------------

def skills_of(person: Person) -> list[str]:
    return [s for s in person.skills.split(",") if s]


def parse_skills(text: str | Iterable[str], *, known_skills: Sequence[str] | None = None) -> list[str]:
    """``"liquify_skin, fine_retouch"`` -> ``["liquify_skin", "fine_retouch"]``; with ``known_skills`` (the
    line's, see :attr:`config.line.Line.known_skills`), unknown ones are refused with the list of real ones."""
    items = text.split(",") if isinstance(text, str) else list(text)
    skills: list[str] = []
    for raw in items:
        key = raw.strip()
        if key and key not in skills:
            skills.append(key)
    if known_skills is not None:
        unknown = [s for s in skills if s not in known_skills]
        if unknown:
            raise PeopleError(f"unknown skill(s) {', '.join(unknown)}; the line's stages need "
                              f"{', '.join(known_skills)}")
    return skills


# --- people ------------------------------------------------------------------------------------------------

def add_person(session: Session, *, name: str, role: PersonRole | str, skills: str | Iterable[str],
               password: str | None, display_name: str | None = None,
               known_skills: Sequence[str] | None = None) -> Person:
    """Record a new person. ``password`` None: no web sign-in until :func:`set_password`."""
    if not NAME_PATTERN.fullmatch(name):     # fullmatch: '$' alone lets a trailing newline through
        raise PeopleError(f"{name!r} is not a usable name: 2-40 characters, lower-case letters, digits, . _ -, "
                          "starting with a letter (e.g. 'ana' or 'ben.k')")
    try:
        role = PersonRole(role)
    except ValueError:
        raise PeopleError(f"role {role!r} is not one of {', '.join(r.value for r in PersonRole)}") from None
    if session.exec(select(Person.id).where(Person.name == name)).first() is not None:
        raise PeopleError(f"there is already a person called {name!r}; `postline people list` shows everyone")
    person = Person(name=name, display_name=(display_name or name)[:80], role=role,
                    skills=",".join(parse_skills(skills, known_skills=known_skills)),
                    password_hash=hash_password(password) if password is not None else None)
    session.add(person)
    session.flush()
    return person


def get_person(session: Session, name: str) -> Person:
    person = session.exec(select(Person).where(Person.name == name)).first()
    if person is None:
        raise UnknownPerson(f"nobody called {name!r} works on the line; add them with "
                            f"`postline people add {name} --role retoucher --skills STAGE,...`")
    return person


_SKILLS_OF = select(Person.skills).where(Person.name == bindparam("name"))  # built once: asked on every claim


def skills_named(session: Session, name: str) -> list[str]:
    """The skills of the person called ``name`` (one narrow query: claims ask on every pull)."""
    skills = session.execute(_SKILLS_OF, {"name": name}).scalar()
    if skills is None:
        raise UnknownPerson(f"nobody called {name!r} works on the line; add them with "
                            f"`postline people add {name} --role retoucher --skills STAGE,...`")
    return [s for s in skills.split(",") if s]


def list_people(session: Session) -> list[Person]:
    return list(session.exec(select(Person).order_by(Person.name)).all())


def check_lead(session: Session, name: str) -> None:
    """That ``name`` may give a decision at a gate: one of the studio's leads once it has listed its people
    (`postline people add`); before, any name (a studio of one). :class:`UnknownPerson` for a name nobody has,
    :class:`config.errors.Forbidden` for someone who is not a lead, each saying who the leads are."""
    everyone = list_people(session)
    if not everyone:
        return
    leads = ", ".join(p.name for p in everyone if p.role is PersonRole.LEAD) or "none yet"
    found = next((p for p in everyone if p.name == name), None)
    if found is None:
        raise UnknownPerson(f"nobody of that name works on the line; give the lead who decides (leads: {leads}; "
                            "`postline people list`)")
    if found.role is not PersonRole.LEAD:
        raise Forbidden(f"{found.role.value}s do not give decisions at a gate; a lead does (leads: {leads})")


def not_a_lead(session: Session, name: str) -> str | None:
    """Why ``name`` may not give a decision at a gate (:func:`check_lead`), in a few words; None when they may."""
    try:
        check_lead(session, name)
    except (UnknownPerson, Forbidden) as exc:
        return str(exc)
    return None


def set_password(session: Session, *, name: str, password: str) -> Person:
    """Give ``name`` a new password; every web sign-in of theirs ends in the same transaction (a copy of an old
    session cookie stops working at once)."""
    person = get_person(session, name)
    person.password_hash = hash_password(password)
    session.add(person)
    signins.end_all(session, person.id, why=SignInEnd.PASSWORD_CHANGED)
    return person


def set_skills(session: Session, *, name: str, skills: str | Iterable[str],
               known_skills: Sequence[str] | None = None) -> Person:
    person = get_person(session, name)
    person.skills = ",".join(parse_skills(skills, known_skills=known_skills))
    session.add(person)
    return person


def authenticate(session: Session, *, name: str, password: str) -> Person | None:
    """The person if ``password`` is theirs, else None (same answer and about the same time for a wrong name)."""
    person = session.exec(select(Person).where(Person.name == name)).first()
    if person is None or person.password_hash is None:
        _burn_time(password)
        return None
    return person if verify_password(person.password_hash, password) else None
