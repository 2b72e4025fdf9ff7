"""The one module that changes statuses: allowed moves, guarded updates, events in the same transaction."""

from datetime import timedelta

import pytest
from sqlmodel import select

from record import moves, runs, work
from record.db import transaction
from record.models import EventKind, Photo, PhotoStatus, ShootType, StageEvent, WorkItem, WorkStatus


def _photo(session) -> Photo:
    order = work.create_order(session, client="Test", shoot=ShootType.PORTRAIT, preset_name="neutral",
                              preset_version=1, preset_hash="x", preset_json="{}", due=None, card_folder="/card")
    return work.add_photo(session, Photo(order_id=order.id, source_name="a.dng", sha256="0" * 64, size_bytes=1,
                                         status=PhotoStatus.INGESTED, original_path="/a.dng"), first_stage="cull_grade")


def test_enqueue_claim_submit_writes_one_event_each(home):
    with transaction() as session:
        photo = _photo(session)
        item = work.items_in(session, photo.order_id, "cull_grade")[0]
        moves.move_item(session, item, WorkStatus.CLAIMED, actor="ana")
        moves.move_item(session, item, WorkStatus.SUBMITTED, actor="ana", seconds=3.5)
    with transaction() as session:
        kinds = [e.kind for e in session.exec(select(StageEvent).where(StageEvent.work_item_id == item.id)
                                            .order_by(StageEvent.id)).all()]
        assert kinds == [EventKind.ENQUEUED, EventKind.CLAIMED, EventKind.SUBMITTED]
        assert session.get(WorkItem, item.id).status is WorkStatus.SUBMITTED


def test_a_move_not_in_the_table_is_refused(home):
    with transaction() as session:
        photo = _photo(session)
        item = work.items_in(session, photo.order_id, "cull_grade")[0]
        with pytest.raises(moves.IllegalMove, match="cannot go from queued to submitted"):
            moves.move_item(session, item, WorkStatus.SUBMITTED, actor="ana")


def test_a_second_claimer_of_the_same_item_gets_stale_move(home):
    with transaction() as session:
        item_id = work.items_in(session, _photo(session).order_id, "cull_grade")[0].id
    with transaction() as session:
        first_view = session.get(WorkItem, item_id)
    with transaction() as session:
        moves.move_item(session, session.get(WorkItem, item_id), WorkStatus.CLAIMED, actor="ana")
    with pytest.raises(moves.StaleMove):
        with transaction() as session:  # bob still believes it is queued
            moves.move_item(session, session.merge(first_view, load=False), WorkStatus.CLAIMED, actor="bob")
    with transaction() as session:
        item = session.get(WorkItem, item_id)
        claims = session.exec(select(StageEvent).where(StageEvent.work_item_id == item_id,
                                                       StageEvent.kind == EventKind.CLAIMED)).all()
        assert item.claimed_by == "ana" and len(claims) == 1


def test_an_event_is_lost_with_its_rolled_back_change(home):
    with transaction() as session:
        item_id = work.items_in(session, _photo(session).order_id, "cull_grade")[0].id
    with pytest.raises(RuntimeError):
        with transaction() as session:
            moves.move_item(session, session.get(WorkItem, item_id), WorkStatus.CLAIMED, actor="ana")
            raise RuntimeError("crash before commit")
    with transaction() as session:
        assert session.get(WorkItem, item_id).status is WorkStatus.QUEUED
        assert not session.exec(select(StageEvent).where(StageEvent.kind == EventKind.CLAIMED)).all()


def test_interrupted_automatic_claims_go_back_to_the_queue_by_the_run_holding_the_order_only(home):
    with transaction() as session:
        order_id = _photo(session).order_id
        item = work.items_in(session, order_id, "cull_grade")[0]
        work.claim_queued(session, item.id)
        assert runs.take(session, order_id, flow_run_id="run-2", name="second", owner="here",
                         lease=timedelta(minutes=1)) is None
    with transaction() as session, pytest.raises(runs.NotTheHolder, match="held by flow run 'second'"):
        work.release_interrupted(session, order_id, run="run-3")
    with transaction() as session:
        assert work.items_in(session, order_id, "cull_grade") == []        # still claimed
        assert work.release_interrupted(session, order_id, run="run-2") == 1
        assert [i.id for i in work.items_in(session, order_id, "cull_grade")] == [item.id]


def test_a_record_from_an_earlier_postline_gets_the_new_columns(home):
    """An installation upgraded in place keeps its orders: columns added since are added with their defaults."""
    import sqlite3

    from record.db import _engine_for, get_engine

    with transaction() as session:
        order_id = _photo(session).order_id
    db = home / "postline.db"
    get_engine().dispose()
    _engine_for.cache_clear()
    with sqlite3.connect(db) as conn:  # what an earlier version's record looked like
        conn.execute("ALTER TABLE orders DROP COLUMN revisions")
        conn.execute("ALTER TABLE orders DROP COLUMN calibration_json")
    with transaction() as session:
        order = work.get_order(session, order_id)
        assert order.revisions == 0 and order.calibration_json is None and order.client == "Test"
