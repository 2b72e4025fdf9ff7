"""The one module that changes statuses: allowed moves, guarded updates, events in the same transaction."""

from datetime import timedelta

import pytest
from sqlmodel import select

from record import moves, runs, work
from record.db import transaction
from record.models import ORDER, EventKind, OrderStatus, Photo, PhotoStatus, ShootType, StageEvent, WorkItem, WorkStatus


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

    from alembic import command

    from record import schema
    from record.db import _engine_for, get_engine

    with transaction() as session:
        order_id = _photo(session).order_id
    db = home / "postline.db"
    engine = get_engine()
    with engine.begin() as conn:                         # back to the schema of the baseline revision
        command.downgrade(schema.alembic_config(conn), "0001")
    engine.dispose()
    _engine_for.cache_clear()
    with sqlite3.connect(db) as conn:  # what an earlier version's record looked like
        conn.execute("ALTER TABLE orders DROP COLUMN revisions")
        conn.execute("ALTER TABLE orders DROP COLUMN calibration_json")
        conn.execute("DROP TABLE alembic_version")          # it kept no schema revision either
    with transaction() as session:
        order = work.get_order(session, order_id)
        assert order.revisions == 0 and order.calibration_json is None and order.client == "Test"


def _order_events(order_id: int) -> list[tuple[str, str, str | None]]:
    with transaction() as session:
        return [(e.kind.value, e.actor, e.reason) for e in session.exec(
            select(StageEvent).where(StageEvent.order_id == order_id, StageEvent.stage == ORDER)
            .order_by(StageEvent.id)).all()]


def test_every_order_move_writes_one_event_of_the_order(home):
    with transaction() as session:
        order_id = _photo(session).order_id
        assert runs.take(session, order_id, flow_run_id="run-1", name="first", owner="here",
                         lease=timedelta(minutes=1)) is None
    with transaction() as session:
        order = work.get_order(session, order_id)
        moves.move_order(session, order, OrderStatus.RUNNING, run="run-1", reason="run 'first' started")
        moves.move_order(session, order, OrderStatus.DELIVERED, run="run-1", delivery_path="/zip")
        runs.clear(session, order_id, flow_run_id="run-1")
        moves.move_order(session, order, OrderStatus.REVISION, run=None, actor="anna", reason="client revision 1")
    assert _order_events(order_id) == [("order_running", "run-1", "run 'first' started"),
                                       ("order_delivered", "run-1", None),
                                       ("order_revision", "anna", "client revision 1")]
    with transaction() as session:
        assert work.get_order(session, order_id).status is OrderStatus.REVISION
        photo_events = session.exec(select(StageEvent).where(StageEvent.order_id == order_id,
                                                             StageEvent.photo_id.is_(None))).all()
        assert {e.stage for e in photo_events} == {ORDER}       # the order's events name no photo


def test_a_refused_order_move_writes_no_event_and_a_rolled_back_one_loses_its_event(home):
    with transaction() as session:
        order_id = _photo(session).order_id
        assert runs.take(session, order_id, flow_run_id="run-1", name="first", owner="here",
                         lease=timedelta(minutes=1)) is None
    with transaction() as session, pytest.raises(moves.IllegalMove, match="cannot go from created to delivered"):
        moves.move_order(session, work.get_order(session, order_id), OrderStatus.DELIVERED, run="run-1")
    with transaction() as session, pytest.raises(moves.StaleMove, match="another run holds it"):
        moves.move_order(session, work.get_order(session, order_id), OrderStatus.RUNNING, run="run-2")
    with pytest.raises(RuntimeError), transaction() as session:
        moves.move_order(session, work.get_order(session, order_id), OrderStatus.RUNNING, run="run-1")
        raise RuntimeError("crash before commit")
    assert _order_events(order_id) == []
    with transaction() as session:
        assert work.get_order(session, order_id).status is OrderStatus.CREATED


def test_a_client_revision_and_a_qc_send_back_make_a_new_round_from_the_stages_last_input(home):
    """'Send back as a new round' is one record function (record.rounds): the QC lead's, the automatic gate's
    and a client revision's new rounds start from what that stage started from last time."""
    from record import rounds
    from record.models import QC_GATE

    with transaction() as session:
        photo = _photo(session)
        first = work.items_in(session, photo.order_id, "cull_grade")[0]
        moves.move_item(session, first, WorkStatus.CLAIMED, actor="postline-auto")
        moves.move_item(session, first, WorkStatus.SUBMITTED, actor="postline-auto", output_path="/graded.tif")
        gate = moves.enqueue(session, order_id=photo.order_id, photo_id=photo.id, stage=QC_GATE, round=1,
                             input_path="/graded.tif", actor="postline-auto")
        moves.move_item(session, gate, WorkStatus.CLAIMED, actor="postline-auto")
        again = rounds.send_back(session, gate, stage="cull_grade", actor="maria", reason="[exposure] a.dng")
        assert (again.stage, again.round, again.input_path) == ("cull_grade", 2, "/a.dng")
        assert again.reason == "sent back by QC: [exposure] a.dng"
        rejected = session.exec(select(StageEvent).where(StageEvent.work_item_id == gate.id,
                                                         StageEvent.kind == EventKind.REJECTED)).one()
        assert (rejected.blamed_stage, rejected.actor) == ("cull_grade", "maria")
        photo = session.get(Photo, photo.id)
        photo.status = PhotoStatus.DELIVERED          # as if it had gone through round 2 and been delivered
        session.add(photo)
        order = work.get_order(session, photo.order_id)
        moves.move_order(session, order, OrderStatus.RUNNING, run=None)
        moves.move_order(session, order, OrderStatus.DELIVERED, run=None)
    with transaction() as session:
        assert rounds.request_revision(session, order_id=photo.order_id, requests=[("a.dng", "cull_grade", "warmer")],
                                       stages=["cull_grade"], actor="anna") == 1
        third = work.items_in(session, photo.order_id, "cull_grade")[-1]
        assert (third.round, third.input_path, third.reason) == (3, "/a.dng", "client revision 1: warmer")
        assert session.get(Photo, photo.id).status is PhotoStatus.INGESTED
    assert _order_events(photo.order_id)[-1] == ("order_revision", "anna", "client revision 1: 1 photo(s) back in the line")
