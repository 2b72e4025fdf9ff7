"""The production record's schema comes from Alembic migrations (record/migrations): a new record, a record made
by postline at commit 75df531 (before migrations) and several processes opening one record at once, on SQLite and
PostgreSQL; and the models never drift from the migrations."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlmodel import Session, SQLModel, select

from record import schema
from record.db import get_engine
from record.models import EventKind, Order, OrderStatus, Person, Photo, PhotoStatus, StageEvent, WorkItem, WorkStatus
from tests.pg import new_database, postgres_url  # noqa: F401  (the session's PostgreSQL)

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_record(request, home) -> str:
    """The URL of a database with nothing in it (SQLite file or PostgreSQL database)."""
    if request.param == "sqlite":
        home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{home / 'record.db'}"
    return new_database(request.getfixturevalue("postgres_url"), "schema")


def differences(url: str) -> list:
    """What autogenerate would change to bring the database at ``url`` to the models: [] when they agree."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                    SQLModel.metadata)
    finally:
        engine.dispose()


def revision(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return schema.current(conn)
    finally:
        engine.dispose()


def test_the_migrations_make_the_schema_of_the_models(empty_record):
    """A schema change in record/models.py without its migration fails here (write one with
    `python -m record.schema new "what changed"`)."""
    get_engine(empty_record)
    assert revision(empty_record) == schema.head()
    assert differences(empty_record) == []


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def test_a_record_made_at_75df531_is_taken_over_and_keeps_its_rows(empty_record):
    """Built from that commit's tables (tests/data/record-75df531.*.sql), with an order, its photos, a work item, its
    events and a person in it: it opens at the newest schema, every row reads as before, and the columns added
    since hold their defaults."""
    dialect = "sqlite" if empty_record.startswith("sqlite") else "postgresql"
    old = create_engine(empty_record)
    stamp = "2026-03-01 10:00:00+00:00"
    with old.begin() as conn:
        for statement in _statements((DATA / f"record-75df531.{dialect}.sql").read_text()):
            conn.exec_driver_sql(statement)
        conn.execute(text(
            "INSERT INTO orders (id, client, shoot, preset, due, rush, card_folder, status, revisions, chart_photo, "
            "created_at, updated_at) VALUES (7, 'Anna & Ben', 'wedding', 'bright-wedding', '2026-03-20', true, '/card', "
            "'running', 1, 'DSC_0001.dng', :at, :at)"), {"at": stamp})
        conn.execute(text(
            "INSERT INTO photos (id, order_id, source_name, sha256, size_bytes, status, width, height, capture_time, "
            "created_at) VALUES (1, 7, 'DSC_0002.dng', :sha, 2048, 'ingested', 1200, 800, '2026-02-28 14:30:00', :at), "
            "(2, 7, 'DSC_0003.dng', :sha2, 1024, 'rejected', NULL, NULL, NULL, :at)"),
            {"sha": "a" * 64, "sha2": "b" * 64, "at": stamp})
        conn.execute(text(
            "INSERT INTO work_items (id, order_id, photo_id, stage, round, status, attempt, queue_rank, created_at, "
            "updated_at) VALUES (1, 7, 1, 'liquify_skin', 1, 'queued', 0, '0|2026-03-20', :at, :at)"), {"at": stamp})
        conn.execute(text(
            "INSERT INTO stage_events (order_id, photo_id, work_item_id, stage, round, kind, actor, at) VALUES "
            "(7, 1, NULL, 'ingest', 1, 'ingested', 'postline', :at), (7, 1, 1, 'liquify_skin', 1, 'enqueued', "
            "'postline', :at)"), {"at": stamp})
        conn.execute(text("INSERT INTO people (id, name, display_name, role, skills, created_at) VALUES "
                          "(1, 'rita', 'Rita', 'retoucher', 'liquify_skin', :at)"), {"at": stamp})
    old.dispose()
    assert revision(empty_record) is None                         # made before migrations

    engine = get_engine(empty_record)
    assert revision(empty_record) == schema.head()
    assert differences(empty_record) == []
    with Session(engine) as session:
        order = session.get(Order, 7)
        assert (order.client, order.status, order.rush, order.due, order.revisions, order.chart_photo) == (
            "Anna & Ben", OrderStatus.RUNNING, True, date(2026, 3, 20), 1, "DSC_0001.dng")
        assert order.created_at == datetime(2026, 3, 1, 10, tzinfo=UTC)
        assert (order.deliver_chart, order.calibration_note, order.line_json, order.run_flow_run_id) == (
            False, None, None, None)                              # added since 75df531, with their defaults
        photos = session.exec(select(Photo).order_by(Photo.id)).all()
        assert [(p.source_name, p.status, p.width, p.capture_time) for p in photos] == [
            ("DSC_0002.dng", PhotoStatus.INGESTED, 1200, datetime(2026, 2, 28, 14, 30)),
            ("DSC_0003.dng", PhotoStatus.REJECTED, None, None)]
        item = session.get(WorkItem, 1)
        assert (item.stage, item.status, item.queue_rank) == ("liquify_skin", WorkStatus.QUEUED, "0|2026-03-20")
        kinds = session.exec(select(StageEvent.kind).order_by(StageEvent.id)).all()
        assert kinds == [EventKind.INGESTED, EventKind.ENQUEUED]
        assert session.get(Person, 1).skills == "liquify_skin"
    assert "web_sessions" in inspect(engine).get_table_names()    # a table added since: created


OPEN_AT_ONCE = """
import sys, time
from pathlib import Path
from record.db import get_engine
go = Path(sys.argv[2])
Path(sys.argv[3]).touch()                         # imported: ready
while not go.exists():
    time.sleep(0.005)
get_engine(sys.argv[1])
print("opened")
"""


def test_several_processes_opening_a_new_record_at_once_all_open_it(empty_record, tmp_path):
    """Four processes start on the same new record together: one creates the tables, the others wait for it, and
    every one opens the record at the newest schema."""
    go, ready = tmp_path / "go", [tmp_path / f"ready-{i}" for i in range(4)]
    processes = [subprocess.Popen([sys.executable, "-c", OPEN_AT_ONCE, empty_record, str(go), str(flag)], cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for flag in ready]
    deadline = time.monotonic() + 120             # each has imported postline and waits at the line
    while not all(flag.exists() for flag in ready):
        assert time.monotonic() < deadline and all(p.poll() is None for p in processes), "a process did not start"
        time.sleep(0.05)
    go.touch()
    outcomes = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, [err[-2000:] for _, err in outcomes]
    assert [out.strip() for out, _ in outcomes] == ["opened"] * 4
    engine = create_engine(empty_record)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()
    assert revision(empty_record) == schema.head()
    assert differences(empty_record) == []


def test_a_new_sqlite_record_whose_write_lock_another_process_holds_is_opened_once_it_is_free(home):
    """The race the test above can lose, made certain: a new record file, still in SQLite's default mode, whose
    write lock another connection holds (as a process creating the tables does). SQLite refuses the switch to WAL
    at once, without its busy wait; postline tries again until the lock is free, then opens the record."""
    import sqlite3
    import threading

    home.mkdir(parents=True, exist_ok=True)
    path = home / "record.db"
    path.touch()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.5, lambda: holder.execute("COMMIT"))
    release.start()
    started = time.monotonic()
    engine = get_engine(f"sqlite:///{path}")
    release.join()
    assert time.monotonic() - started >= 0.4                     # it waited for the lock, then opened the record
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert "photos" in inspect(engine).get_table_names()
    holder.close()


def test_a_record_from_a_newer_postline_is_refused_with_what_to_do(empty_record):
    engine = create_engine(empty_record)
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))   # a revision this postline lacks
    engine.dispose()
    with pytest.raises(schema.RecordTooNew, match=rf"changed by a newer postline \(its schema is revision 9999; "
                                                  rf"this postline knows up to {schema.head()}\): run the newer"):
        get_engine(empty_record)
    assert revision(empty_record) == "9999"                   # left as it was
    code = subprocess.run([sys.executable, "-m", "surfaces.cli", "status"], capture_output=True, text=True,
                          env={**os.environ, "POSTLINE_DATABASE_URL": empty_record}, cwd=Path(__file__).parents[1])
    assert code.returncode == 1 and "changed by a newer postline" in code.stderr     # said, not a traceback
    assert "Traceback" not in code.stderr, code.stderr
