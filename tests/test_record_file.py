"""The SQLite record holds password hashes: its file (and -wal, -shm) is readable by its owner only."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from config.settings import get_settings
from record import db
from record.db import get_engine, transaction
from surfaces.cli import main


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """The most permissive umask a lead's shell may have: the record's mode must not depend on it."""
    old = os.umask(0)
    yield
    os.umask(old)


def _wal_files(record: Path) -> list[Path]:
    return [record, record.with_name(record.name + "-wal"), record.with_name(record.name + "-shm")]


def test_a_new_record_and_its_wal_and_shm_are_0600(home, open_umask, capsys):
    assert main(["status"]) == 0 and "No orders yet" in capsys.readouterr().out
    record = home / "postline.db"
    with transaction() as session:                 # a write: SQLite has its -wal and -shm open now
        session.connection().exec_driver_sql("CREATE TABLE IF NOT EXISTS scratch (x INTEGER)")
    for file in _wal_files(record):
        assert file.exists(), file
        assert _mode(file) == 0o600, f"{file}: {oct(_mode(file))}"
    assert _mode(home) == 0o777     # the folder keeps the mode the umask gives (the studio's call): only the record is private


def test_a_record_elsewhere_is_0600_too(tmp_path, monkeypatch, open_umask):
    from config.settings import get_settings

    record = tmp_path / "records" / "studio.db"
    record.parent.mkdir()
    monkeypatch.setenv("POSTLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("POSTLINE_DATABASE_URL", f"sqlite:///{record}")
    get_settings.cache_clear()
    try:
        with transaction() as session:
            session.connection().exec_driver_sql("CREATE TABLE IF NOT EXISTS scratch (x INTEGER)")
        assert [_mode(f) for f in _wal_files(record)] == [0o600] * 3
    finally:
        get_engine().dispose()
        get_settings.cache_clear()


def test_an_old_world_readable_record_is_tightened_with_a_log_line(home, caplog):
    home.mkdir()
    record = home / "postline.db"
    old = os.umask(0o022)
    try:
        earlier = sqlite3.connect(record)          # what an earlier postline left: 0644, in WAL mode, still open
        earlier.execute("PRAGMA journal_mode=WAL")
        earlier.execute("CREATE TABLE old (x INTEGER)")
        earlier.commit()
    finally:
        os.umask(old)
    try:
        assert [_mode(f) for f in _wal_files(record)] == [0o644] * 3
        with caplog.at_level(logging.WARNING, logger="postline.record"):
            get_engine()
        assert [_mode(f) for f in _wal_files(record)] == [0o600] * 3
        said = [r.getMessage() for r in caplog.records if r.name == "postline.record"]
        assert len(said) == 3 and f"{record} was open to other users (mode 644)" in said[0]
        assert earlier.execute("SELECT count(*) FROM old").fetchone() == (0,)   # its data untouched, still readable
    finally:
        earlier.close()


def test_a_private_record_is_left_alone(home, caplog):
    home.mkdir()
    record = home / "postline.db"
    sqlite3.connect(record).close()
    os.chmod(record, 0o600)
    with caplog.at_level(logging.WARNING, logger="postline.record"):
        get_engine()
    assert _mode(record) == 0o600 and not [r for r in caplog.records if r.name == "postline.record"]


def test_an_in_memory_record_needs_no_file():
    assert db._sqlite_file("sqlite://") is None and db._sqlite_file("sqlite:///:memory:") is None
    assert db._sqlite_file("sqlite:////srv/postline/postline.db") == Path("/srv/postline/postline.db")


def _unreachable(url: str, monkeypatch) -> db.RecordUnreachable:  # noqa: ANN001
    """What opening the record at ``url`` (POSTLINE_DATABASE_URL) raises."""
    monkeypatch.setenv("POSTLINE_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        with pytest.raises(db.RecordUnreachable) as raised:
            get_engine()
    finally:
        get_settings.cache_clear()
    return raised.value


def test_a_file_that_is_not_a_record_is_neither_opened_up_nor_closed_down(home, monkeypatch, tmp_path):
    """POSTLINE_DATABASE_URL naming another file (sqlite:////etc/passwd, a typo) had postline make that file 0600
    "as it holds password hashes": /etc/passwd then unreadable to every other user, logins and services broken.
    A file that is not a SQLite record keeps its mode, and the command says the record cannot be opened."""
    from surfaces.cli.errors import message

    other = tmp_path / "passwd"
    other.write_text("root:x:0:0:root:/root:/bin/bash\n")
    os.chmod(other, 0o644)
    raised = _unreachable(f"sqlite:///{other}", monkeypatch)
    assert _mode(other) == 0o644 and other.read_text().startswith("root:x:")
    assert message(raised).startswith(f"cannot open the production record sqlite:///{other}: file is not a "
                                            "database. Check POSTLINE_DATABASE_URL")


@pytest.mark.parametrize("password", ["DBPASSWORD", "s3@cr3t"])
def test_a_record_server_that_does_not_answer_is_said_with_its_password_hidden(monkeypatch, password):
    said = str(_unreachable(f"postgresql://postline:{password}@127.0.0.1:1/postline", monkeypatch))
    assert "DBPASSWORD" not in said and "cr3t" not in said, said       # '@' in it: a parser reads part as the host
    assert said.startswith("cannot open the production record postgresql+psycopg://postline:***@127.0.0.1:1/postline: ")
    assert "a PostgreSQL server that runs and takes connections" in said


def test_a_migration_that_fails_is_not_said_to_be_an_unreachable_record(home, monkeypatch):
    """A migration's own failure (here: one that raises) is not "cannot open the production record ... check that
    the database server runs": the record was opened; the error is the migration's."""
    from sqlalchemy.exc import OperationalError

    def broken(engine):  # noqa: ANN001, ANN202
        raise OperationalError("ALTER TABLE work_items ADD COLUMN exposure_ev", {}, Exception("duplicate column"))

    monkeypatch.setattr(db, "upgrade", broken)
    get_settings.cache_clear()
    db._engine_for.cache_clear()
    with pytest.raises(db.RecordMigrationFailed) as raised:
        get_engine()
    db._engine_for.cache_clear()
    said = str(raised.value)
    assert "was opened, but bringing it to this postline's version (migration " in said and "duplicate column" in said
    assert "the record is as it was" in said and "cannot open" not in said
