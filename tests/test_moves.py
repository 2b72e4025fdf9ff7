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


# --- moves in few statements, on SQLite and PostgreSQL --------------------------------------------------------------
from tests.pg import postgres_url  # noqa: E402,F401  (the session's PostgreSQL)
from tests.test_queue import record  # noqa: E402,F401  (the fixture: an empty record on SQLite or PostgreSQL)


def _statements(engine):  # noqa: ANN202
    """A list that collects the SQL statements ``engine`` runs while it is in use."""
    from contextlib import contextmanager

    from sqlalchemy import event

    @contextmanager
    def counting():
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2].split()[0])  # noqa: E731 - (conn, cursor, statement, ...)
        event.listen(engine, "before_cursor_execute", listener)
        try:
            yield seen
        finally:
            event.remove(engine, "before_cursor_execute", listener)
    return counting()


def _order_photos(session, count: int) -> list[Photo]:
    order = work.create_order(session, client="Test", shoot=ShootType.PORTRAIT, preset_name="neutral",
                              preset_version=1, preset_hash="x", preset_json="{}", due=None, card_folder="/card")
    return [work.add_photo(session, Photo(order_id=order.id, source_name=f"DSC_{i:04d}.dng", sha256=f"{i:064d}",
                                          size_bytes=1, status=PhotoStatus.INGESTED, original_path=f"/DSC_{i:04d}.dng"),
                           first_stage="cull_grade") for i in range(count)]


def test_a_fused_pass_is_recorded_as_its_separate_moves_in_a_handful_of_statements(record):
    """record_pass writes what claiming and submitting each later stage would, and queues the next stage, in the
    same few statements whatever the number of stages (a 1,000-photo order makes it a thousand times)."""
    from record.db import get_engine

    stages = ["cull_grade", "liquify_skin", "fine_retouch", "design_layout"]
    with transaction() as session:
        photo = _order_photos(session, 1)[0]
        item = work.claim_queued(session, work.items_in(session, photo.order_id, "cull_grade")[0].id)
        done = [moves.StageDone(stage=s, output_path=f"/work/{s}.tif", output_sha256=s[0] * 64, seconds=1.0 + i)
                for i, s in enumerate(stages)]
        with _statements(get_engine()) as seen:
            moves.record_pass(session, item, done, actor=work.AUTO_WORKER, input_path="/DSC_0000.dng",
                              lease_expires_at=item.lease_expires_at, then="qc_gate", then_input="/work/design.tif")
        assert item.status is WorkStatus.SUBMITTED and item.output_path == "/work/cull_grade.tif"
    # the first move (its UPDATE, which returns the row, and its event), the new items, their events
    assert seen == ["UPDATE", "INSERT", "INSERT", "INSERT"]
    with transaction() as session:
        items = {i.stage: i for i in session.exec(select(WorkItem).where(WorkItem.photo_id == photo.id)).all()}
        events = session.exec(select(StageEvent).where(StageEvent.photo_id == photo.id)
                              .order_by(StageEvent.id)).all()
    assert {s: (i.status, i.output_path, i.claimed_by) for s, i in items.items()} == {
        "cull_grade": (WorkStatus.SUBMITTED, "/work/cull_grade.tif", work.AUTO_WORKER),
        "liquify_skin": (WorkStatus.SUBMITTED, "/work/liquify_skin.tif", work.AUTO_WORKER),
        "fine_retouch": (WorkStatus.SUBMITTED, "/work/fine_retouch.tif", work.AUTO_WORKER),
        "design_layout": (WorkStatus.SUBMITTED, "/work/design_layout.tif", work.AUTO_WORKER),
        "qc_gate": (WorkStatus.QUEUED, None, None)}
    assert items["qc_gate"].input_path == "/work/design.tif"
    assert items["qc_gate"].queue_rank == items["cull_grade"].queue_rank is not None
    stage_of = {i.id: s for s, i in items.items()}
    by_item: dict[str, list] = {}
    for e in events:
        if e.work_item_id is not None:
            by_item.setdefault(stage_of[e.work_item_id], []).append((e.kind.value, e.seconds))
    assert by_item == {
        "cull_grade": [("enqueued", None), ("claimed", by_item["cull_grade"][1][1]), ("submitted", 1.0)],  # its wait:
        "liquify_skin": [("enqueued", None), ("claimed", 0.0), ("submitted", 2.0)],
        "fine_retouch": [("enqueued", None), ("claimed", 0.0), ("submitted", 3.0)],
        "design_layout": [("enqueued", None), ("claimed", 0.0), ("submitted", 4.0)],
        "qc_gate": [("enqueued", None)]}
    assert 0.0 <= by_item["cull_grade"][1][1] < 60      # the first stage's claim carries its queue wait


