"""Two people acting on one order at the same moment, on real SQLite and real PostgreSQL: what one transaction
checks and then writes must not be checked by the other meanwhile. SQLite's transactions hold the write lock
from their start; on PostgreSQL each of these takes the order's lock (record.db.one_at_a_time). Each test holds
the first transaction open while the second runs beside it, then lets it commit: the interleaving that broke."""

from __future__ import annotations

import threading
import time


from record import queue, rounds, work
from record.db import transaction
from record.models import OrderStatus, Photo, PhotoStatus, WorkStatus
from record.moves import move_item
from tests.pg import postgres_url  # noqa: F401  (the session's PostgreSQL)
from tests.test_queue import SKIN, add_people, make_items, make_order, record  # noqa: F401


def beside(first, second) -> object:  # noqa: ANN001 - two callables taking a session
    """``first`` in a transaction held open while ``second`` runs in another thread (in its own transaction);
    the first commits after a moment. Returns (first's result, second's result or the exception it raised)."""
    out: dict = {}

    def run_second() -> None:
        try:
            with transaction() as session:
                out["second"] = second(session)
        except Exception as exc:  # noqa: BLE001 - the test looks at what it was
            out["second"] = exc

    with transaction() as session:
        out["first"] = first(session)
        other = threading.Thread(target=run_second)
        other.start()
        time.sleep(0.8)                      # the second is inside its transaction (or waiting to begin it)
    other.join(timeout=60)
    return out["first"], out["second"]


def test_the_last_two_hand_backs_of_a_stage_at_once_wake_the_order(record):
    """Each hand-back counted the stage's open items while the other's was not committed: both saw one left,
    neither woke the order's run, which then waited for people with nothing left to do."""
    with transaction() as session:
        order = make_order(session)
        ids = make_items(session, order, 2)
        add_people(session, "ana", "ben")
    for person in ("ana", "ben"):
        assert queue.claim(person=person, stages=[SKIN]) is not None
    with transaction() as session:
        holders = {work.items_by_id(session, [i])[0].claimed_by: i for i in ids}

    def hand_back(person: str):  # noqa: ANN202
        return lambda session: queue.submit(session, item_id=holders[person], person=person,
                                            output_path=f"/{person}.tif", output_sha256="0" * 64).stage_done
    assert sorted(beside(hand_back("ana"), hand_back("ben"))) == [False, True]


def test_two_revision_requests_at_once_are_one_round_and_neither_is_lost(record):
    """Two change requests on different photos at the same moment (the gallery, `order revise`) both read the
    order before either wrote it. Changes asked for before the next delivery are one round, delivered together:
    the second, taken after the first, joins its round, and both photos are back in the line."""
    with transaction() as session:
        order = make_order(session)
        for item in work.items_by_id(session, make_items(session, order, 2)):
            session.get(Photo, item.photo_id).status = PhotoStatus.DELIVERED      # as a delivery leaves them
        order.status, order_id = OrderStatus.DELIVERED, order.id

    def ask(name: str):  # noqa: ANN202
        return lambda session: rounds.request_revision(session, order_id=order_id, requests=[(name, SKIN, "warmer")],
                                                       stages=[SKIN])
    assert sorted(beside(ask("IMG_00000.CR3"), ask("IMG_00001.CR3"))) == [1, 1]
    with transaction() as session:
        assert work.get_order(session, order_id).revisions == 1
        assert {p.status for p in work.photos(session, order_id)} == {PhotoStatus.INGESTED}


def test_two_selections_sent_at_once_the_second_is_refused_in_words(record):
    """Two sends of a client's selection (a double click, two tabs) applied at once: on PostgreSQL the second
    passed the check and then clashed on the pick's key (the page said 'nothing was done', though the first was
    applied). The second is refused as decided already."""
    from qc.gates import DecisionError
    from qc.selection import CLIENT_SELECTION, SelectionDecision, Favourite
    from qc.gates import gates

    with transaction() as session:
        order = make_order(session)
        order.client_selection = True
        [item_id] = make_items(session, order, 1, stage="cull_grade")
        item = work.items_by_id(session, [item_id])[0]
        move_item(session, item, WorkStatus.CLAIMED, actor=work.AUTO_WORKER)
        move_item(session, item, WorkStatus.SUBMITTED, actor=work.AUTO_WORKER, output_path="/g.tif",
                  output_sha256="0" * 64)
        order_id = order.id
    gate = gates()[CLIENT_SELECTION]
    decision = SelectionDecision(approve_all=False, favourites=[Favourite(photo="IMG_00000.CR3")])

    def send(session) -> object:  # noqa: ANN001
        return gate.apply_in(session, order_id, decision)
    first, second = beside(send, send)
    assert first.favourites == ("IMG_00000.CR3",)
    assert isinstance(second, DecisionError) and "waiting" in str(second), repr(second)

