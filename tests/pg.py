"""A throwaway PostgreSQL cluster for tests and benchmarks: ``initdb`` in a temp folder, a free port, the unix
socket in that folder; stopped and removed afterwards.

    with postgres_cluster() as url:   # 'postgresql+psycopg://postgres@/postgres?host=/tmp/...&port=...'
        ...

Tests get it as a session fixture: ``from tests.pg import postgres_url  # noqa: F401``.
The binaries come from the Debian package ``postgresql`` (found under /usr/lib/postgresql/*/bin or on PATH).
As root, the server runs as the system user ``postline-test`` (created if missing): PostgreSQL refuses root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

TEST_USER = "postline-test"
INSTALL_HINT = ("PostgreSQL is not installed: the tests need its server binaries (initdb, pg_ctl). "
                "Install the Debian package: `apt-get update && apt-get install -y postgresql` "
                "(`make test` does this through tests/system-deps.sh).")


class PostgresMissing(RuntimeError):
    pass


def find_bin_dir() -> Path:
    """The folder holding initdb and pg_ctl, newest version first; :class:`PostgresMissing` if none."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
                        if Path(p).parent.name.isdigit() else 0, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for folder in candidates:
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    raise PostgresMissing(INSTALL_HINT)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_user() -> tuple[list[str], int | None, int | None]:
    """How to run the server's commands: as ourselves, or (as root) as TEST_USER via runuser."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        entry = pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
                       check=True, capture_output=True)
        entry = pwd.getpwnam(TEST_USER)
    return ["runuser", "-u", TEST_USER, "--"], entry.pw_uid, entry.pw_gid


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({' '.join(cmd)}):\n{done.stdout}\n{done.stderr}")


@contextmanager
def postgres_cluster(*, durable: bool = False) -> Iterator[str]:
    """Start a private PostgreSQL; yield its SQLAlchemy URL; stop and delete it. ``durable=False`` turns off
    fsync (tests); ``durable=True`` keeps PostgreSQL's default durability (benchmarks)."""
    bin_dir = find_bin_dir()
    prefix, uid, gid = _as_user()
    root = Path(tempfile.mkdtemp(prefix="postline-pg-"))
    if uid is not None:
        os.chown(root, uid, gid)
    data, port = root / "data", _free_port()
    settings = [f"port={port}", f"unix_socket_directories='{root}'", "listen_addresses='127.0.0.1'",
                "max_connections=200", "shared_buffers=64MB"]
    if not durable:
        settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
    options = " ".join(f"-c {s}" for s in settings)
    started = False
    try:
        _run(prefix + [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                       "-E", "UTF8", "--locale=C", "--no-sync"], "initdb")
        _run(prefix + [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"),
                       "-o", options, "-w", "-t", "60", "start"], "pg_ctl start")
        started = True
        yield f"postgresql+psycopg://postgres@/postgres?host={root}&port={port}"
    finally:
        if started:
            subprocess.run(prefix + [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL for the test session (fails, never skips, when PostgreSQL is not installed)."""
    try:
        find_bin_dir()
    except PostgresMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    with postgres_cluster() as url:
        yield url


def new_database(server_url: str, prefix: str = "db") -> str:
    """A new, empty database on the server of ``server_url`` (as :func:`postgres_cluster` gives it); its URL."""
    from sqlalchemy import create_engine

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return server_url.replace("/postgres?", f"/{name}?")


def use_empty_record(url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point postline's production record at PostgreSQL ``url`` (POSTLINE_DATABASE_URL) and empty every table of
    it, so that the test starts from nothing; the URL."""
    from sqlalchemy import text
    from sqlmodel import SQLModel

    from config.settings import get_settings
    from record.db import get_engine

    monkeypatch.setenv("POSTLINE_DATABASE_URL", url)
    get_settings.cache_clear()
    tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return url
