"""Stage queues on real SQLite and real PostgreSQL: atomic claims, leases, hand-back rules, queue order."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import func, select

from record import people, queue, work
from record.db import get_engine, transaction
from record.models import EventKind, Order, Photo, PhotoStatus, ShootType, StageEvent, WorkItem, WorkStatus, utcnow
from record.moves import enqueue
from tasks.synthetic.scenes import render_scene
from tests.pg import postgres_url, use_empty_record  # noqa: F401  (the session's PostgreSQL)

SKIN, FINE = "liquify_skin", "fine_retouch"


@pytest.fixture(params=["sqlite", "postgres"])
def record(request, home, monkeypatch) -> str:
    """An empty production record on SQLite (in the test's home) or on the session's PostgreSQL; its URL."""
    if request.param == "postgres":
        return use_empty_record(request.getfixturevalue("postgres_url"), monkeypatch)
    return get_engine().url.render_as_string()


def make_order(session, *, client="Client", due: date | None = None, rush: bool = False) -> Order:
    order = work.create_order(session, client=client, shoot=ShootType.PORTRAIT, preset_name="neutral",
                              preset_version=1, preset_hash="x", preset_json="{}", due=due, card_folder="/card")
    order.rush = rush
    session.add(order)
    session.flush()
    return order


def make_items(session, order: Order, n: int, *, stage: str = SKIN, input_path: str | None = None) -> list[int]:
    photos = [Photo(order_id=order.id, source_name=f"IMG_{i:05d}.CR3", sha256=f"{i:064x}", size_bytes=1,
                    status=PhotoStatus.INGESTED) for i in range(n)]
    session.add_all(photos)
    session.flush()
    return [enqueue(session, order_id=order.id, photo_id=p.id, stage=stage, round=1,
                    input_path=input_path, actor="test").id for p in photos]


def add_people(session, *names: str, skills=(SKIN,)) -> None:
    for name in names:
        people.add_person(session, name=name, role="retoucher", skills=list(skills), password=None)


def claimed_events(session, item_id: int) -> list[StageEvent]:
    return list(session.exec(select(StageEvent).where(StageEvent.work_item_id == item_id,
                                                      StageEvent.kind == EventKind.CLAIMED)).all())


def test_sixteen_claimers_claim_each_of_2000_items_exactly_once(record):
    names = [f"r{i:02d}" for i in range(16)]
    with transaction() as session:
        add_people(session, *names)
        ids = make_items(session, make_order(session), 2000)
    got: dict[str, list[int]] = {n: [] for n in names}
    errors: list[BaseException] = []
    start = threading.Barrier(len(names))

    def claimer(name: str) -> None:
        try:
            start.wait()
            while True:
                with transaction() as session:  # its own session and connection for every claim
                    item = queue.claim_next(session, person=name, lease=timedelta(minutes=5))
                    if item is None:
                        return
                    got[name].append(item.id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    claimed = [i for lst in got.values() for i in lst]
    assert sorted(claimed) == sorted(ids)                      # every item, each once
    assert sum(1 for lst in got.values() if lst) > 1           # the work really was shared
    with transaction() as session:
        per_item = Counter(session.exec(select(StageEvent.work_item_id).where(
            StageEvent.kind == EventKind.CLAIMED)).all())
        assert len(per_item) == 2000 and set(per_item.values()) == {1}
        owners = dict(session.exec(select(WorkItem.id, WorkItem.claimed_by)).all())
        assert all(owners[i] == name for name, lst in got.items() for i in lst)
        assert session.exec(select(func.count()).select_from(WorkItem)
                            .where(WorkItem.status == WorkStatus.QUEUED)).one() == 0


def test_an_abandoned_claim_returns_to_the_queue_after_its_lease(record):
    with transaction() as session:
        add_people(session, "ana", "bob")
        [item_id] = make_items(session, make_order(session), 1)
    with transaction() as session:
        item = queue.claim_next(session, person="ana", lease=timedelta(minutes=5))
        assert item.id == item_id and item.attempt == 1
    with transaction() as session:
        assert queue.reap_expired(session) == 0                     # still within the lease
        assert queue.claim_next(session, person="bob") is None      # nobody else gets it meanwhile
    with transaction() as session:
        assert queue.reap_expired(session, now=utcnow() + timedelta(minutes=6)) == 1
    with transaction() as session:
        released = session.exec(select(StageEvent).where(StageEvent.kind == EventKind.RELEASED)).one()
        assert (released.reason, released.actor) == (queue.LEASE_EXPIRED, "ana")
        again = queue.claim_next(session, person="bob")
        assert (again.id, again.claimed_by, again.attempt) == (item_id, "bob", 2)


def test_a_submit_by_the_wrong_person_is_refused(record, tmp_path):
    with transaction() as session:
        add_people(session, "ana", "bob")
        [item_id] = make_items(session, make_order(session), 1)
        queue.claim_next(session, person="ana", lease=timedelta(seconds=1))
    with pytest.raises(queue.NotYourClaim, match="claimed by ana, not bob"):
        with transaction() as session:
            queue.submit(session, item_id=item_id, person="bob", output_path="/x.tif", output_sha256="0" * 64)
    # Ana's lease runs out, Bob takes the item: Ana's late result is refused, Bob's is taken.
    with transaction() as session:
        queue.reap_expired(session, now=utcnow() + timedelta(seconds=5))
        queue.claim_next(session, person="bob")
    with pytest.raises(queue.NotYourClaim, match="claimed by bob, not ana"):
        with transaction() as session:
            queue.submit(session, item_id=item_id, person="ana", output_path="/x.tif", output_sha256="0" * 64)
    with transaction() as session:
        done = queue.submit(session, item_id=item_id, person="bob", output_path="/y.tif", output_sha256="1" * 64)
        assert done.item.status is WorkStatus.SUBMITTED and done.stage_done
    with transaction() as session:
        kinds = [e.kind for e in session.exec(select(StageEvent).where(StageEvent.work_item_id == item_id)
                                              .order_by(StageEvent.id)).all()]
        assert kinds == [EventKind.ENQUEUED, EventKind.CLAIMED, EventKind.RELEASED, EventKind.CLAIMED,
                         EventKind.SUBMITTED]


def test_a_late_submit_is_taken_when_nobody_took_the_item_meanwhile(record):
    with transaction() as session:
        add_people(session, "ana")
        [item_id] = make_items(session, make_order(session), 1)
        queue.claim_next(session, person="ana", lease=timedelta(seconds=1))
    with transaction() as session:
        queue.reap_expired(session, now=utcnow() + timedelta(seconds=5))
    with transaction() as session:
        done = queue.submit(session, item_id=item_id, person="ana", output_path="/x.tif", output_sha256="0" * 64)
        assert done.item.status is WorkStatus.SUBMITTED and done.item.claimed_by == "ana"
        assert done.seconds is not None and done.seconds >= 0


def test_release_puts_the_item_back_with_the_reason(record):
    with transaction() as session:
        add_people(session, "ana", "bob")
        [item_id] = make_items(session, make_order(session), 1)
        queue.claim_next(session, person="ana")
    with pytest.raises(queue.NotYourClaim):
        with transaction() as session:
            queue.release(session, item_id=item_id, person="bob")
    with transaction() as session:
        item = queue.release(session, item_id=item_id, person="ana", reason="file will not open in Photoshop")
        assert (item.status, item.claimed_by, item.lease_expires_at) == (WorkStatus.QUEUED, None, None)
        event = session.exec(select(StageEvent).where(StageEvent.kind == EventKind.RELEASED)).one()
        assert (event.actor, event.reason) == ("ana", "file will not open in Photoshop")


def test_rush_orders_first_then_due_date_then_age(record):
    with transaction() as session:
        add_people(session, "ana")
        plain_old = make_items(session, make_order(session, client="no date"), 1)
        late = make_items(session, make_order(session, client="late", due=date(2027, 3, 1)), 1)
        soon = make_items(session, make_order(session, client="soon", due=date(2027, 1, 10)), 2)
        rush = make_items(session, make_order(session, client="rush", due=date(2027, 6, 1), rush=True), 1)
    order = []
    with transaction() as session:
        while (item := queue.claim_next(session, person="ana")) is not None:
            order.append(item.id)
    assert order == rush + soon + late + plain_old


def test_a_person_pulls_only_from_stages_they_have_the_skill_for(record):
    with transaction() as session:
        people.add_person(session, name="ana", role="retoucher", skills=[SKIN], password=None)
        people.add_person(session, name="finn", role="retoucher", skills=[FINE], password=None)
        o = make_order(session)
        skin = make_items(session, o, 2, stage=SKIN)
        fine = make_items(session, make_order(session, client="other"), 1, stage=FINE)
    with transaction() as session:
        assert queue.claim_next(session, person="finn").id == fine[0]
        assert queue.claim_next(session, person="finn") is None       # skin work is there, not for Finn
        with pytest.raises(queue.NoSkill, match=r"finn does not have the skills for liquify_skin \(liquify_skin needs liquify_skin"):
            queue.claim_next(session, person="finn", stages=[SKIN])
        with pytest.raises(people.UnknownPerson, match="nobody called 'eve'"):
            queue.claim_next(session, person="eve")
        assert queue.claim_next(session, person="ana", stages=[SKIN]).id == skin[0]


@pytest.fixture
def skilled_line(tmp_path, monkeypatch):
    """The default line, with liquify & skin needing two skills and fine retouch one that is not its key."""
    from config.line import DEFAULT_LINE_FILE, get_line

    line_file = tmp_path / "line.toml"
    text_ = DEFAULT_LINE_FILE.read_text()
    text_ = text_.replace('key = "liquify_skin"\n', 'key = "liquify_skin"\nskills = ["liquify", "skin"]\n')
    text_ = text_.replace('key = "fine_retouch"\n', 'key = "fine_retouch"\nskills = ["colour"]\n')
    line_file.write_text(text_)
    monkeypatch.setenv("POSTLINE_LINE_FILE", str(line_file))
    get_line.cache_clear()
    yield get_line()
    get_line.cache_clear()


def test_a_stage_can_need_several_skills_and_a_person_needs_them_all(record, skilled_line):
    assert skilled_line.required_skills(SKIN) == ("liquify", "skin")
    assert skilled_line.known_skills == ["cull_grade", "liquify", "skin", "colour", "design_layout"]
    with transaction() as session:
        people.add_person(session, name="ana", role="retoucher", skills=["liquify", "skin"], password=None,
                          known_skills=skilled_line.known_skills)
        people.add_person(session, name="lou", role="retoucher", skills=["liquify"], password=None)
        people.add_person(session, name="cyd", role="retoucher", skills=["colour", SKIN], password=None)
        with pytest.raises(people.PeopleError, match="unknown skill.*retouch; the line's stages need cull_grade, "
                                                     "liquify, skin, colour"):
            people.add_person(session, name="rex", role="retoucher", skills=["retouch"], password=None,
                              known_skills=skilled_line.known_skills)
        skin = make_items(session, make_order(session), 2, stage=SKIN)
        fine = make_items(session, make_order(session, client="other"), 1, stage=FINE)
    with transaction() as session:
        assert queue.stages_for(session, "ana") == [SKIN]
        assert queue.stages_for(session, "lou") == []
        assert queue.stages_for(session, "cyd") == [FINE]     # the stage's key is no longer its skill
    # queue.claim is what `postline queue pull` and the web page call (autocommit on PostgreSQL)
    assert queue.claim(person="lou", url=record) is None                  # half the skills: nothing
    with pytest.raises(queue.NoSkill, match=r"lou does not have the skills for liquify_skin \(liquify_skin "
                                            r"needs liquify, skin; lou has liquify\)"):
        queue.claim(person="lou", stages=[SKIN], url=record)
    assert queue.claim(person="cyd", url=record).id == fine[0]
    assert queue.claim(person="cyd", url=record) is None                  # skin work waits, not for cyd
    assert queue.claim(person="ana", url=record).id == skin[0]
    with transaction() as session:
        assert queue.claim_next(session, person="ana", stages=[SKIN]).id == skin[1]


def test_a_line_file_saved_half_edited_stops_nobodys_queue_nor_the_report(record, tmp_path, monkeypatch):
    """A lead saves the line file with a typo while retouchers work: the queues, claims (WIP limits and skills
    included), people and the report go on with the line the latest order runs with, and say which file is
    broken; moving an order to the file is still refused."""
    from config.line import get_line, load_line
    from surfaces.actions.people import add as add_person
    from tests.flowkit import cli

    human = load_line(Path("config/examples/human-line.toml"))
    with transaction() as session:
        people.add_person(session, name="ana", role="retoucher", skills=["liquify", "skin"], password=None)
        order = make_order(session)
        work.record_line(session, order, human)           # what `postline order run` records as it starts
        make_items(session, order, 3, stage=SKIN)
    line_file = tmp_path / "line.toml"
    line_file.write_text(Path("config/examples/human-line.toml").read_text().replace("wip_limit = 20",
                                                                                       "wip_limt = 20"))
    monkeypatch.setenv("POSTLINE_LINE_FILE", str(line_file))
    get_line.cache_clear()

    said = []
    heard = logging.Handler(logging.WARNING)
    heard.emit = lambda entry: said.append(entry.getMessage())
    logging.getLogger("postline.record").addHandler(heard)
    try:
        code, stages = cli("queue", "stages")
        assert code == 0, stages
        assert "Liquify & skin" in stages and "liquify, skin" in stages
        assert queue.claim(person="ana", url=record).stage == SKIN            # skills and WIP limit: the order's line
        assert add_person(name="bo", role="retoucher", skills="fine_retouch", password=lambda: None).skills
        code, report = cli("report")
        assert code == 0, report
    finally:
        logging.getLogger("postline.record").removeHandler(heard)
    assert len(said) == 1, said                                              # once a process, not on every call
    assert str(line_file) in said[0] and "wip_limt" in said[0] and f"the line order {order.id} runs with" in said[0]

    code, refused = cli("order", "use-line", str(order.id))
    assert code == 2 and "wip_limt" in refused and str(line_file) in refused
    get_line.cache_clear()


def test_a_heartbeat_extends_the_lease_only_for_the_claimer(record):
    with transaction() as session:
        add_people(session, "ana", "bob")
        [item_id] = make_items(session, make_order(session), 1)
        first = queue.lease_expiry(queue.claim_next(session, person="ana", lease=timedelta(seconds=2)))
    with transaction() as session:
        item = queue.heartbeat(session, item_id=item_id, person="ana", lease=timedelta(minutes=10))
        assert queue.lease_expiry(item) - first > timedelta(minutes=9)
        with pytest.raises(queue.NotYourClaim):
            queue.heartbeat(session, item_id=item_id, person="bob")
    with transaction() as session:  # the old lease has passed; the extended one has not
        assert queue.reap_expired(session, now=utcnow() + timedelta(seconds=5)) == 0
        assert [i.id for i in queue.mine(session, "ana")] == [item_id]


def test_submit_tells_when_the_orders_stage_is_done_and_can_queue_the_next_stage(record):
    with transaction() as session:
        add_people(session, "ana")
        o = make_order(session)
        ids = make_items(session, o, 2)
        make_items(session, make_order(session, client="other"), 1)   # another order's work does not count
    results = []
    for _ in ids:
        with transaction() as session:
            item = queue.claim_next(session, person="ana", stages=[SKIN])
            results.append(queue.submit(session, item_id=item.id, person="ana", output_path=f"/out/{item.id}.tif",
                                        output_sha256="a" * 64, enqueue_next=FINE))
    assert [r.stage_done for r in results] == [False, True]
    with transaction() as session:
        nxt = work.items_in(session, o.id, FINE)
        assert [i.input_path for i in nxt] == [f"/out/{i}.tif" for i in ids]
        depths = {d.stage: d for d in queue.queue_depths(session, [SKIN, FINE, "design_layout"])}
        assert (depths[SKIN].queued, depths[FINE].queued, depths["design_layout"].queued) == (1, 2, 0)
        assert [d.stage for d in queue.queue_depths(session, [SKIN, FINE, "design_layout"])] == \
            [SKIN, FINE, "design_layout"]


def test_queue_depths_show_the_oldest_item_and_earliest_due_date(record):
    with transaction() as session:
        add_people(session, "ana")
        make_items(session, make_order(session, due=date(2027, 2, 1)), 2)
        make_items(session, make_order(session, client="b", due=date(2027, 1, 5)), 1)
        queue.claim_next(session, person="ana")
    with transaction() as session:
        [depth] = queue.queue_depths(session)
        assert (depth.stage, depth.queued, depth.claimed, depth.earliest_due) == (SKIN, 2, 1, date(2027, 2, 1))
        assert utcnow() - depth.oldest < timedelta(minutes=1)


def test_marking_an_order_rush_later_moves_its_queued_items_to_the_front(record):
    with transaction() as session:
        add_people(session, "ana")
        first = make_items(session, make_order(session, client="first", due=date(2027, 1, 1)), 2)
        later = make_order(session, client="later")
        later_items = make_items(session, later, 2)
    with transaction() as session:
        order = session.get(Order, later.id)
        order.rush = True           # the client called: they need it for Friday
        session.add(order)
    order_of_claims = []
    with transaction() as session:
        while (item := queue.claim_next(session, person="ana")) is not None:
            order_of_claims.append(item.id)
    assert order_of_claims == later_items + first


def test_without_postgresql_installed_the_fixture_says_how_to_install_it(monkeypatch):
    import tests.pg as pg

    monkeypatch.setattr(pg.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(pg.shutil, "which", lambda name: None)
    with pytest.raises(pg.PostgresMissing, match="apt-get install -y postgresql"):
        pg.find_bin_dir()


def test_a_stage_at_its_wip_limit_hands_out_no_more_work(home, tmp_path, monkeypatch, capsys):
    """... and `queue pull` says so: it said "Nothing waiting in your stages" with 3 photos waiting."""
    from config.line import DEFAULT_LINE_FILE, get_line
    from surfaces.cli import main

    line_file = tmp_path / "line.toml"
    line_file.write_text(DEFAULT_LINE_FILE.read_text().replace('key = "liquify_skin"\ntitle = "Liquify & skin"\nmode = "automatic"\noperation = "skin"',
                                 'key = "liquify_skin"\ntitle = "Liquify & skin"\nmode = "manual"\nwip_limit = 2'))
    monkeypatch.setenv("POSTLINE_LINE_FILE", str(line_file))
    get_line.cache_clear()
    assert get_line().stage(SKIN).wip_limit == 2
    with transaction() as session:
        add_people(session, "ana", "bob", "cy")
        make_items(session, make_order(session), 5)
    claims = []
    for name in ("ana", "bob", "cy"):
        with transaction() as session:
            claims.append(queue.claim_next(session, person=name))
    assert [c is not None for c in claims] == [True, True, False]   # the third waits: two in progress
    assert main(["queue", "pull", "--as", "cy", "--to", str(tmp_path / "cy")]) == 3
    assert ("Nothing you can take now: Liquify & skin: 2 being worked, its WIP limit; 3 waiting. A photo is free to "
            "take once one of those is handed back or released") in capsys.readouterr().err
    with transaction() as session:
        queue.release(session, item_id=claims[0].id, person="ana")
    with transaction() as session:
        assert queue.claim_next(session, person="cy") is not None
    get_line.cache_clear()


def test_a_connection_the_server_dropped_while_idle_is_replaced_before_use(postgres_url, home, monkeypatch):
    from record import db

    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0)     # every pooled connection counts as idle
    engine = get_engine(postgres_url)
    engine.dispose()                            # the pool holds just these two (it hands out the oldest first)
    first, second = engine.connect(), engine.connect()
    pid = first.execute(text("SELECT pg_backend_pid()")).scalar()
    first.close()                                              # back in the pool, handed out next
    second.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})   # e.g. a server restart
    second.close()
    with transaction(postgres_url) as session:                # the dead one is noticed and replaced
        assert session.exec(select(func.count()).select_from(WorkItem)).one() >= 0
        assert session.exec(text("SELECT pg_backend_pid()")).scalar() != pid


def test_claims_leave_the_pooled_connections_transactional(record):
    """queue.claim runs in autocommit on PostgreSQL, straight on a pooled driver connection: every connection
    it used must be back to normal, or a later unit of work would commit statement by statement."""
    with transaction() as session:
        add_people(session, "ana")
        make_items(session, make_order(session), 6)
    assert all(queue.claim(person="ana", url=record) is not None for _ in range(6))
    for i in range(12):                     # enough checkouts to meet every connection the claims used
        with pytest.raises(RuntimeError):
            with transaction(record) as session:
                people.add_person(session, name=f"ghost{i}", role="retoucher", skills=[SKIN], password=None)
                session.flush()
                raise RuntimeError("the unit of work fails after writing")
    with transaction(record) as session:
        assert [p.name for p in people.list_people(session)] == ["ana"]


def test_sqlite_checkpoints_run_on_their_own_thread(home, monkeypatch):
    """Every CHECKPOINT_EVERY commits the WAL is copied into the database file by a thread of its own, not
    inside somebody's commit: the file grows with nobody calling a checkpoint (SQLite's own would wait for
    tens of MB of WAL)."""
    import time
    from pathlib import Path

    from record import sqlite_writes as db

    monkeypatch.setattr(db, "CHECKPOINT_EVERY", 10)
    url = get_engine().url
    database = Path(url.database)
    with transaction() as session:                       # tables made; note the file's size
        session.exec(select(func.count()).select_from(WorkItem)).one()
    before = database.stat().st_size
    for i in range(30):
        with transaction() as session:
            people.add_person(session, name=f"p{i:02d}", role="retoucher", skills=[SKIN], password=None,
                              display_name="x" * 80)
    deadline = time.monotonic() + 30
    while database.stat().st_size <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert database.stat().st_size > before
    assert any(t.name == "postline-wal-checkpoint" for t in threading.enumerate())


def test_turns_are_first_come_first_served_and_never_over_their_slots():
    """record.turns.Turns (SQLite's writers, PostgreSQL's claims): at most `slots` holders, and a freed turn goes
    to whoever has waited longest."""
    import time

    from record.turns import Turns

    turns = Turns(2)
    assert turns.acquire(1) and turns.acquire(1)
    assert not turns.acquire(0.05)                          # both held: a third waits, then gives up
    order: list[int] = []

    def waiter(n: int) -> None:
        assert turns.acquire(60)
        order.append(n)

    threads = []
    for n in range(4):                                      # four wait, in this order
        threads.append(threading.Thread(target=waiter, args=(n,)))
        threads[-1].start()
        deadline = time.monotonic() + 30
        while len(turns._waiting) < n + 1 and time.monotonic() < deadline:
            time.sleep(0.005)
    assert order == []
    for _ in range(4):                                      # each release lets exactly the next one in
        before = len(order)
        turns.release()
        deadline = time.monotonic() + 30
        while len(order) == before and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.02)
        assert len(order) == before + 1
    assert order == [0, 1, 2, 3]
    for t in threads:
        t.join(5)


def test_claims_wait_their_turn_and_go_when_one_is_freed(record):
    """A claim takes a turn of the process's claims: on SQLite the writers' turn (one at a time), on PostgreSQL
    one of POSTLINE_CLAIMS_AT_ONCE (fewer backends racing for the same first rows of the queue). With every turn
    taken, a claim waits; it goes through when one is freed, and gives its turn back."""
    from record.claims import claim_turns

    with transaction(record) as session:
        add_people(session, "ana")
        first = make_items(session, make_order(session), 2)[0]
    turns = claim_turns(get_engine(record))
    assert turns is not None
    for _ in range(turns.slots):
        assert turns.acquire(1)
    got: list[WorkItem | None] = []
    claimer = threading.Thread(target=lambda: got.append(queue.claim(person="ana", url=record)))
    claimer.start()
    claimer.join(0.5)
    assert claimer.is_alive() and got == []                # waiting for a turn, not at the database
    turns.release()
    claimer.join(10)
    assert not claimer.is_alive() and got[0] is not None and got[0].id == first
    for _ in range(turns.slots - 1):
        turns.release()
    for _ in range(turns.slots):                            # every turn back: none was lost
        assert turns.acquire(0.1)
    for _ in range(turns.slots):
        turns.release()


def test_a_failed_write_on_a_raw_sqlite_connection_rolls_back_and_passes_the_turn_on(home):
    """record.sqlite_writes.sqlite_write (what the shared writes' batches run in): after an exception nothing was
    written and the next writer gets its turn at once."""
    from record.claims import claim_turns
    from record.sqlite_writes import sqlite_write

    engine = get_engine()
    with transaction() as session:
        add_people(session, "ana")
    with pytest.raises(RuntimeError):
        with sqlite_write(engine) as dbapi_conn:
            dbapi_conn.execute("UPDATE people SET skills = 'nothing' WHERE name = 'ana'")
            raise RuntimeError("fails after writing")
    assert claim_turns(engine).acquire(0.1)
    claim_turns(engine).release()
    with transaction() as session:
        assert people.skills_of(people.get_person(session, "ana")) == [SKIN]


def test_a_turn_given_to_a_waiter_interrupted_while_waiting_goes_to_the_next_one():
    """Ctrl-C (any exception) while waiting in line must not take a turn away for good."""
    import time

    from record.turns import Turns

    turns = Turns(1)
    assert turns.acquire(1)

    class Interrupted(Exception):
        pass

    class Flaky(threading.Event):                          # the wait is interrupted just as the turn arrives
        def wait(self, timeout=None):
            super().wait(timeout)
            raise Interrupted

    errors: list[BaseException] = []
    start = threading.Lock()
    start.acquire()

    def waiter() -> None:
        start.acquire()
        try:
            turns.acquire(5)
        except Interrupted as exc:
            errors.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    original = threading.Event
    threading.Event = Flaky                                 # what Turns.acquire makes to wait on
    try:
        start.release()
        deadline = time.monotonic() + 30
        while not turns._waiting and time.monotonic() < deadline:
            time.sleep(0.001)
    finally:
        threading.Event = original
    turns.release()                                         # handed to the waiter, who is interrupted
    thread.join(5)
    assert errors and turns.acquire(0.5)                    # the turn came back, not lost


@pytest.mark.parametrize("where", ["after_cursor_execute", "commit"])
def test_ctrl_c_in_the_middle_of_a_write_is_a_ctrl_c_and_leaves_the_record_free(home, where):
    """A Ctrl-C landing in a write of the main thread (just after the driver ran a statement, SQLAlchemy
    invalidating the connection; or as the transaction commits, kept or not) ends as KeyboardInterrupt, so the run is shown
    stopped: it came out as "PendingRollbackError: Can't reconnect until invalid transaction is rolled back"
    (60 in 300 Ctrl-Cs sent to a process writing in a loop). Nothing half-written is kept, and the writers'
    turn and SQLite's write lock are free at once for the threads still finishing."""
    import sqlite3
    from pathlib import Path

    from sqlalchemy import event

    from record.sqlite_writes import writers_turns

    engine = get_engine()
    with transaction() as session:
        add_people(session, "ana")
    armed = [True]

    def interrupt(*_args, **_kw) -> None:
        if armed[0]:
            armed[0] = False
            raise KeyboardInterrupt

    event.listen(engine, where, interrupt, insert=True)
    try:
        with pytest.raises(KeyboardInterrupt):
            with transaction() as session:
                session.execute(text("UPDATE people SET display_name = 'changed' WHERE name = 'ana'"))
    finally:
        event.remove(engine, where, interrupt)
    assert not armed[0]
    turns = writers_turns(engine)
    assert turns.acquire(0.1)
    turns.release()
    other = sqlite3.connect(Path(engine.url.database), timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")                     # SQLite's write lock: free
        other.execute("ROLLBACK")
    finally:
        other.close()
    if where == "after_cursor_execute":                       # before the commit: nothing of it kept
        with transaction() as session:
            assert people.get_person(session, "ana").display_name != "changed"


def test_shared_sqlite_writes_keep_each_job_whole_and_apart(home):
    """record.sqlite_writes.shared_write (SQLite claims): jobs that arrive while a transaction is under way share
    the next one; a job that fails after writing leaves nothing behind, and the others of its batch are committed."""
    import time

    from record.claims import claim_turns
    from record.sqlite_writes import _SQLITE_WRITERS, shared_write

    engine = get_engine()
    with transaction() as session:
        for name in ("ana", "ben", "cy"):
            add_people(session, name)
    shared, turns = _SQLITE_WRITERS[engine].shared, claim_turns(engine)
    first = second = third = None

    def rename(old: str, new: str, fail: bool = False):
        def work(conn):
            conn.execute("UPDATE people SET display_name = ? WHERE name = ?", (new, old))
            if fail:
                raise ValueError(f"{old} fails after writing")
            return new
        return work

    def wait_for(condition) -> None:
        deadline = time.monotonic() + 30
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.002)
        assert condition()

    outcomes: dict[str, object] = {}

    def ask(name: str, fail: bool = False) -> threading.Thread:
        def go():
            try:
                outcomes[name] = shared_write(engine, rename(name, name.upper(), fail))
            except ValueError as exc:
                outcomes[name] = exc
        thread = threading.Thread(target=go)
        thread.start()
        return thread

    writers = _SQLITE_WRITERS[engine]
    commits = writers.commits
    assert turns.acquire(1)                       # another writer of the process holds the turn
    try:
        first = ask("ana")
        wait_for(lambda: len(turns._waiting) == 1)    # the writing thread took "ana" and waits for the turn
        second, third = ask("ben", fail=True), ask("cy")
        wait_for(lambda: len(shared._pending) == 2)   # "ben" and "cy" wait together for the next transaction
    finally:
        turns.release()
    for thread in (first, second, third):
        thread.join(10)
    assert writers.commits == commits + 2         # "ana" alone, then "ben" and "cy" in one transaction
    assert outcomes["ana"] == "ANA" and outcomes["cy"] == "CY"
    assert isinstance(outcomes["ben"], ValueError)
    with transaction() as session:
        names = {p.name: p.display_name for p in people.list_people(session)}
    assert names["ana"] == "ANA" and names["cy"] == "CY" and names["ben"] != "BEN"


def test_an_sqlite_engine_used_for_claims_can_be_freed(home):
    """Nothing postline keeps (the writers, the shared-writes thread, a finished job) holds on to an engine:
    an engine that is dropped is freed with its pool of open connections."""
    import gc
    import weakref

    from record import db

    with transaction() as session:
        add_people(session, "ana")
        make_items(session, make_order(session), 1)
    del session                                   # (the test's own reference: a Session keeps its engine)
    assert queue.claim(person="ana") is not None
    engine = weakref.ref(get_engine())
    db._engine_for.cache_clear()
    gc.collect()
    assert engine() is None


def test_claims_stop_when_the_claim_statement_no_longer_matches_the_table_of_moves(record, monkeypatch):
    """The claim is written as SQL (record.claim_sql), not made by moves.move_item: were QUEUED -> CLAIMED taken
    out of the table of moves, claims must be refused, on both databases, not go on moving items the table
    forbids."""
    from record import claim_sql, moves

    with transaction(record) as session:
        add_people(session, "ana")
        first = make_items(session, make_order(session), 1)[0]
    monkeypatch.setitem(moves.ALLOWED_WORK, WorkStatus.QUEUED, frozenset({WorkStatus.CANCELLED}))
    claim_sql.statements.cache_clear()
    try:
        with pytest.raises(moves.IllegalMove, match="table of moves no longer allows"):
            queue.claim(person="ana", url=record)
    finally:
        claim_sql.statements.cache_clear()                 # built afresh from the real table after this test
    with transaction(record) as session:
        item = session.get(WorkItem, first)
        assert item.status is WorkStatus.QUEUED and item.claimed_by is None
        assert claimed_events(session, first) == []


def test_an_orders_stages_now_count_waiting_held_and_rework_on_either_record(record):
    """What the order run's progress artifact shows (record.progress.stages_now): on PostgreSQL its GROUP BY on
    'round > 1' was refused (two bound parameters for one expression), so the artifact was never published."""
    from record import progress

    with transaction() as session:
        order = make_order(session)
        add_people(session, "ana")
        ids = make_items(session, order, 3)
        rework = session.get(WorkItem, ids[2])
        rework.round = 2
        session.add(rework)
    queue.pull(person="ana", stages=[SKIN])
    with transaction() as session:
        [skin, fine] = progress.stages_now(session, order.id, [SKIN, FINE])
    assert (skin.stage, skin.waiting, skin.worked, skin.rework, dict(skin.holders)) == (SKIN, 2, 1, 1, {"ana": 1})
    assert (fine.waiting, fine.worked, fine.rework) == (0, 0, 0)


def test_pulling_again_an_item_whose_file_holds_work_keeps_the_work(home, line_file, tmp_path, capsys):
    """A lease lapsed (or the item released) and the retoucher pulled it again: the pull wrote the untouched
    working file over the file they had edited in place, as the pull's "When done" line invites. Their work is
    kept, and the pull says so."""
    import numpy as np

    from surfaces.cli import main
    from tasks.files import sha256_of
    from tasks.pixels import imageio

    from tests.flowkit import MANUAL_SKIN_LINE

    line_file(MANUAL_SKIN_LINE)
    working = imageio.write_working_tiff(tmp_path / "working.tif", np.full((40, 60, 3), 0.4, np.float32))
    with transaction() as session:
        add_people(session, "ana")
        item_id = make_items(session, make_order(session), 1, input_path=str(working))[0]
    folder = tmp_path / "ana"
    assert main(["queue", "pull", "--as", "ana", "--to", str(folder)]) == 0
    pulled = Path(capsys.readouterr().out.strip().splitlines()[-1])
    imageio.write_working_tiff(pulled, np.full((40, 60, 3), 0.5, np.float32))       # edited in place
    edited = sha256_of(pulled)
    assert main(["queue", "release", str(item_id), "--as", "ana"]) == 0
    capsys.readouterr()
    assert main(["queue", "pull", "--as", "ana", "--to", str(folder)]) == 0           # the same item, again
    said = capsys.readouterr().out
    assert f"Work item {item_id}:" in said and sha256_of(pulled) == edited
    assert f"Your work on it so far is kept: {pulled} was there already" in said


def test_a_hand_back_of_another_held_photos_work_is_refused_naming_it(home, line_file, tmp_path, capsys):
    """A retoucher holding two frames of one session (the couple moved, the room did not: 0.77 alike) handed back
    the second's edit for the first: it passed every check and was delivered as the first. Refused, naming the
    photo it is the work on; handed back for that one, taken."""
    import numpy as np

    from surfaces.cli import main
    from tasks.pixels import imageio
    from tasks.synthetic.scenes import render_scene
    from tests.flowkit import MANUAL_SKIN_LINE

    line_file(MANUAL_SKIN_LINE)
    room = render_scene("interior", 450, 300, seed=3)
    moved = room.copy()
    moved[:, 190:260] = render_scene("portrait", 450, 300, seed=4)[:, 190:260]        # 0.77 alike to the room
    with transaction() as session:
        add_people(session, "ana")
        order = make_order(session)
        items = {}
        for n, (name, picture) in enumerate((("DSC_0001.NEF", room), ("DSC_0002.NEF", moved))):
            photo = Photo(order_id=order.id, source_name=name, sha256=f"{n:064x}", size_bytes=1,
                          status=PhotoStatus.INGESTED)
            session.add(photo)
            session.flush()
            working = imageio.write_working_tiff(tmp_path / f"{n}.tif", picture)
            items[name] = enqueue(session, order_id=order.id, photo_id=photo.id, stage=SKIN, round=1,
                                  input_path=str(working), actor="test").id
    folder = tmp_path / "ana"
    for _ in range(2):
        assert main(["queue", "pull", "--as", "ana", "--to", str(folder)]) == 0
    capsys.readouterr()
    done = imageio.write_working_tiff(tmp_path / "done.tif", np.clip(moved * [1.1, 1.0, 0.9], 0, 1))
    assert main(["queue", "submit", str(items["DSC_0001.NEF"]), str(done), "--as", "ana"]) != 0
    said = capsys.readouterr().err
    assert "done.tif is the work on DSC_0002.NEF, another photo you hold, not on DSC_0001.NEF" in said
    assert main(["queue", "submit", str(items["DSC_0002.NEF"]), str(done), "--as", "ana"]) == 0


def test_a_pull_stopped_with_ctrl_c_while_copying_leaves_the_photo_in_the_queue(home, line_file, tmp_path, capsys,
                                                                                 monkeypatch):
    """Ctrl-C while the working file was copied: a traceback, and the photo stayed claimed for an hour with no
    file to work on, taking a WIP slot. The claim goes back; a sentence, exit 130."""
    import shutil

    import numpy as np

    from surfaces.cli import main
    from tasks.pixels import imageio
    from tests.flowkit import MANUAL_SKIN_LINE

    line_file(MANUAL_SKIN_LINE)
    working = imageio.write_working_tiff(tmp_path / "working.tif", np.full((40, 60, 3), 0.4, np.float32))
    with transaction() as session:
        add_people(session, "ana")
        item_id = make_items(session, make_order(session), 1, input_path=str(working))[0]

    copy = shutil.copyfile

    def interrupted(source, target):  # noqa: ANN001, ANN202 - Ctrl-C lands half way through the copy
        Path(target).write_bytes(Path(source).read_bytes()[:2000])
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "copyfile", interrupted)
    assert main(["queue", "pull", "--as", "ana", "--to", str(tmp_path / "ana")]) == 130
    said = capsys.readouterr().err
    assert said.startswith("Stopped (Ctrl-C).") and "Traceback" not in said
    with transaction() as session:
        assert session.get(WorkItem, item_id).status is WorkStatus.QUEUED
    monkeypatch.setattr(shutil, "copyfile", copy)
    assert main(["queue", "pull", "--as", "ana", "--to", str(tmp_path / "ana")]) == 0    # again: the whole file,
    said = capsys.readouterr().out                                                    # not the half copy as "work"
    assert "Your work on it so far is kept" not in said
    assert Path(said.strip().splitlines()[-1]).read_bytes() == working.read_bytes()
    assert [p.name for p in (tmp_path / "ana").iterdir() if p.suffix == ".part"] == []


