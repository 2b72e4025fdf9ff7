"""Claiming: a retoucher (or the web page for them) takes the next queued work item of their stages.

The entry is :func:`claim` (its own transaction; ``postline queue pull`` and the web page reach it through
:func:`record.queue.pull`); :func:`claim_next` is the same claim as a data function, in the caller's session.
A claim is a lease: ``claimed_by``, ``lease_expires_at`` (now + ``lease``) and ``attempt`` + 1, and a CLAIMED
event; :mod:`record.queue` keeps what comes after (heartbeat, release, reaping, submit).

Three things decide a claim, each in one place:

- **What a person may claim** (:func:`stages_for`): the stages they have every skill for (the line's
  ``skills`` of a stage, by default its key); asking for a stage they lack is :class:`NoSkill`. Stages at their
  WIP limit (the line's ``wip_limit``) are skipped.
- **The statement** (:mod:`record.claim_sql`): pick the first queued item in queue order, move it to CLAIMED
  and write the event, with no room for another claimer in between, so an item is never claimed twice. The
  move is the one of :mod:`record.moves`'s table, checked there.
- **Whose turn, in which transaction** (:func:`claim`), per database:

  - SQLite: the claim and its event run in a savepoint of a write transaction shared with this process's
    other claimers of the moment (:func:`record.sqlite_writes.shared_write`), in the writers' turn.
  - PostgreSQL: the claim is one statement in autocommit on a pooled driver connection (one round trip; no
    transaction stays open while the claimer's process is busy elsewhere), and a process sends at most
    ``POSTLINE_CLAIMS_AT_ONCE`` at once, the others waiting their turn in order (:func:`claim_turns`).

  That is the usual claim, the *fast* one: when no stage has a WIP limit and every stage needs just its key
  as skill, the skills are tested inside the statement and a claim is that statement alone. Otherwise (or when
  the fast claim finds nothing, to tell an empty queue from an unknown person or a missing skill) the full
  path reads the person's skills and the WIP counts first, in a session: :func:`claim_next`.

Why it is built this way (plain SQL, turns, shared transactions): bench/queue.py and bench/README.md.
"""

from __future__ import annotations

import threading
import weakref
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from config.settings import get_settings
from record import claim_sql, people
from record.db import get_engine, transaction
from record.errors import NoSkill, QueueError
from record.models import WorkItem, WorkStatus, utcnow
from record.sqlite_writes import shared_write, writers_turns
from record.turns import Turns

DEFAULT_LEASE = timedelta(hours=1)
CLAIM_TURN_SECONDS = 30     # longest wait for a turn to claim on PostgreSQL (claim_turns)


# --- what a person may claim -------------------------------------------------------------------------------------

def stages_for(session: Session, person: str, stages: list[str] | None = None) -> list[str]:
    """The stages ``person`` may pull from: ``stages`` if they have every skill each needs (the line's
    ``skills`` of the stage, by default its key), else :class:`NoSkill`; None means every stage they are
    skilled for. Raises :class:`record.people.UnknownPerson` for a name not on the line."""
    return _allowed(session, person, people.skills_named(session, person), stages)


def _allowed(session: Session, person: str, skills: list[str], stages: list[str] | None) -> list[str]:
    from record.work import studio_line

    line = studio_line(session)
    allowed = line.stages_for_skills(skills, stages)
    if stages is None:
        return allowed
    missing = [s for s in stages if s not in allowed]
    if missing:
        needs = "; ".join(f"{s} needs {', '.join(line.required_skills(s))}" for s in missing)
        raise NoSkill(f"{person} does not have the skills for {', '.join(missing)} ({needs}; {person} has "
                      f"{', '.join(skills) or 'none'}); a lead can add them with "
                      f"`postline people skills {person} ...`")
    return list(stages)


def _stages_for_claim(session: Session, person: str, stages: list[str] | None) -> list[str]:
    """:func:`stages_for`, with the person's skills read by one plain query on the session's connection (a
    claim asks on every pull; through the ORM that query cost more CPU than the claim itself)."""
    dialect, cursor = claim_sql.driver_cursor(session)
    skills = claim_sql.skills_on_cursor(dialect, cursor, person)
    if skills is None:
        return stages_for(session, person, stages)     # raises UnknownPerson with the usual message
    return _allowed(session, person, skills, stages)


