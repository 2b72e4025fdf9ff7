"""Queue waits are written with each item's first claim (its CLAIMED event carries queued_at and the seconds
since), by every way a claim is made: the claim statement (`postline queue pull`, the web page), the automatic
worker's move, a claim given back and taken again, and a photo sent back by QC into a new round. The report's
waits must be the ones the events give (paired here in Python, as the figures did before), on SQLite and
PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlmodel import select

from config.calendar import WorkCalendar
from record import queue, rounds, work
from record.db import transaction
from record.figures.report import build_report
from record.figures.scope import Scope
from record.models import QC_GATE, EventKind, StageEvent, WorkItem, WorkStatus, utcnow
from record.moves import enqueue, move_item
from tests.pg import postgres_url  # noqa: F401  (the session's PostgreSQL)
from tests.test_queue import SKIN, add_people, make_items, make_order, record  # noqa: F401  (the fixture)


def waits_from_events(session) -> dict[int, tuple[str, float]]:
    """item -> (stage, seconds from its ENQUEUED event to its first CLAIMED event), paired in Python."""
    events = session.exec(select(StageEvent).where(StageEvent.work_item_id.is_not(None))
                          .order_by(StageEvent.id)).all()
    enqueued, waits = {}, {}
    for e in events:
        if e.kind is EventKind.ENQUEUED:
            enqueued[e.work_item_id] = e.at
        elif e.kind is EventKind.CLAIMED and e.work_item_id not in waits:
            waits[e.work_item_id] = (e.stage, (e.at - enqueued[e.work_item_id]).total_seconds())
    return waits


def nearest_rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[-int(-share * len(ordered) // 1) - 1]


def test_first_claims_carry_the_wait_and_the_report_reads_the_same_waits(record):  # noqa: F811
    with transaction() as session:
        add_people(session, "ana")
        order = make_order(session)
        items = make_items(session, order, 4)
    time.sleep(0.05)
    first = queue.pull(person="ana", stages=[SKIN])            # the claim statement
    with transaction() as session:
        queue.release(session, item_id=first.id, person="ana", reason="wrong photo")
    time.sleep(0.02)
    again = queue.pull(person="ana", stages=[SKIN])             # the same item, claimed a second time
    assert again.id == first.id
    with transaction() as session:
        work.claim_queued(session, items[1])                    # the automatic worker's move
        # QC sends the photo of items[2] back: a new round, enqueued now, claimed after a wait of its own.
        item = session.get(WorkItem, items[2])
        gate = enqueue(session, order_id=order.id, photo_id=item.photo_id, stage=QC_GATE, round=1, input_path=None,
                       actor="test")
        work.claim_queued(session, gate.id)
        rework = rounds.send_back(session, session.get(WorkItem, gate.id), stage=SKIN, actor="lead",
                                  reason="[soft] too soft")
    time.sleep(0.03)
    with transaction() as session:
        move_item(session, session.get(WorkItem, rework.id), WorkStatus.CLAIMED, actor="ana",
                  lease_expires_at=utcnow() + timedelta(hours=1))

    with transaction() as session:
        claims = session.exec(select(StageEvent).where(StageEvent.kind == EventKind.CLAIMED)
                              .order_by(StageEvent.id)).all()
        expected = waits_from_events(session)
        # Each item's first claim carries its wait; the second claim of the released item carries none.
        firsts = {c.work_item_id: c for c in reversed(claims)}
        for c in claims:
            if c is firsts[c.work_item_id]:
                stage, seconds = expected[c.work_item_id]
                assert c.queued_at is not None and abs(c.seconds - seconds) < 0.001, (c, seconds)
            else:
                assert (c.queued_at, c.seconds) == (None, None)
        assert len(claims) == len(expected) + 1 == 5 and expected[rework.id][1] >= 0.03
        today = utcnow().date()
        rep = build_report(session, Scope.days(today - timedelta(days=1), today + timedelta(days=1)),
                           WorkCalendar(), now=utcnow() + timedelta(minutes=1))
    skin = {r.stage: r for r in rep.stages}[SKIN]
    waits = [s for stage, s in expected.values() if stage == SKIN]
    # Skin: the first item (claim statement), items[1] (worker), the rework round: three waits; items[3] waits still.
    assert skin.wait.n == 3
    # (to the millisecond, as the report keeps them: SQLite's julianday arithmetic is microseconds off Python's)
    assert abs(skin.wait.median - nearest_rank(waits, 0.5)) < 0.002
    assert abs(skin.wait.p90 - nearest_rank(waits, 0.9)) < 0.002 and skin.wait.p90 >= skin.wait.median


def test_nearest_rank_helper():
    assert nearest_rank([1, 2, 3, 4], 0.5) == 2 and nearest_rank([1, 2, 3, 4], 0.9) == 4
    assert nearest_rank([5], 0.5) == 5 and nearest_rank([1, 2, 3], 0.5) == 2
