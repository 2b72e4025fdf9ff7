"""Transient is not permanent: a disk that fills up (a real small tmpfs, POSTLINE_HOME on it, the production
record elsewhere) stops the run with a message saying where and what to free, and marks no photo; once
space is freed, the order completes with every photo delivered exactly once. A disk freed while Prefect waits
to retry a batch is simply retried. A disk that fills while the delivery is packed marks no photo delivered
and leaves no package. A run that delivers nothing exits 1 and writes no package."""

from __future__ import annotations

import errno
import os
import re
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from record import work
from record.db import transaction
from record.models import EventKind, OrderStatus, PhotoStatus, WorkItem, WorkStatus
from tasks.synthetic import DngMeta, render_scene, write_card, write_dng
from tests.flowkit import Delivery, cli, delivered_once

PHOTOS = 6
MB = 1 << 20


@pytest.fixture
def small_disk(tmp_path):
    """A real 96 MB file system (tmpfs: an order of 8 photos, its package and its download ZIP fit) mounted by
    the test, unmounted after it."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or mounted.returncode}): the full-disk "
                    "tests need root (or CAP_SYS_ADMIN)")
    yield disk
    if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(disk)], check=True)


@pytest.fixture
def on_small_disk(small_disk, tmp_path, prefect_api, monkeypatch):
    """POSTLINE_HOME on the small disk, the production record (SQLite) and the card elsewhere."""
    from config.settings import get_settings

    record = tmp_path / "record" / "postline.db"
    record.parent.mkdir()
    monkeypatch.setenv("POSTLINE_HOME", str(small_disk / "home"))
    monkeypatch.setenv("POSTLINE_DATABASE_URL", f"sqlite:///{record}")
    monkeypatch.setenv("POSTLINE_BATCH_SIZE", "2")
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    get_settings.cache_clear()
    card = write_card(tmp_path / "card", PHOTOS, size=(640, 480), names="IMG_{:04d}.dng", first_number=0)
    code, out = cli("order", "create", "--client", "Full Disk", "--shoot", "portrait", "--from", str(card),
                    "--no-selection")
    assert code == 0, out
    yield {"disk": small_disk, "record": record, "card": card, "order_id": int(out.strip().splitlines()[-1])}
    get_settings.cache_clear()


def _fill(disk: Path, leave: int) -> Path:
    """A filler file that leaves ``leave`` bytes free on ``disk``."""
    stats = os.statvfs(disk)
    filler = disk / "filler"
    with open(filler, "wb") as fh:
        fh.truncate(0)
        chunk = b"\0" * MB
        left = stats.f_bavail * stats.f_frsize - leave
        try:
            while left > 0:
                fh.write(chunk[:min(left, MB)])
                fh.flush()
                left -= MB
        except OSError as exc:  # something else took the last bytes meanwhile: full is full
            if exc.errno != errno.ENOSPC:
                raise
    return filler


def _once_recorded(record: Path, where: str, action, *, every: float) -> tuple[threading.Thread, threading.Event]:
    """A started thread that runs ``action()`` as soon as the SQLite record has a stage event ``where`` (looking,
    read-only, every ``every`` s for up to 300 s), and the event it sets once it has."""
    done = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with sqlite3.connect(f"file:{record}?mode=ro", uri=True, timeout=30) as conn:
                if conn.execute(f"SELECT count(*) FROM stage_events WHERE {where}").fetchone()[0]:
                    action()
                    done.set()
                    return
            time.sleep(every)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher, done


class _MostUsed(threading.Thread):
    """Samples the free space of ``disk`` every 10 ms while running: ``used`` is the most it went down by."""

    def __init__(self, disk: Path) -> None:
        super().__init__(daemon=True)
        self.disk, self.stop, self.used = disk, threading.Event(), 0
        self.start_free = self._free()

    def _free(self) -> int:
        stats = os.statvfs(self.disk)
        return stats.f_bavail * stats.f_frsize

    def run(self) -> None:
        while not self.stop.wait(0.01):
            self.used = max(self.used, self.start_free - self._free())

    def __enter__(self) -> "_MostUsed":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(timeout=5)


def _card_bytes(card: Path) -> int:
    return sum(p.stat().st_size for p in card.iterdir())


def _unfinished(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.name.startswith(".incoming-") or p.name.endswith(".tmp")]


def _assert_delivered_once(order_id: int, package: Path, card: Path) -> None:
    from presets.recipe import load_recipe

    delivery = Delivery(package)
    assert delivery.mismatches() == []
    per_photo = Counter(e["source_name"] for e in delivery.manifest["files"] if e.get("source_name"))
    renditions = len(load_recipe("portrait").renditions)
    assert per_photo == {p.name: renditions for p in card.iterdir()}      # every rendition of each, once
    assert delivery.manifest["not_delivered"] == []
    delivered_once(order_id, PHOTOS)


def test_a_full_disk_stops_the_run_and_after_freeing_space_the_order_completes(on_small_disk):
    disk, card, order_id = on_small_disk["disk"], on_small_disk["card"], on_small_disk["order_id"]
    home = disk / "home"
    filler = _fill(disk, leave=_card_bytes(card) + 4 * MB)   # room for the archive, not for the grading

    code, out = cli("order", "run", str(order_id))

    assert code == 1, out
    message = re.search(r"No space left on .*", out)
    assert message, out
    message = message.group(0)
    assert f"No space left on {disk} (POSTLINE_HOME/work, {home / 'work'}" in message
    assert f"run `postline order run {order_id}` again" in message
    free_mb = int(re.search(r"free at least (\d+) MB there", message).group(1))
    assert 1 <= free_mb <= filler.stat().st_size // MB          # freeing the filler is enough
    with transaction() as session:
        photos = work.photos(session, order_id)
        items = session.exec(select(WorkItem).where(WorkItem.order_id == order_id)).all()
        events = work.events(session, order_id)
    assert len(photos) == PHOTOS and {p.status for p in photos} == {PhotoStatus.INGESTED}
    assert all(p.reason is None for p in photos)
    assert not [e for e in events if e.kind in (EventKind.FAILED, EventKind.REJECTED)]
    assert not [i for i in items if i.status in (WorkStatus.CLAIMED, WorkStatus.FAILED)]
    stopped = [e for e in events if e.kind is EventKind.RELEASED and "No space left" in (e.reason or "")]
    assert stopped, "the photo being graded when the disk filled went back to the queue, with the reason"
    status = cli("status", str(order_id))[1]                        # and says why it stopped, not "see status"
    assert f"Stopped: No space left on {disk}" in status and f"`postline order run {order_id}` carries on" in status
    done = sum(1 for e in events if e.kind is EventKind.SUBMITTED)
    assert 0 < done < PHOTOS * 4, "the disk should fill mid-order"
    assert _unfinished(home) == [], "a failed write left its temporary file"
    assert not list(home.rglob("*.zip")), "a zip was written for an order that did not finish"

    # A run killed at the wrong moment would leave unfinished copies behind: the next run removes them.
    dead = 999_999
    order_folder = home / "archive" / "Full_Disk" / str(datetime.now(UTC).year) / f"order-{order_id}"
    leftovers = [order_folder / "originals" / f".incoming-{dead}-IMG_0000.dng",
                 home / "work" / f"order-{order_id}" / "cull_grade" / f".1-r1.tif.{dead}.tmp",
                 order_folder / f".delivery.{dead}.tmp" / "client.zip"]
    filler.unlink()                     # first: the full disk may not take even these few bytes
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")

    with _MostUsed(disk) as watched:
        code, out = cli("order", "run", str(order_id))

    assert code == 0, out
    # the advice was enough, and not far more than enough (the rest of the run took 14.7 MB: "free at least 41 MB"
    # when every stage was counted a 16-bit TIFF of its own, uncompressed)
    assert watched.used <= free_mb * MB <= 2 * watched.used, (free_mb, watched.used / MB)
    package = Path(out.strip().splitlines()[-1])
    assert package.is_dir() and package.parent == order_folder
    _assert_delivered_once(order_id, package, card)
    assert not any(path.exists() for path in leftovers)
    assert _unfinished(home) == []


def test_a_disk_freed_while_prefect_waits_to_retry_is_retried_and_the_batch_succeeds(on_small_disk):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName, TaskRunFilterStartTime

    disk, card, order_id = on_small_disk["disk"], on_small_disk["card"], on_small_disk["order_id"]
    filler = _fill(disk, leave=_card_bytes(card) + 4 * MB)
    started = datetime.now(UTC)
    watcher, freed = _once_recorded(on_small_disk["record"], "kind = 'released' AND reason LIKE '%No space left%'",
                                    filler.unlink, every=0.05)   # the studio frees space while Prefect waits to retry
    code, out = cli("order", "run", str(order_id))
    watcher.join(timeout=5)

    assert freed.is_set(), "the disk never filled: make the filler bigger"
    assert code == 0, out
    _assert_delivered_once(order_id, Path(out.strip().splitlines()[-1]), card)
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(task_run_filter=TaskRunFilter(
            name=TaskRunFilterName(like_="stage-batch"), start_time=TaskRunFilterStartTime(after_=started)))
        retried = [run for run in runs if run.run_count > 1]
        assert retried, "no stage batch was retried"
        for run in retried:
            states = [s.name for s in client.read_task_run_states(run.id)]
            assert "AwaitingRetry" in states and states[-1] == "Completed", states
    with transaction() as session:
        stopped = [e for e in work.events(session, order_id)
                   if e.kind is EventKind.RELEASED and "No space left" in (e.reason or "")]
    assert len(stopped) == len(retried)       # one photo put back per failed attempt, then done on the retry


def test_a_disk_that_fills_while_the_delivery_is_made_marks_no_photo_delivered_and_leaves_no_package(on_small_disk,
                                                                                                     monkeypatch):
    import tasks.deliver

    disk, card, order_id = on_small_disk["disk"], on_small_disk["card"], on_small_disk["order_id"]
    home = disk / "home"
    filled, lock, render = threading.Event(), threading.Lock(), tasks.deliver.render

    def fill_when_the_first_photo_is_rendered(*args, **kwargs):  # noqa: ANN002, ANN003
        with lock:                  # every photo passed QC by now; the disk fills as delivery begins to write
            if not filled.is_set():
                with sqlite3.connect(f"file:{on_small_disk['record']}?mode=ro", uri=True, timeout=30) as conn:
                    assert conn.execute("SELECT count(*) FROM photos WHERE status = 'passed'").fetchone()[0] == PHOTOS
                _fill(disk, leave=0)
                filled.set()
        return render(*args, **kwargs)

    monkeypatch.setattr(tasks.deliver, "render", fill_when_the_first_photo_is_rendered)
    code, out = cli("order", "run", str(order_id))

    assert filled.is_set()
    assert code == 1, out
    assert re.search(rf"No space left on {disk} .*free .* and run `postline order run {order_id}` again", out), out
    with transaction() as session:
        photos = work.photos(session, order_id)
        events = work.events(session, order_id)
        order = work.get_order(session, order_id)
    assert {p.status for p in photos} == {PhotoStatus.PASSED}, "a photo was marked delivered without a package"
    assert not [e for e in events if e.kind in (EventKind.DELIVERED, EventKind.FAILED, EventKind.REJECTED)]
    assert order.delivery_path is None
    assert not list((home / "archive").rglob("delivery*")) and not list(home.rglob("*.zip")), "a package was left"
    assert _unfinished(home) == []

    (disk / "filler").unlink()
    code, out = cli("order", "run", str(order_id))
    assert code == 0, out
    _assert_delivered_once(order_id, Path(out.strip().splitlines()[-1]), card)


def test_a_full_disk_under_the_production_record_stops_the_run_and_loses_nothing(small_disk, tmp_path, prefect_api,
                                                                                 monkeypatch):
    """The record (SQLite) on the small disk, the photos elsewhere: the disk fills while the order runs."""
    from config.settings import get_settings

    record = small_disk / "postline.db"
    monkeypatch.setenv("POSTLINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("POSTLINE_DATABASE_URL", f"sqlite:///{record}")
    monkeypatch.setenv("POSTLINE_BATCH_SIZE", "2")
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    get_settings.cache_clear()
    card = write_card(tmp_path / "card", PHOTOS, size=(640, 480), kinds=("portrait",), names="IMG_{:04d}.dng",
                      first_number=0)
    code, out = cli("order", "create", "--client", "Full Record", "--shoot", "portrait", "--from", str(card),
                    "--no-selection")
    order_id = int(out.strip().splitlines()[-1])
    watcher, filled = _once_recorded(record, "kind = 'submitted'", lambda: _fill(small_disk, leave=0), every=0.01)
    code, out = cli("order", "run", str(order_id))
    watcher.join(timeout=5)

    assert filled.is_set()
    assert code == 1, out
    assert f"The production record ({record}) is unavailable" in out, out
    assert f"run `postline order run {order_id}` again" in out
    (small_disk / "filler").unlink()
    with transaction() as session:
        photos = work.photos(session, order_id)
        assert {p.status for p in photos} == {PhotoStatus.INGESTED} and len(photos) == PHOTOS

    code, out = cli("order", "run", str(order_id))

    assert code == 0, out
    _assert_delivered_once(order_id, Path(out.strip().splitlines()[-1]), card)
    get_settings.cache_clear()


def test_a_card_of_only_broken_files_exits_1_says_nothing_was_delivered_and_writes_no_zip(
        home, tmp_path, prefect_api, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    card = tmp_path / "card"
    card.mkdir()
    good = write_dng(tmp_path / "good.dng", render_scene("portrait", 320, 240), DngMeta())
    (card / "truncated.dng").write_bytes(good.read_bytes()[:3000])
    (card / "empty.nef").write_bytes(b"")
    (card / "notes.txt").write_text("call the bride's mother\n")
    os.symlink(good, card / "linked.dng")
    code, out = cli("order", "create", "--client", "Broken", "--shoot", "portrait", "--from", str(card),
                    "--no-selection")
    assert code == 0, out
    order_id = int(out.strip().splitlines()[-1])

    code, out = cli("order", "run", str(order_id))

    assert code == 1
    assert f"Order {order_id}: nothing was delivered" in out and f"postline status {order_id}" in out
    assert not list(home.rglob("*.zip*")), "an empty zip was written as a delivery"
    assert not list((home / "archive").rglob("delivery*")), "an empty package was written as a delivery"
    with transaction() as session:
        order = work.get_order(session, order_id)
        assert order.status is OrderStatus.FAILED and order.delivery_path is None
        assert {p.status for p in work.photos(session, order_id)} == {PhotoStatus.REJECTED}


def test_errors_of_the_machine_are_told_apart_from_bad_files(small_disk, home):
    """Real failures, classified: a full disk, a read-only disk, a locked record; a corrupt file is none of them."""
    from sqlalchemy import create_engine, text

    from tasks.errors import NoPermission, OutOfSpace, PhotoError, RecordUnavailable, as_retryable

    def failure(action) -> BaseException:  # noqa: ANN001
        try:
            action()
        except BaseException as exc:  # noqa: BLE001
            return exc
        raise AssertionError("it did not fail")

    _fill(small_disk, leave=0)
    full = failure(lambda: (small_disk / "more").write_bytes(b"x" * MB))
    stop = as_retryable(full, order_id=7, folder=small_disk, needed=lambda: 3 * MB)
    assert isinstance(stop, OutOfSpace) and f"No space left on {small_disk}" in str(stop)
    assert "free at least 3 MB there" in str(stop) and "`postline order run 7` again" in str(stop)

    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        read_only = failure(lambda: (small_disk / "new").write_bytes(b"x"))
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    stop = as_retryable(read_only, order_id=7, folder=small_disk)
    assert isinstance(stop, NoPermission) and f"{small_disk} (" in str(stop) and "read-only" in str(stop)

    db = small_disk.parent / "other.db"
    holder = sqlite3.connect(db)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with create_engine(f"sqlite:///{db}", connect_args={"timeout": 0}).connect() as conn:
            locked = failure(lambda: conn.execute(text("SELECT * FROM t")).all())
    finally:
        holder.rollback()
        holder.close()
    stop = as_retryable(locked, order_id=7, folder=home)
    assert isinstance(stop, RecordUnavailable) and "database is locked" in str(stop)

    try:
        raise PhotoError("IMG_1.dng: not a readable RAW file")
    except PhotoError as bad:
        assert as_retryable(bad, order_id=7, folder=home) is None


@pytest.mark.parametrize(("code", "kind", "words"), [
    (errno.EDQUOT, "OutOfSpace", "Disk quota exceeded on"),
    (errno.EIO, "DiskError", "I/O error on"),
    (errno.EACCES, "NoPermission", "Permission denied on"),
    (errno.EPERM, "NoPermission", "Permission denied on"),
])
def test_quota_io_and_permission_errors_are_the_machines_even_under_a_photo_error(code, kind, words, home):
    """As a decoder reports them: the OSError wrapped in a PhotoError (tasks/pixels/decode.py does so)."""
    from tasks import errors

    folder = home / "work" / "order-3" / "cull_grade"
    try:
        try:
            raise OSError(code, os.strerror(code))
        except OSError as cause:
            raise errors.PhotoError("IMG_1.dng: LibRaw cannot decode this RAW file (OSError).") from cause
    except errors.PhotoError as exc:
        stop = errors.as_retryable(exc, order_id=3, folder=folder, needed=lambda: 0)
    assert type(stop).__name__ == kind and isinstance(stop, errors.Retryable)
    assert str(stop).startswith(words) and "(POSTLINE_HOME/work, " in str(stop)
    assert "`postline order run 3` again" in str(stop)


def test_when_the_record_cannot_take_the_stop_either_the_first_error_is_the_one_said(home, monkeypatch, caplog):
    """A full disk under the record stops a batch; putting the batch's photo back in the queue and marking the
    order stopped then fail on the same full record. Each raised its own error over the first (tracebacks on the
    terminal), and the order's status said `Stopped: OperationalError: database or disk is full`, naming no
    disk and nothing to do."""
    from tasks import runs, stages
    from tasks.errors import OutOfSpace

    full = sqlite3.OperationalError("database or disk is full")

    def refused(*args, **kwargs):  # noqa: ANN002, ANN003
        raise full

    reason = runs._stop_reason(7, full)
    assert reason.startswith(f"The production record ({home / 'postline.db'}) is unavailable"), reason
    assert "free space on" in reason and "`postline order run 7` again" in reason
    assert "OperationalError" not in reason
    assert runs._stop_reason(7, ValueError("a bug")) == "ValueError: a bug"          # anything else: named
    monkeypatch.setattr(runs, "end_order_run", refused)
    runs._end_failed(7, "a-run", failed=True, reason=reason)                      # one line, not raised
    assert "could not record that this run stopped (database or disk is full)" in caplog.text
    monkeypatch.setattr(stages, "release_held", refused)
    stages.give_back([1], OutOfSpace("No space left on /photos"))                   # the stop is what is raised