def _claimable(stages: list[str], session: Session) -> list[str]:
    """``stages`` without those at their WIP limit; no query at all when none of them has a limit."""
    limited = _wip_limits(session)
    if not any(s in limited for s in stages):
        return stages
    return [s for s in stages if not _at_wip_limit(session, s)]


def _line_facts(session: Session | None = None) -> tuple[dict[str, int], bool]:
    """The stages of the line that have a WIP limit with the limit, and whether every stage needs just its
    key as skill (the line is read once, see get_line; ``session``: the caller's, see studio_line)."""
    from record.work import studio_line

    global _LINE_FACTS
    line = studio_line(session)
    if _LINE_FACTS is None or _LINE_FACTS[0] is not line:   # a new line (get_line.cache_clear()): read it again
        _LINE_FACTS = (line, {s.key: s.wip_limit for s in line.stages if s.wip_limit is not None},
                       line.skills_are_keys)
    return _LINE_FACTS[1], _LINE_FACTS[2]


_LINE_FACTS: tuple[object, dict[str, int], bool] | None = None


def _wip_limits(session: Session | None = None) -> dict[str, int]:
    return _line_facts(session)[0]


def _fast_claims(session: Session | None = None) -> bool:
    """A claim can be one statement: no WIP limit to count first, and skills that are stage keys."""
    limits, skills_are_keys = _line_facts(session)
    return not limits and skills_are_keys


def _at_wip_limit(session: Session, stage: str) -> bool:
    """Whether ``stage`` already has as many photos claimed as the line's WIP limit allows. A soft limit:
    two claims at the same instant may pass it by one."""
    limit = _wip_limits(session).get(stage)
    if limit is None:
        return False
    claimed = session.exec(select(func.count()).select_from(WorkItem).where(
        WorkItem.stage == stage, WorkItem.status == WorkStatus.CLAIMED)).one()
    return claimed >= limit


def at_wip_limit(session: Session, stages: list[str]) -> list[tuple[str, int, int]]:
    """Of ``stages``, those at their WIP limit with photos queued: (stage, its limit, photos waiting). What a pull
    that found nothing says, when photos wait all the same."""
    limits, held = _wip_limits(session), []
    for stage in stages:
        if stage in limits and _at_wip_limit(session, stage):
            waiting = session.exec(select(func.count()).select_from(WorkItem).where(
                WorkItem.stage == stage, WorkItem.status == WorkStatus.QUEUED)).one()
            if waiting:
                held.append((stage, limits[stage], waiting))
    return held


# --- the claim, in a session (a data function) ---------------------------------------------------------------------

def claim_next(session: Session, *, person: str, stages: list[str] | None = None,
               lease: timedelta = DEFAULT_LEASE, now: datetime | None = None) -> WorkItem | None:
    """Claim the next queued item of ``stages`` (default: all the person's skills) for ``person`` until
    now + ``lease``: sets claimed_by, lease_expires_at, attempt + 1 and writes the CLAIMED event.
    Returns None when those queues are empty. Does not commit."""
    expires = (now or utcnow()) + lease
    if _fast_claims(session) and stages != []:
        item = _claim_in(session, stages=stages, person=person, expires=expires, skilled=True)
        if item is None:
            _stages_for_claim(session, person, stages)  # nobody by that name, or a skill missing: say so
        return item
    stages = _claimable(_stages_for_claim(session, person, stages), session)
    if not stages:
        return None
    return _claim_in(session, stages=stages, person=person, expires=expires, skilled=False)


def _claim_in(session: Session, *, stages: list[str] | None, person: str, expires: datetime,
              skilled: bool) -> WorkItem | None:
    """The claim statement on ``session``'s own connection (its transaction); the session's copy of the
    item, if it holds one, is updated."""
    dialect, cursor = claim_sql.driver_cursor(session)
    values = claim_sql.claim_on_cursor(dialect, cursor, stages=stages, actor=person, lease_expires_at=expires,
                                       skilled=skilled)
    return None if values is None else claim_sql.item_from_values(dialect, values, session)


# --- the claim, committed ----------------------------------------------------------------------------------------