def test_queue_mine_marks_a_lapsed_lease(home, line_file, tmp_path, capsys):
    """`queue mine` listed a lease that had run out as held, as any other: anyone may pull it now."""
    from datetime import datetime, timezone

    from surfaces.cli import main
    from tests.flowkit import MANUAL_SKIN_LINE

    line_file(MANUAL_SKIN_LINE)
    with transaction() as session:
        add_people(session, "ana")
        first, second = make_items(session, make_order(session), 2)
    for _ in range(2):
        with transaction() as session:
            queue.claim_next(session, person="ana")
    with transaction() as session:
        item = session.get(WorkItem, first)
        item.lease_expires_at = datetime(2026, 1, 1, tzinfo=timezone.utc)
        session.add(item)
    assert main(["queue", "mine", "--as", "ana"]) == 0
    said = capsys.readouterr().out
    rows = {line.split()[0]: line for line in said.splitlines() if line.split() and line.split()[0].isdigit()}
    assert "LAPSED" in rows[str(first)] and "LAPSED" not in rows[str(second)]
    assert "1 lease(s) LAPSED: anyone with the skills may pull those now." in said


def test_the_last_hand_back_of_an_order_no_run_works_on_says_what_to_run(home, line_file, tmp_path, capsys):
    """The last photo of a stage handed back while no run works on the order (a revision asked for before `order
    run`, say): it said "the order can move on", and nothing would move it."""
    import numpy as np

    from surfaces.cli import main
    from tasks.pixels import imageio
    from tests.flowkit import MANUAL_SKIN_LINE

    line_file(MANUAL_SKIN_LINE)
    working = imageio.write_working_tiff(tmp_path / "working.tif", render_scene("interior", 90, 60, seed=1))
    with transaction() as session:
        add_people(session, "ana")
        order = make_order(session)
        item_id = make_items(session, order, 1, input_path=str(working))[0]
    assert main(["queue", "pull", "--as", "ana", "--to", str(tmp_path / "ana")]) == 0
    pulled = Path(capsys.readouterr().out.strip().splitlines()[-1])
    done = imageio.write_working_tiff(tmp_path / "done.tif", np.clip(imageio.read_working_tiff(pulled) * 0.97, 0, 1))
    assert main(["queue", "submit", str(item_id), str(done), "--as", "ana"]) == 0
    said = capsys.readouterr().out
    assert "the order can move on" not in said
    assert (f"but no run is working on the order (it stopped, or none was started): `postline order run {order.id}` "
            "carries it on.") in said