def test_a_pass_of_an_item_from_before_queue_ranks_queues_the_next_stage_in_its_orders_place(record):
    """Items recorded before queue ranks have none; the items a pass makes get the order's, as every new item."""
    from sqlmodel import update

    from record.models import queue_rank

    with transaction() as session:
        photo = _order_photos(session, 1)[0]
        order = work.get_order(session, photo.order_id)
        order.rush = True
        session.add(order)
        first = work.items_in(session, photo.order_id, "cull_grade")[0]
        session.execute(update(WorkItem.__table__).where(WorkItem.id == first.id).values(queue_rank=None))
    with transaction() as session:
        item = work.claim_queued(session, first.id)
        assert item.queue_rank is None
        done = [moves.StageDone(stage=s, output_path=f"/work/{s}.tif", output_sha256="0" * 64, seconds=1.0)
                for s in ("cull_grade", "liquify_skin")]
        moves.record_pass(session, item, done, actor=work.AUTO_WORKER, input_path="/DSC_0000.dng",
                          lease_expires_at=item.lease_expires_at, then="qc_gate", then_input="/work/liquify_skin.tif")
    with transaction() as session:
        ranks = {i.stage: i.queue_rank for i in session.exec(select(WorkItem).where(WorkItem.photo_id == photo.id))}
    assert ranks == {"cull_grade": None, "liquify_skin": queue_rank(True, None), "qc_gate": queue_rank(True, None)}


def test_a_move_of_a_row_another_session_holds_is_refused_and_changes_nothing(record):
    from sqlalchemy.exc import InvalidRequestError

    with transaction() as session:
        item = work.items_in(session, _order_photos(session, 1)[0].order_id, "cull_grade")[0]
    with transaction() as session, pytest.raises(InvalidRequestError, match="not persistent within this Session"):
        moves.move_item(session, item, WorkStatus.CLAIMED, actor="ana")    # read in the session before
    with transaction() as session:
        assert session.get(WorkItem, item.id).status is WorkStatus.QUEUED


def test_a_move_returns_the_row_as_it_is_now_without_reading_it_again(record):
    from record.db import get_engine

    with transaction() as session:
        item = work.items_in(session, _order_photos(session, 1)[0].order_id, "cull_grade")[0]
        with _statements(get_engine()) as seen:
            moves.move_item(session, item, WorkStatus.CLAIMED, actor="ana")
        # the guarded UPDATE returns the row; the first claim reads when it was queued; its event
        assert seen == ["UPDATE", "SELECT", "INSERT"]
        assert (item.status, item.claimed_by, item.attempt) == (WorkStatus.CLAIMED, "ana", 1)
        assert item.lease_expires_at is None and item.updated_at > item.created_at
        moves.move_item(session, item, WorkStatus.QUEUED, actor="ana", reason="back")
        moves.move_item(session, item, WorkStatus.CLAIMED, actor="bob")
        assert (item.claimed_by, item.attempt, item.reason) == ("bob", 2, None)
    with transaction() as session:
        again = session.get(WorkItem, item.id)
        assert (again.status, again.claimed_by, again.attempt) == (WorkStatus.CLAIMED, "bob", 2)