def claim(*, person: str, stages: list[str] | None = None, lease: timedelta = DEFAULT_LEASE,
          url: str | None = None) -> WorkItem | None:
    """Claim the next queued item of ``stages`` (default: all the person's skills) for ``person`` until now +
    ``lease``, committed, in this process's turn (module docstring). None: nothing to do. Raises
    :class:`NoSkill`, :class:`record.people.UnknownPerson`, or :class:`QueueError` when the record stayed
    busy too long."""
    engine = get_engine(url)
    if engine.dialect.name == "postgresql":
        turns = claim_turns(engine)
        if not turns.acquire(CLAIM_TURN_SECONDS):
            raise QueueError(f"the production record is too busy: {person}'s claim waited {CLAIM_TURN_SECONDS} s "
                             "for its turn. Try again in a moment; if it keeps happening, tell whoever runs the "
                             "database.")
        try:
            return _claim_postgres(engine, person=person, stages=stages, lease=lease)
        finally:
            turns.release()
    if engine.dialect.name == "sqlite" and _fast_claims() and stages != []:
        item = _claim_sqlite_shared(engine, person=person, stages=stages, lease=lease)
        if item is not None:
            return item
    with transaction(url) as session:            # the full path; after a fast one, it says why there was nothing
        return claim_next(session, person=person, stages=stages, lease=lease)


def _claim_sqlite_shared(engine: Engine, *, person: str, stages: list[str] | None,
                         lease: timedelta) -> WorkItem | None:
    """The fast claim on SQLite: the claim and its event on the driver connection, in a write transaction
    shared with the other claimers of the moment (record.sqlite_writes.shared_write); no Session or
    Connection objects."""
    dialect = engine.dialect
    try:
        values = shared_write(engine, lambda dbapi_conn: claim_sql.claim_on_cursor(
            dialect, dbapi_conn.cursor(), stages=stages, actor=person, skilled=True,
            lease_expires_at=utcnow() + lease))
    except TimeoutError as exc:
        raise QueueError(f"{exc}: {person}'s claim did not start. Try again in a moment; if it keeps happening, "
                         "another program may be holding the record (postline.db) open.") from exc
    return None if values is None else claim_sql.item_from_values(dialect, values)


def _claim_postgres(engine: Engine, *, person: str, stages: list[str] | None,
                    lease: timedelta) -> WorkItem | None:
    """The claim on PostgreSQL, every statement on its own (autocommit): the fast claim is the one statement;
    the full path's reads (skills, WIP counts) come before it."""
    if _fast_claims() and stages != []:
        # The one statement straight on a pooled driver connection, no Connection or Session objects (they
        # cost twice the CPU of the claim itself, held under the GIL by a busy web server).
        pooled = engine.raw_connection()
        try:
            driver = pooled.driver_connection
            driver.autocommit = True
            values = claim_sql.claim_on_cursor(engine.dialect, driver.cursor(), stages=stages, actor=person,
                                               skilled=True, lease_expires_at=utcnow() + lease)
            driver.autocommit = False                       # as the pool's other users expect it
        except BaseException:
            pooled.invalidate()                             # not back into the pool in an unknown state
            raise
        finally:
            pooled.close()                                  # back to the pool (or closed, if invalidated)
        if values is not None:
            return claim_sql.item_from_values(engine.dialect, values)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection, \
            Session(bind=connection, expire_on_commit=False, autoflush=False) as session:
        return claim_next(session, person=person, stages=stages, lease=lease)


_CLAIM_TURNS: weakref.WeakKeyDictionary[Engine, Turns] = weakref.WeakKeyDictionary()
_CLAIM_TURNS_MADE = threading.Lock()


def claim_turns(engine: Engine) -> Turns | None:
    """The turns this process's claims take on ``engine``: on SQLite the writers' turns (one at a time, as
    every write transaction), on PostgreSQL ``POSTLINE_CLAIMS_AT_ONCE`` claims at once. None for other
    databases.

    PostgreSQL: with many claimers at once (32 threads of a web server, say) on a small machine, the server
    spends its time switching between backends that all race for the same first rows of the queue, and the
    p99 of a claim followed the tail of that contention; about one run in six fell into a slow state at
    ~500 claims/s, as pgbench (PostgreSQL's own client) did with 32 connections. A few claims at a time,
    the rest waiting their turn in order, keeps the tail short: figures in bench/README.md."""
    turns = writers_turns(engine)
    if turns is not None or engine.dialect.name != "postgresql":
        return turns
    turns = _CLAIM_TURNS.get(engine)
    if turns is None:
        with _CLAIM_TURNS_MADE:
            turns = _CLAIM_TURNS.get(engine)
            if turns is None:
                turns = _CLAIM_TURNS[engine] = Turns(get_settings().claims_at_once)
    return turns