def test_a_rejection_written_with_other_events_keeps_its_reason_codes_and_their_order(record):
    from record.models import StageEventReason

    with transaction() as session:
        photo = _order_photos(session, 1)[0]
        base = {"order_id": photo.order_id, "photo_id": photo.id, "stage": "qc_gate", "actor": "qc"}
        moves.write_events(session, [moves.event_row(**base, kind=EventKind.CLAIMED),
                                     moves.event_row(**base, kind=EventKind.REJECTED,
                                                     reason="[clipped,colour_cast] DSC_0000.dng too hot"),
                                     moves.event_row(**base, kind=EventKind.REJECTED, reason="no codes here"),
                                     moves.event_row(**base, kind=EventKind.PASSED)])
    with transaction() as session:
        events = session.exec(select(StageEvent).where(StageEvent.photo_id == photo.id, StageEvent.stage == "qc_gate")
                              .order_by(StageEvent.id)).all()
        assert [e.kind for e in events] == [EventKind.CLAIMED, EventKind.REJECTED, EventKind.REJECTED,
                                            EventKind.PASSED]
        codes = session.exec(select(StageEventReason.event_id, StageEventReason.code)).all()
        assert sorted(codes) == [(events[1].id, "clipped"), (events[1].id, "colour_cast")]


def test_a_card_file_rejected_at_ingest_gets_no_reason_codes_from_its_name(record):
    """An ingest rejection's reason starts with the file's name: a name in brackets is not a reason code."""
    from record.models import StageEventReason

    with transaction() as session:
        order_id = _order_photos(session, 1)[0].order_id
        name = "[2024] Smith/notes.txt"
        work.add_photo(session, Photo(order_id=order_id, source_name=name, sha256="f" * 64, size_bytes=1,
                                      status=PhotoStatus.REJECTED, reason=f"{name}: not a photo",
                                      original_path="/x"), first_stage="cull_grade")
    with transaction() as session:
        assert session.exec(select(StageEvent.reason).where(StageEvent.kind == EventKind.REJECTED)).all() \
            == [f"{name}: not a photo"]
        assert session.exec(select(StageEventReason)).all() == []


def test_a_whole_order_is_marked_delivered_in_a_few_statements_or_not_at_all(record, monkeypatch):
    from sqlmodel import update

    from record.db import get_engine

    monkeypatch.setattr(moves, "PHOTOS_PER_STATEMENT", 4)      # 10 photos: three statements' worth of ids
    with transaction() as session:
        photos = _order_photos(session, 10)
        order_id, ids = photos[0].order_id, [p.id for p in photos]
        session.execute(update(Photo).where(Photo.order_id == order_id).values(status=PhotoStatus.PASSED))
    with transaction() as session:
        passed = work.photos(session, order_id, PhotoStatus.PASSED)
        with _statements(get_engine()) as seen:
            moves.move_photos(session, passed, PhotoStatus.DELIVERED, stage="delivery", actor="postline",
                              reason="in /delivery")
        assert seen == ["UPDATE", "UPDATE", "UPDATE", "INSERT"]
        assert {p.status for p in passed} == {PhotoStatus.DELIVERED}
    with transaction() as session:
        assert {p.status for p in work.photos(session, order_id)} == {PhotoStatus.DELIVERED}
        delivered = session.exec(select(StageEvent.photo_id).where(StageEvent.kind == EventKind.DELIVERED,
                                                                   StageEvent.reason == "in /delivery")).all()
        assert sorted(delivered) == ids
        session.execute(update(Photo).where(Photo.order_id == order_id).values(status=PhotoStatus.PASSED))
    # one photo moved by somebody else since they were read: none is marked, the transaction rolls back
    with pytest.raises(moves.StaleMove, match=r"1 photo\(s\) \(DSC_0006.dng\) were no longer passed"):
        with transaction() as session:
            passed = work.photos(session, order_id, PhotoStatus.PASSED)
            session.execute(update(Photo.__table__).where(Photo.id == ids[6]).values(status=PhotoStatus.HELD))
            moves.move_photos(session, passed, PhotoStatus.DELIVERED, stage="delivery", actor="postline")
    with transaction() as session:
        assert {p.status for p in work.photos(session, order_id)} == {PhotoStatus.PASSED}
        assert session.exec(select(StageEvent).where(StageEvent.order_id == order_id,
                                                     StageEvent.kind == EventKind.DELIVERED)).all() \
            and len(session.exec(select(StageEvent).where(StageEvent.order_id == order_id,
                                                          StageEvent.kind == EventKind.DELIVERED)).all()) == 10
